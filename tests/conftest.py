"""Shared fixtures of the spikeloom test suite."""

from __future__ import annotations

import numpy as np
import pytest
import spikeloom as sl

#: The Yin-Yang recipe's time unit (tau_syn = tau_mem), seconds.
TAU = 5e-3


@pytest.fixture(scope="session")
def yinyang():
    """The standard Yin-Yang splits (generated once per session)."""
    return sl.datasets.yin_yang()


@pytest.fixture(scope="session")
def yinyang_encoded(yinyang):
    """(encoder, train, validation, test) with features encoded as input spike times."""
    enc = sl.LinearLatency.goltz(TAU)
    return enc, yinyang.train.encode(enc), yinyang.validation.encode(enc), yinyang.test.encode(enc)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small_net():
    """A small network with an encoder and a non-default neuron (tau_mem = 2 tau_syn, v_th != 1)."""
    return sl.TTFSNetwork(
        [4, 7, 3],
        neuron=sl.LIF(tau_mem=2 * TAU, tau_syn=TAU, v_th=0.8),
        seed=3,
        encoder=sl.LinearLatency.goltz(TAU),
    )

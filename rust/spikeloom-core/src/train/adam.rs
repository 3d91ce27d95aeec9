//! Adam (Kingma & Ba 2015) with PyTorch's conventions: eps added outside the square root.

/// Adam state for one flat parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    step: i32,
}

impl Adam {
    pub fn new(n: usize, beta1: f64, beta2: f64, eps: f64) -> Self {
        Adam {
            beta1,
            beta2,
            eps,
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
        }
    }

    /// One update of `params` (any number of slices, concatenated in order) with gradient `grad`.
    pub fn step<'a>(
        &mut self,
        lr: f64,
        grad: &[f64],
        params: impl IntoIterator<Item = &'a mut [f64]>,
    ) {
        self.step += 1;
        let c1 = 1.0 - self.beta1.powi(self.step);
        let c2 = 1.0 - self.beta2.powi(self.step);
        let mut i = 0;
        for slice in params {
            for p in slice.iter_mut() {
                let g = grad[i];
                self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g;
                self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g;
                *p -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + self.eps);
                i += 1;
            }
        }
    }
}

use spikeloom_core::force::{Gain, Precision, Rls};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(2000);
    let prec = if args.get(2).map(|s| s == "f32").unwrap_or(false) { Precision::F32 } else { Precision::F64 };
    let par = args.get(3).map(|s| s == "par").unwrap_or(false);
    let mut rls = Rls::with_precision(n, 1, 2e5, Gain::Exact, prec).unwrap();
    let mut r: Vec<f64> = (0..n).map(|i| ((i * 7919) % 113) as f64 / 5.0).collect();
    let mut best = f64::INFINITY;
    let mut tot = 0.0;
    for rep in 0..60 {
        for x in r.iter_mut() { *x = (*x * 1.37 + 0.1) % 30.0; }
        let t = Instant::now();
        rls.update(&r, &[0.1], par);
        let e = t.elapsed().as_secs_f64();
        if rep >= 10 { best = best.min(e); tot += e; }
    }
    println!("n={n} {:?} par={par}: best {:.3} ms, mean {:.3} ms per update", prec, best * 1e3, tot / 50.0 * 1e3);
}

//! Routes a batch of two sequences with each policy and prints the
//! per-expert loads and per-token expert counts.
//!
//! Run with: `USMOE_LIB_DIR=<build dir> cargo run --example route_batch`.
use usmoe::{GateNorm, Plan, Policy, Router, RouterConfig};

/// A small deterministic pseudo-random generator (no dependencies).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn main() -> Result<(), usmoe::Error> {
    let (n, d) = (8usize, 32usize);
    let groups = [10i64, 6]; // two sequences, T = 16
    let t: usize = groups.iter().sum::<i64>() as usize;
    let mut rng = Lcg(42);
    let w: Vec<f32> = (0..n * d).map(|_| rng.next()).collect();
    let x: Vec<f32> = (0..t * d).map(|_| rng.next()).collect();
    let mut valid = vec![1u8; t];
    valid[t - 1] = 0; // the last token of the second sequence is padding

    println!(
        "usmoe {} (SIMD target {})",
        usmoe::version(),
        usmoe::simd_target_name()?
    );
    println!("T = {t} tokens in groups {groups:?}, N = {n} experts, d = {d}");
    let mut plan = Plan::new()?;
    for (policy, k) in [
        (Policy::TokenChoice, 2.0),
        (Policy::ExpertChoice, 2.0),
        (Policy::Unified, 1.5),
    ] {
        let cfg = RouterConfig::new(policy, n, d)
            .k(k)
            .gate_norm(GateNorm::Selected);
        let router = Router::new(&cfg, &w)?;
        router.route(&x, Some(&groups), Some(&valid), &mut plan)?;
        println!("{policy:?} (k = {k}): {} cells", plan.num_selected());
        println!("  expert loads: {:?}", plan.expert_loads());
        println!("  token counts: {:?}", plan.token_counts());
    }
    Ok(())
}

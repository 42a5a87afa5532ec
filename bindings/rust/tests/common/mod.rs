//! Shared helpers of the integration tests.
#![allow(dead_code)]

/// The golden logits of DESIGN.md §1 (T = 4, N = 4); with W = I (d = N) they
/// are also X.
pub const GOLDEN_X: [f32; 16] = [
    2.0, 0.1, -1.0, 0.5, //
    -0.3, 0.2, 0.1, 0.0, //
    1.5, 1.4, 1.3, -2.0, //
    0.0, -0.5, 0.9, 1.1,
];

/// The golden unified scores (α = 0.5, f_e = sigmoid·2/N).
pub const GOLDEN_U: [f32; 16] = [
    0.571697, 0.183818, 0.084735, 0.234044, //
    0.197457, 0.287604, 0.267102, 0.247929, //
    0.385963, 0.364837, 0.345115, 0.035284, //
    0.195718, 0.137278, 0.351676, 0.400015,
];

/// The N×N identity.
pub fn identity(n: usize) -> Vec<f32> {
    (0..n * n)
        .map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect()
}

/// A deterministic pseudo-random generator (no dependencies).
pub struct Lcg(pub u64);
impl Lcg {
    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// The experts of each token, from the plan's expert-grouped arrays.
pub fn per_token(plan: &usmoe::Plan) -> Vec<Vec<i64>> {
    let n = plan.num_experts();
    let m = plan.mask();
    (0..plan.num_tokens())
        .map(|t| (0..n).filter(|&e| m[t * n + e]).map(|e| e as i64).collect())
        .collect()
}

pub fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

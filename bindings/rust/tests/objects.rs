//! Unit tests per object: RouterConfig/Router, Plan, Experts, the kernels,
//! threads and version; plus a small oracle comparison on random inputs.
mod common;
use common::*;
use usmoe::{
    Activation, Backend, DType, ExpertScore, ExpertWeights, Experts, ExpertsConfig, GateNorm, Plan,
    Policy, Router, RouterConfig,
};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn handles_are_send_and_sync() {
    assert_send_sync::<Router>();
    assert_send_sync::<Experts>();
    assert_send_sync::<Plan>();
    assert_send_sync::<usmoe::Error>();
}

// ------------------------------------------------------------------ config

#[test]
fn rust_defaults_equal_usmoe_router_config_init() {
    for policy in [Policy::TokenChoice, Policy::ExpertChoice, Policy::Unified] {
        // SAFETY: valid out-pointer.
        let mut c: usmoe::sys::usmoe_router_config = unsafe { std::mem::zeroed() };
        let s = unsafe { usmoe::sys::usmoe_router_config_init(&mut c, policy.to_c()) };
        assert_eq!(s, 0);
        assert_eq!(
            c.struct_size as usize,
            std::mem::size_of::<usmoe::sys::usmoe_router_config>()
        );
        let rust = RouterConfig::new(policy, 0, 0);
        assert_eq!(rust.to_c().unwrap(), c, "{policy:?}");
        assert_eq!(RouterConfig::from_c(&c).unwrap(), rust);
    }
    // SAFETY: valid out-pointer.
    let mut e: usmoe::sys::usmoe_experts_config = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { usmoe::sys::usmoe_experts_config_init(&mut e) }, 0);
    assert_eq!(ExpertsConfig::new(0, 0, 0).to_c().unwrap(), e);
    // An unknown policy is the library's error.
    let mut c: usmoe::sys::usmoe_router_config = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { usmoe::sys::usmoe_router_config_init(&mut c, 9) },
        usmoe::sys::USMOE_STATUS_INVALID_ARGUMENT
    );
}

#[test]
fn enums_round_trip_through_c_values() {
    for p in [Policy::TokenChoice, Policy::ExpertChoice, Policy::Unified] {
        assert_eq!(Policy::from_c(p.to_c()), Some(p));
    }
    for g in [GateNorm::None, GateNorm::Selected, GateNorm::All] {
        assert_eq!(GateNorm::from_c(g.to_c()), Some(g));
    }
    for a in [
        Activation::SwiGlu,
        Activation::GeluTanh,
        Activation::GeluErf,
        Activation::Relu,
    ] {
        assert_eq!(Activation::from_c(a.to_c()), Some(a));
    }
    assert_eq!(ExpertScore::from_c(1), Some(ExpertScore::SoftmaxTokens));
    assert_eq!(DType::from_c(1), Some(DType::Bf16));
    for b in [Backend::Auto, Backend::Highway, Backend::OneDnn] {
        assert_eq!(Backend::from_c(b.to_c()), Some(b));
    }
    assert_eq!(Backend::from_c(3), None);
    assert_eq!(Policy::from_c(3), None);
    assert_eq!(Policy::Unified.to_c(), usmoe::sys::USMOE_POLICY_UNIFIED);
}

// ------------------------------------------------------------------ router

#[test]
fn router_reports_its_config() {
    let cfg = RouterConfig::new(Policy::ExpertChoice, 4, 4)
        .k(2.0)
        .capacity_factor(1.25)
        .expert_score(ExpertScore::SoftmaxTokens)
        .gate_norm(GateNorm::All)
        .keep_scores(true);
    let r = Router::new(&cfg, &identity(4)).unwrap();
    assert_eq!(r.config(), &cfg);
    assert_eq!((r.num_experts(), r.dim()), (4, 4));
    let c = r.c_config().unwrap();
    assert_eq!(RouterConfig::from_c(&c).unwrap(), cfg);
    assert!(format!("{r:?}").contains("ExpertChoice"));
}

#[test]
fn expert_choice_gives_each_expert_capacity_tokens() {
    // C = min(T, ceil(cf·k·T/N)) = ceil(1·2·4/4) = 2.
    let r = Router::new(
        &RouterConfig::new(Policy::ExpertChoice, 4, 4).k(2.0),
        &identity(4),
    )
    .unwrap();
    let plan = r.route_new(&GOLDEN_X, None, None).unwrap();
    assert_eq!(plan.expert_loads(), &[2, 2, 2, 2]);
    // Each expert takes the two tokens of highest softmax score in its column.
    let f = softmax_rows(&GOLDEN_X, 4, 4);
    for e in 0..4 {
        let (toks, w) = plan.expert(e);
        let mut col: Vec<(f32, usize)> = (0..4).map(|t| (f[t * 4 + e], t)).collect();
        col.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
        let mut want: Vec<i64> = col[..2].iter().map(|c| c.1 as i64).collect();
        want.sort();
        assert_eq!(toks, &want[..], "expert {e}");
        for (t, g) in toks.iter().zip(w) {
            assert!((g - f[*t as usize * 4 + e]).abs() < 1e-5);
        }
    }
}

#[test]
fn routers_are_usable_from_several_threads() {
    let mut rng = Lcg(7);
    let (n, d, t) = (16, 24, 64);
    let w = rng.vec(n * d, 1.0);
    let x = rng.vec(t * d, 1.0);
    let r = Router::new(&RouterConfig::new(Policy::Unified, n, d).k(2.5), &w).unwrap();
    let serial = r.route_new(&x, Some(&[40, 24]), None).unwrap();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut p = Plan::new().unwrap();
                    for _ in 0..5 {
                        r.route(&x, Some(&[40, 24]), None, &mut p).unwrap();
                    }
                    p
                })
            })
            .collect();
        for h in hs {
            let p = h.join().unwrap();
            assert_eq!(p.token_ids(), serial.token_ids());
            assert_eq!(p.weights(), serial.weights());
            assert_eq!(p.expert_offsets(), serial.expert_offsets());
        }
    });
}

// -------------------------------------------------------------------- plan

#[test]
fn empty_plan_has_empty_views() {
    let p = Plan::new().unwrap();
    assert_eq!(
        (p.num_tokens(), p.num_experts(), p.num_selected()),
        (0, 0, 0)
    );
    assert!(p.expert_offsets().is_empty());
    assert!(p.token_ids().is_empty() && p.weights().is_empty());
    assert!(p.token_counts().is_empty() && p.expert_loads().is_empty());
    assert!(p.scores().is_none() && p.token_view().is_none());
    assert!(p.mask().is_empty());
    assert!(format!("{p:?}").contains("num_tokens: 0"));
}

#[test]
fn plan_is_reused_and_resized_across_routes() {
    let r = Router::new(
        &RouterConfig::new(Policy::Unified, 4, 4).k(2.0),
        &identity(4),
    )
    .unwrap();
    let mut p = Plan::new().unwrap();
    r.route(&GOLDEN_X, None, None, &mut p).unwrap();
    assert_eq!(p.num_selected(), 8);
    assert!(p.scores().is_none() && p.token_view().is_none());
    r.route(&GOLDEN_X[..8], None, None, &mut p).unwrap();
    assert_eq!((p.num_tokens(), p.num_selected()), (2, 4));
    assert_eq!(p.token_counts().len(), 2);
    assert_eq!(p.mask().len(), 8);
    // Moving a plan to another thread is fine (Send).
    let moved = std::thread::spawn(move || p.num_selected()).join().unwrap();
    assert_eq!(moved, 4);
}

#[test]
fn plan_invariants_hold_on_random_batches() {
    let mut rng = Lcg(11);
    for (policy, k) in [
        (Policy::TokenChoice, 3.0),
        (Policy::ExpertChoice, 2.0),
        (Policy::Unified, 1.7),
    ] {
        let (n, d, t) = (8, 16, 50);
        let w = rng.vec(n * d, 1.0);
        let x = rng.vec(t * d, 1.0);
        let cfg = RouterConfig::new(policy, n, d)
            .k(k)
            .token_view(true)
            .keep_scores(true);
        let plan = Router::new(&cfg, &w)
            .unwrap()
            .route_new(&x, Some(&[20, 0, 30]), None)
            .unwrap();
        let off = plan.expert_offsets();
        assert_eq!(off.len(), n + 1);
        assert_eq!(off[0], 0);
        assert_eq!(off[n] as usize, plan.num_selected());
        for e in 0..n {
            assert_eq!(off[e + 1] - off[e], plan.expert_loads()[e]);
            let (toks, _) = plan.expert(e);
            assert!(
                toks.windows(2).all(|p| p[0] < p[1]),
                "{policy:?}: tokens ascending within expert {e}"
            );
        }
        let counts: i64 = plan.token_counts().iter().sum();
        assert_eq!(counts as usize, plan.num_selected());
        let tv = plan.token_view().unwrap();
        for tok in 0..t {
            let (ex, _) = tv.token(tok);
            assert_eq!(ex.len() as i64, plan.token_counts()[tok]);
            assert!(ex.windows(2).all(|p| p[0] < p[1]));
        }
        if policy == Policy::TokenChoice {
            assert!(plan.token_counts().iter().all(|&c| c == 3));
        }
        if policy == Policy::Unified {
            // c per group = floor(1.7·T_g + 0.5): 34 + 0 + 51.
            assert_eq!(plan.num_selected(), 34 + 51);
        }
        assert_eq!(plan.scores().unwrap().len(), t * n);
    }
}

fn softmax_rows(l: &[f32], t: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; t * n];
    for r in 0..t {
        let row = &l[r * n..(r + 1) * n];
        let m = row.iter().cloned().fold(f32::MIN, f32::max);
        let z: f64 = row.iter().map(|v| ((v - m) as f64).exp()).sum();
        for e in 0..n {
            out[r * n + e] = (((row[e] - m) as f64).exp() / z) as f32;
        }
    }
    out
}

/// Oracle: UNIFIED selection of one group = the c largest U cells, ties to
/// the lower flat index. Cases whose threshold is within 1e-5 of the next
/// cell are skipped (float differences may legitimately flip them).
#[test]
fn unified_matches_a_rust_oracle() {
    let mut rng = Lcg(2024);
    let mut checked = 0;
    for case in 0..20 {
        let (n, d, t) = (6 + case % 5, 8, 9 + case);
        let w = rng.vec(n * d, 1.0);
        let x = rng.vec(t * d, 1.0);
        let k = 1.0 + (case as f64) * 0.13;
        let r = Router::new(&RouterConfig::new(Policy::Unified, n, d).k(k), &w).unwrap();
        let plan = r.route_new(&x, None, None).unwrap();
        // Oracle scores.
        let mut l = vec![0.0f32; t * n];
        for i in 0..t {
            for e in 0..n {
                l[i * n + e] = (0..d)
                    .map(|j| x[i * d + j] as f64 * w[e * d + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        let f = softmax_rows(&l, t, n);
        let u: Vec<f32> = (0..t * n)
            .map(|i| 0.5 * f[i] + 0.5 * (2.0 / n as f32) / (1.0 + (-l[i]).exp()))
            .collect();
        let c = ((k * t as f64 + 0.5).floor() as usize).min(t * n);
        let mut order: Vec<usize> = (0..t * n).collect();
        order.sort_by(|&a, &b| u[b].partial_cmp(&u[a]).unwrap().then(a.cmp(&b)));
        if c < t * n && (u[order[c - 1]] - u[order[c]]).abs() < 1e-5 {
            continue;
        }
        let mut want = vec![false; t * n];
        for &i in &order[..c] {
            want[i] = true;
        }
        assert_eq!(plan.mask(), want, "case {case}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} cases checked");
}

// ----------------------------------------------------------------- experts

fn silu(z: f32) -> f32 {
    z / (1.0 + (-z).exp())
}

fn erf(x: f64) -> f64 {
    // Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
    let s = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    s * y
}

fn act(a: Activation, z: f32) -> f32 {
    match a {
        Activation::SwiGlu => silu(z),
        Activation::GeluTanh => {
            0.5 * z
                * (1.0
                    + ((2.0f32 / std::f32::consts::PI).sqrt() * (z + 0.044715 * z * z * z)).tanh())
        }
        Activation::GeluErf => (0.5 * z as f64 * (1.0 + erf(z as f64 / 2f64.sqrt()))) as f32,
        Activation::Relu => z.max(0.0),
    }
}

/// FFN_e(x) of expert e among `count`, weights w1/w3 count×f×d, w2 count×d×f.
fn ffn(a: Activation, w: &ExpertWeights<f32>, e: usize, f: usize, d: usize, x: &[f32]) -> Vec<f32> {
    let mut h = vec![0.0f32; f];
    for i in 0..f {
        let r1 = &w.w1[(e * f + i) * d..(e * f + i + 1) * d];
        let z: f32 = r1.iter().zip(x).map(|(a, b)| a * b).sum();
        h[i] = act(a, z);
        if let Some(w3) = w.w3 {
            let r3 = &w3[(e * f + i) * d..(e * f + i + 1) * d];
            h[i] *= r3.iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
        }
    }
    (0..d)
        .map(|j| {
            let r2 = &w.w2[(e * d + j) * f..(e * d + j + 1) * f];
            r2.iter().zip(&h).map(|(a, b)| a * b).sum()
        })
        .collect()
}

/// The backends this library has: Highway always, oneDNN unless creating
/// with it is `Unsupported`.
fn backends() -> Vec<Backend> {
    let w = [1.0f32];
    let cfg = ExpertsConfig::new(1, 1, 1).backend(Backend::OneDnn);
    match Experts::new(&cfg, ExpertWeights::swiglu(&w, &w, &w), None) {
        Ok(_) => vec![Backend::Highway, Backend::OneDnn],
        Err(e) => {
            assert_eq!(e.kind(), usmoe::ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains("config->backend"), "{e}");
            vec![Backend::Highway]
        }
    }
}

fn check_forward(activation: Activation, shared: usize) {
    for backend in [Backend::Auto].into_iter().chain(backends()) {
        check_forward_on(activation, shared, backend);
    }
}

fn check_forward_on(activation: Activation, shared: usize, backend: Backend) {
    let mut rng = Lcg(99 + activation.to_c() as u64 + shared as u64 * 7);
    let (n, d, f, t, sf) = (4, 16, 12, 10, 8);
    let w1 = rng.vec(n * f * d, 0.3);
    let w3 = rng.vec(n * f * d, 0.3);
    let w2 = rng.vec(n * d * f, 0.3);
    let s1 = rng.vec(shared * sf * d, 0.3);
    let s3 = rng.vec(shared * sf * d, 0.3);
    let s2 = rng.vec(shared * d * sf, 0.3);
    let glu = activation == Activation::SwiGlu;
    let routed = ExpertWeights {
        w1: &w1,
        w3: glu.then_some(&w3[..]),
        w2: &w2,
    };
    let shared_w = ExpertWeights {
        w1: &s1,
        w3: glu.then_some(&s3[..]),
        w2: &s2,
    };
    let cfg = ExpertsConfig::new(n, d, f)
        .activation(activation)
        .backend(backend)
        .shared(shared, if shared > 0 { sf } else { 0 });
    let ex = Experts::new(&cfg, routed, (shared > 0).then_some(shared_w)).expect("experts");
    assert_eq!(ex.config(), &cfg);

    let gate = rng.vec(n * d, 1.0);
    let x = rng.vec(t * d, 1.0);
    let r = Router::new(&RouterConfig::new(Policy::Unified, n, d).k(1.5), &gate).unwrap();
    let plan = r.route_new(&x, None, None).unwrap();
    let y = ex.forward_new(&x, &plan).expect("forward");
    let dense = plan.dense_weights();
    for tok in 0..t {
        let xt = &x[tok * d..(tok + 1) * d];
        let mut want = vec![0.0f32; d];
        for e in 0..n {
            let g = dense[tok * n + e];
            if g != 0.0 {
                for (o, v) in want.iter_mut().zip(ffn(activation, &routed, e, f, d, xt)) {
                    *o += g * v;
                }
            }
        }
        for s in 0..shared {
            for (o, v) in want
                .iter_mut()
                .zip(ffn(activation, &shared_w, s, sf, d, xt))
            {
                *o += v;
            }
        }
        for j in 0..d {
            let got = y[tok * d + j];
            assert!(
                (got - want[j]).abs() <= 1e-4 + 1e-3 * want[j].abs(),
                "{activation:?} {backend:?} shared={shared} y[{tok}][{j}] = {got}, want {}",
                want[j]
            );
        }
    }
}

#[test]
fn experts_forward_swiglu_matches_reference() {
    check_forward(Activation::SwiGlu, 0);
}

#[test]
fn experts_forward_mlp_activations_match_reference() {
    check_forward(Activation::GeluTanh, 0);
    check_forward(Activation::GeluErf, 0);
    check_forward(Activation::Relu, 0);
}

#[test]
fn experts_forward_with_shared_experts_matches_reference() {
    check_forward(Activation::SwiGlu, 2);
    check_forward(Activation::Relu, 1);
}

#[test]
fn experts_errors() {
    let (n, d, f) = (2, 4, 3);
    let w = vec![0.1f32; n * f * d];
    // w3 given for a ReLU MLP: the library's error.
    let cfg = ExpertsConfig::new(n, d, f).activation(Activation::Relu);
    let e = Experts::new(&cfg, ExpertWeights::swiglu(&w, &w, &w), None).unwrap_err();
    assert_eq!(e.kind, usmoe::ErrorKind::InvalidArgument);
    assert!(!e.message.starts_with("usmoe (rust)"), "{e}");
    // Missing w3 for SwiGLU.
    let e = Experts::new(
        &ExpertsConfig::new(n, d, f),
        ExpertWeights::mlp(&w, &w),
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind, usmoe::ErrorKind::InvalidArgument);
    // Wrong length: Rust side.
    let e = Experts::new(
        &ExpertsConfig::new(n, d, f),
        ExpertWeights::swiglu(&w, &w, &w[1..]),
        None,
    )
    .unwrap_err();
    assert!(
        e.message.starts_with("usmoe (rust)") && e.message.contains("w2"),
        "{e}"
    );
    // NaN weight.
    let mut bad = w.clone();
    bad[5] = f32::NAN;
    let e = Experts::new(
        &ExpertsConfig::new(n, d, f),
        ExpertWeights::swiglu(&w, &bad, &w),
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind, usmoe::ErrorKind::NonFiniteInput, "{e}");
    // A plan of another T: the library's error; y untouched.
    let ex = Experts::new(
        &ExpertsConfig::new(n, d, f),
        ExpertWeights::swiglu(&w, &w, &w),
        None,
    )
    .unwrap();
    let r = Router::new(
        &RouterConfig::new(Policy::TokenChoice, n, d).k(1.0),
        &vec![0.5f32; n * d],
    )
    .unwrap();
    let plan = r.route_new(&vec![1.0f32; 3 * d], None, None).unwrap();
    let mut y = vec![7.0f32; 2 * d];
    let e = ex.forward(&vec![1.0f32; 2 * d], &plan, &mut y).unwrap_err();
    assert_eq!(e.kind, usmoe::ErrorKind::InvalidArgument);
    assert!(e.message.contains("usmoe_experts_forward"), "{e}");
    assert!(y.iter().all(|&v| v == 7.0));
    // y of the wrong length: Rust side.
    let mut y = vec![0.0f32; 3 * d - 1];
    let e = ex.forward(&vec![1.0f32; 3 * d], &plan, &mut y).unwrap_err();
    assert!(e.message.starts_with("usmoe (rust)"), "{e}");
    // NaN in x.
    let mut x = vec![1.0f32; 3 * d];
    x[d + 1] = f32::NAN;
    let mut y = vec![0.0f32; 3 * d];
    let e = ex.forward(&x, &plan, &mut y).unwrap_err();
    assert_eq!(e.kind, usmoe::ErrorKind::NonFiniteInput, "{e}");
}

#[test]
fn experts_bf16_weights() {
    let (n, d, f, t) = (3, 8, 4, 5);
    let mut rng = Lcg(5);
    let round = |v: Vec<f32>| {
        v.into_iter()
            .map(|x| usmoe::bf16_to_f32(usmoe::f32_to_bf16(x)))
            .collect::<Vec<f32>>()
    };
    let (w1, w3, w2) = (
        round(rng.vec(n * f * d, 0.5)),
        round(rng.vec(n * f * d, 0.5)),
        round(rng.vec(n * d * f, 0.5)),
    );
    let b = |v: &[f32]| {
        v.iter()
            .map(|&x| usmoe::f32_to_bf16(x))
            .collect::<Vec<u16>>()
    };
    let (b1, b3, b2) = (b(&w1), b(&w3), b(&w2));
    let x = rng.vec(t * d, 1.0);
    let plan = Router::new(
        &RouterConfig::new(Policy::TokenChoice, n, d).k(2.0),
        &rng.vec(n * d, 1.0),
    )
    .unwrap()
    .route_new(&x, None, None)
    .unwrap();
    for backend in backends() {
        let e32 = Experts::new(
            &ExpertsConfig::new(n, d, f).backend(backend),
            ExpertWeights::swiglu(&w1, &w3, &w2),
            None,
        )
        .unwrap();
        let e16 = Experts::new(
            &ExpertsConfig::new(n, d, f)
                .dtype(DType::Bf16)
                .backend(backend),
            ExpertWeights::swiglu(&b1, &b3, &b2),
            None,
        )
        .unwrap();
        let (y32, y16) = (
            e32.forward_new(&x, &plan).unwrap(),
            e16.forward_new(&x, &plan).unwrap(),
        );
        // oneDNN rounds the activations to bf16 before each GEMM, and so
        // does Highway on CPUs with AVX512_BF16 (vdpbf16ps); elsewhere
        // Highway widens the bf16 weights and keeps f32 activations.
        let tol = 3e-2;
        assert_close(
            &y16,
            &y32,
            tol,
            &format!("bf16 vs f32 experts, {backend:?}"),
        );
    }
}

// ----------------------------------------------------------- misc / global

#[test]
fn version_matches_the_header() {
    let v = usmoe::version();
    assert_eq!(v, usmoe::HEADER_VERSION);
    assert_eq!(v.number(), usmoe::sys::USMOE_VERSION_NUMBER);
    assert_eq!(
        v.to_string(),
        format!("{}.{}.{}", v.major, v.minor, v.patch)
    );
}

#[test]
fn thread_count_and_simd_queries() {
    assert!(usmoe::num_threads().unwrap() >= 1);
    usmoe::set_num_threads(1).unwrap();
    assert_eq!(usmoe::num_threads().unwrap(), 1);
    usmoe::set_num_threads(0).unwrap();
    assert!(usmoe::num_threads().unwrap() >= 1);
    assert!(usmoe::simd_supported_targets().unwrap() != 0);
    assert!(!usmoe::simd_target_name().unwrap().is_empty());
}

#[test]
fn bf16_conversion() {
    assert_eq!(usmoe::f32_to_bf16(1.0), 0x3f80);
    assert_eq!(usmoe::bf16_to_f32(0x3f80), 1.0);
    // Round to nearest even: 5.7 -> 5.6875 (as torch does).
    assert_eq!(usmoe::bf16_to_f32(usmoe::f32_to_bf16(5.7)), 5.6875);
    assert!(usmoe::bf16_to_f32(usmoe::f32_to_bf16(f32::NAN)).is_nan());
    assert_eq!(
        usmoe::bf16_to_f32(usmoe::f32_to_bf16(f32::INFINITY)),
        f32::INFINITY
    );
}

//! The golden vector of DESIGN.md §1, through the router and through the
//! kernel entry points.
mod common;
use common::*;
use usmoe::{ExpertScore, GateNorm, Plan, Policy, Router, RouterConfig};

fn router(cfg: RouterConfig) -> Router {
    Router::new(&cfg, &identity(4)).expect("router")
}

#[test]
fn unified_k2_selects_the_golden_cells() {
    let r = router(
        RouterConfig::new(Policy::Unified, 4, 4)
            .k(2.0)
            .alpha(0.5)
            .keep_scores(true)
            .token_view(true),
    );
    let plan = r.route_new(&GOLDEN_X, None, None).unwrap();
    assert_eq!(plan.num_tokens(), 4);
    assert_eq!(plan.num_experts(), 4);
    assert_eq!(plan.num_selected(), 8);
    assert_eq!(
        per_token(&plan),
        vec![vec![0], vec![1, 2], vec![0, 1, 2], vec![2, 3]]
    );
    assert_eq!(plan.expert_loads(), &[2, 2, 3, 1]);
    assert_eq!(plan.token_counts(), &[1, 2, 3, 2]);
    assert_eq!(plan.expert_offsets(), &[0, 2, 4, 7, 8]);
    assert_eq!(plan.token_ids(), &[0, 2, 1, 2, 1, 2, 3, 3]);
    // Scores are U; gates are the selected scores, unnormalised.
    let s = plan.scores().expect("keep_scores");
    assert_close(s, &GOLDEN_U, 2e-5, "U");
    let dense = plan.dense_weights();
    let mask = plan.mask();
    for i in 0..16 {
        let want = if mask[i] { GOLDEN_U[i] } else { 0.0 };
        assert!(
            (dense[i] - want).abs() < 2e-5,
            "gate {i}: {} vs {want}",
            dense[i]
        );
    }
    // The per-token view agrees with the expert-grouped one.
    let tv = plan.token_view().expect("token_view");
    assert_eq!(tv.num_tokens(), 4);
    assert_eq!(tv.offsets, &[0, 1, 3, 6, 8]);
    for t in 0..4 {
        let (ex, w) = tv.token(t);
        assert_eq!(ex.to_vec(), per_token(&plan)[t]);
        for (e, g) in ex.iter().zip(w) {
            assert_eq!(*g, dense[t * 4 + *e as usize]);
        }
    }
    let (toks, _) = plan.expert(2);
    assert_eq!(toks, &[1, 2, 3]);
}

#[test]
fn token_choice_k2_alpha0_gives_t0_experts_0_and_3() {
    let r = router(
        RouterConfig::new(Policy::TokenChoice, 4, 4)
            .k(2.0)
            .alpha(0.0),
    );
    let plan = r.route_new(&GOLDEN_X, None, None).unwrap();
    let pt = per_token(&plan);
    assert_eq!(pt[0], vec![0, 3]);
    assert_eq!(pt, vec![vec![0, 3], vec![1, 2], vec![0, 1], vec![2, 3]]);
    assert_eq!(plan.token_counts(), &[2, 2, 2, 2]);
    assert_eq!(plan.expert_loads(), &[2, 2, 2, 2]);
    // Gates are the softmax values of the selected cells.
    let dense = plan.dense_weights();
    for t in 0..4 {
        let row = &GOLDEN_X[t * 4..t * 4 + 4];
        let m = row.iter().cloned().fold(f32::MIN, f32::max);
        let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
        for &e in &pt[t] {
            let p = (row[e as usize] - m).exp() / z;
            assert!((dense[t * 4 + e as usize] - p).abs() < 1e-5);
        }
    }
}

#[test]
fn token_choice_default_alpha_is_plain_softmax() {
    let cfg = RouterConfig::new(Policy::TokenChoice, 4, 4).k(2.0);
    assert_eq!(cfg.alpha, 0.0);
    let plan = router(cfg).route_new(&GOLDEN_X, None, None).unwrap();
    assert_eq!(per_token(&plan)[0], vec![0, 3]);
}

#[test]
fn unified_with_two_groups_selects_within_each_group() {
    let r = router(RouterConfig::new(Policy::Unified, 4, 4).k(2.0));
    let plan = r.route_new(&GOLDEN_X, Some(&[2, 2]), None).unwrap();
    // Group {t0,t1}: top-4 of its 8 cells; group {t2,t3} likewise.
    assert_eq!(
        per_token(&plan),
        vec![vec![0], vec![1, 2, 3], vec![0, 1], vec![2, 3]]
    );
    assert_eq!(plan.expert_loads(), &[2, 2, 2, 2]);
}

#[test]
fn unified_with_padding_excludes_it_from_budget_and_selection() {
    let r = router(RouterConfig::new(Policy::Unified, 4, 4).k(2.0));
    let plan = r.route_new(&GOLDEN_X, None, Some(&[1, 1, 1, 0])).unwrap();
    // T_valid = 3: c = floor(2·3 + 0.5) = 6 cells among t0..t2.
    assert_eq!(plan.num_selected(), 6);
    assert_eq!(
        per_token(&plan),
        vec![vec![0], vec![1, 2], vec![0, 1, 2], vec![]]
    );
    assert_eq!(plan.expert_loads(), &[2, 2, 2, 0]);
}

#[test]
fn unified_fractional_k() {
    let r = router(RouterConfig::new(Policy::Unified, 4, 4).k(1.5));
    let plan = r.route_new(&GOLDEN_X, None, None).unwrap();
    // c = floor(1.5·4 + 0.5) = 6: the six largest U cells
    // (.5717 .4000 .3860 .3648 .3517 .3451); t1 gets no expert.
    assert_eq!(plan.num_selected(), 6);
    assert_eq!(
        per_token(&plan),
        vec![vec![0], vec![], vec![0, 1, 2], vec![2, 3]]
    );
    assert_eq!(plan.token_counts(), &[1, 0, 3, 2]);
}

#[test]
fn gate_norm_selected_sums_to_one_per_token() {
    let r = router(
        RouterConfig::new(Policy::Unified, 4, 4)
            .k(2.0)
            .gate_norm(GateNorm::Selected),
    );
    let plan = r.route_new(&GOLDEN_X, None, None).unwrap();
    let dense = plan.dense_weights();
    for t in 0..4 {
        let s: f32 = dense[t * 4..t * 4 + 4].iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "token {t}: {s}");
    }
    // Normalisation does not change the selection.
    assert_eq!(plan.expert_loads(), &[2, 2, 3, 1]);
}

#[test]
fn gate_norm_all_divides_by_the_row_sum() {
    let r = router(
        RouterConfig::new(Policy::Unified, 4, 4)
            .k(2.0)
            .gate_norm(GateNorm::All),
    );
    let plan = r.route_new(&GOLDEN_X, None, None).unwrap();
    let dense = plan.dense_weights();
    let mask = plan.mask();
    for t in 0..4 {
        let row_sum: f32 = GOLDEN_U[t * 4..t * 4 + 4].iter().sum();
        for e in 0..4 {
            let want = if mask[t * 4 + e] {
                GOLDEN_U[t * 4 + e] / row_sum
            } else {
                0.0
            };
            assert!(
                (dense[t * 4 + e] - want).abs() < 2e-5,
                "({t},{e}) {} vs {want}",
                dense[t * 4 + e]
            );
        }
    }
}

#[test]
fn kernels_reproduce_the_golden_vector() {
    let mut l = [0.0f32; 16];
    usmoe::logits(&GOLDEN_X, &identity(4), 4, 4, 4, &mut l).unwrap();
    assert_close(&l, &GOLDEN_X, 1e-6, "logits");
    let mut u = [0.0f32; 16];
    usmoe::scores(&l, 4, 4, 0.5, ExpertScore::Sigmoid, None, None, &mut u).unwrap();
    assert_close(&u, &GOLDEN_U, 2e-5, "U");
    let mut idx = [0i64; 8];
    usmoe::topc_global(&u, 8, &mut idx).unwrap();
    assert_eq!(idx, [0, 5, 6, 8, 9, 10, 14, 15]);
    let (mut ids, mut vals) = ([0i64; 8], [0.0f32; 8]);
    usmoe::topk_rows(&l, 4, 4, 2, &mut ids, &mut vals).unwrap();
    assert_eq!(&ids[..2], &[0, 3]);
    assert_eq!(vals[0], 2.0);
    let (mut tok, mut tv) = ([0i64; 4], [0.0f32; 4]);
    usmoe::topc_cols(&l, 4, 4, 1, &mut tok, &mut tv).unwrap();
    assert_eq!(tok, [0, 2, 2, 3]);
    assert_eq!(tv, [2.0, 1.4, 1.3, 1.1]);
}

#[test]
fn bf16_router_matches_on_exactly_representable_inputs() {
    // Values exactly representable in bf16 route the same as in f32.
    let x: Vec<f32> = [
        2.0f32, 0.125, -1.0, 0.5, -0.25, 0.1875, 0.09375, 0.0, 1.5, 1.375, 1.25, -2.0, 0.0, -0.5,
        0.875, 1.125,
    ]
    .to_vec();
    let xb: Vec<u16> = x.iter().map(|&v| usmoe::f32_to_bf16(v)).collect();
    let wb: Vec<u16> = identity(4).iter().map(|&v| usmoe::f32_to_bf16(v)).collect();
    let cfg = RouterConfig::new(Policy::Unified, 4, 4).k(2.0);
    let r32 = Router::new(&cfg, &identity(4)).unwrap();
    let r16 = Router::new(&cfg.dtype(usmoe::DType::Bf16), &wb).unwrap();
    let (mut p32, mut p16) = (Plan::new().unwrap(), Plan::new().unwrap());
    r32.route(&x, None, None, &mut p32).unwrap();
    r16.route(&xb, None, None, &mut p16).unwrap();
    assert_eq!(p32.token_ids(), p16.token_ids());
    assert_eq!(p32.expert_offsets(), p16.expert_offsets());
    assert_close(p16.weights(), p32.weights(), 1e-6, "weights");
}

//! Error paths: what the library rejects reaches Rust with its status, kind
//! and message; what only Rust can see (slice lengths, element type) is
//! rejected before calling C; failed calls leave outputs untouched.
mod common;
use common::*;
use usmoe::{DType, Error, ErrorKind, ExpertScore, Plan, Policy, Router, RouterConfig};

fn expect_err<T: std::fmt::Debug>(r: usmoe::Result<T>, kind: ErrorKind) -> Error {
    let e = r.expect_err("expected an error");
    eprintln!("{e}");
    assert_eq!(e.kind, kind, "{e}");
    assert_eq!(e.kind(), ErrorKind::from_status(e.status()));
    assert_ne!(e.status, 0);
    assert!(!e.message.is_empty(), "empty message for {e:?}");
    // Display carries the status name and the C text.
    let shown = e.to_string();
    assert!(shown.contains(&e.message), "{shown}");
    assert!(shown.contains(usmoe::status_string(e.status)), "{shown}");
    e
}

/// A C-side error: its message comes from usmoe_last_error (names a usmoe_ function).
fn from_c(e: &Error) {
    assert!(
        !e.message.starts_with("usmoe (rust)"),
        "expected a C message, got {e}"
    );
    assert!(
        e.message.contains("usmoe_"),
        "C message without the function name: {e}"
    );
}

#[test]
fn fractional_k_under_token_choice_is_rejected_by_c() {
    let cfg = RouterConfig::new(Policy::TokenChoice, 4, 4).k(1.5);
    let e = expect_err(Router::new(&cfg, &identity(4)), ErrorKind::InvalidArgument);
    from_c(&e);
    assert_eq!(e.status, usmoe::sys::USMOE_STATUS_INVALID_ARGUMENT);
    assert!(e.message.contains('k'), "{e}");
    // The same k is fine under UNIFIED.
    Router::new(
        &RouterConfig::new(Policy::Unified, 4, 4).k(1.5),
        &identity(4),
    )
    .unwrap();
}

#[test]
fn alpha_out_of_range_is_rejected() {
    for alpha in [-0.1, 1.5, f64::NAN] {
        let cfg = RouterConfig::new(Policy::Unified, 4, 4).alpha(alpha).k(2.0);
        let e = expect_err(Router::new(&cfg, &identity(4)), ErrorKind::InvalidArgument);
        from_c(&e);
        assert!(e.message.contains("alpha"), "{e}");
    }
    let mut out = [0.0f32; 16];
    let e = expect_err(
        usmoe::scores(
            &GOLDEN_X,
            4,
            4,
            2.0,
            ExpertScore::Sigmoid,
            None,
            None,
            &mut out,
        ),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    assert!(out.iter().all(|&v| v == 0.0), "output written on error");
}

#[test]
fn other_bad_config_fields_name_the_field() {
    let w = identity(4);
    let e = expect_err(
        Router::new(&RouterConfig::new(Policy::Unified, 0, 4), &[0.0f32; 0]),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    assert!(e.message.contains("num_experts"), "{e}");
    let e = expect_err(
        Router::new(&RouterConfig::new(Policy::TokenChoice, 4, 4).k(5.0), &w),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    let e = expect_err(
        Router::new(
            &RouterConfig::new(Policy::ExpertChoice, 4, 4)
                .k(2.0)
                .capacity_factor(0.0),
            &w,
        ),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    assert!(e.message.contains("capacity_factor"), "{e}");
}

#[test]
fn nan_input_is_rejected_and_located() {
    let r = Router::new(
        &RouterConfig::new(Policy::Unified, 4, 4).k(2.0),
        &identity(4),
    )
    .unwrap();
    let mut plan = r.route_new(&GOLDEN_X, None, None).unwrap();
    let before = (
        plan.token_ids().to_vec(),
        plan.weights().to_vec(),
        plan.expert_loads().to_vec(),
    );
    let mut x = GOLDEN_X;
    x[2 * 4 + 1] = f32::NAN;
    let e = expect_err(
        r.route(&x, None, None, &mut plan),
        ErrorKind::NonFiniteInput,
    );
    from_c(&e);
    assert_eq!(e.status, usmoe::sys::USMOE_STATUS_NON_FINITE_INPUT);
    assert!(e.message.contains('2'), "message should name token 2: {e}");
    // The plan is as it was.
    assert_eq!(
        before,
        (
            plan.token_ids().to_vec(),
            plan.weights().to_vec(),
            plan.expert_loads().to_vec()
        )
    );
    // Inf too.
    x[2 * 4 + 1] = f32::INFINITY;
    expect_err(
        r.route(&x, None, None, &mut plan),
        ErrorKind::NonFiniteInput,
    );
}

#[test]
fn nan_weight_is_rejected() {
    let mut w = identity(4);
    w[3 * 4 + 2] = f32::NAN;
    let e = expect_err(
        Router::new(&RouterConfig::new(Policy::Unified, 4, 4).k(2.0), &w),
        ErrorKind::NonFiniteInput,
    );
    from_c(&e);
    assert!(
        e.message.contains('3') && e.message.contains('2'),
        "message should name expert 3, feature 2: {e}"
    );
}

#[test]
fn nan_in_kernels_is_rejected() {
    let mut s = GOLDEN_U;
    s[5] = f32::NAN;
    let mut idx = [-1i64; 4];
    expect_err(
        usmoe::topc_global(&s, 4, &mut idx),
        ErrorKind::NonFiniteInput,
    );
    assert_eq!(idx, [-1; 4]);
    let (mut ids, mut v) = ([0i64; 4], [0.0f32; 4]);
    expect_err(
        usmoe::topk_rows(&s, 4, 4, 1, &mut ids, &mut v),
        ErrorKind::NonFiniteInput,
    );
    expect_err(
        usmoe::topc_cols(&s, 4, 4, 1, &mut ids, &mut v),
        ErrorKind::NonFiniteInput,
    );
}

#[test]
fn mismatched_lengths_are_rejected_on_the_rust_side() {
    // Router weight of the wrong size.
    let e = expect_err(
        Router::new(&RouterConfig::new(Policy::Unified, 4, 4), &[0.0f32; 15]),
        ErrorKind::InvalidArgument,
    );
    assert!(
        e.message.starts_with("usmoe (rust)") && e.message.contains("gate_weight"),
        "{e}"
    );
    let r = Router::new(
        &RouterConfig::new(Policy::Unified, 4, 4).k(2.0),
        &identity(4),
    )
    .unwrap();
    let mut plan = Plan::new().unwrap();
    // x not a multiple of d.
    let e = expect_err(
        r.route(&GOLDEN_X[..15], None, None, &mut plan),
        ErrorKind::InvalidArgument,
    );
    assert!(e.message.contains("multiple of dim"), "{e}");
    // Mask of the wrong length.
    let e = expect_err(
        r.route(&GOLDEN_X, None, Some(&[1, 1, 1]), &mut plan),
        ErrorKind::InvalidArgument,
    );
    assert!(e.message.contains("valid"), "{e}");
    // Element type not the router's dtype.
    let e = expect_err(
        r.route(&[0u16; 16], None, None, &mut plan),
        ErrorKind::InvalidArgument,
    );
    assert!(e.message.contains("dtype"), "{e}");
    let e = expect_err(
        Router::new(
            &RouterConfig::new(Policy::Unified, 4, 4).dtype(DType::Bf16),
            &identity(4),
        ),
        ErrorKind::InvalidArgument,
    );
    assert!(e.message.contains("dtype"), "{e}");
    // Kernel outputs of the wrong size.
    let mut small = [0.0f32; 15];
    expect_err(
        usmoe::logits(&GOLDEN_X, &identity(4), 4, 4, 4, &mut small),
        ErrorKind::InvalidArgument,
    );
    expect_err(
        usmoe::scores(
            &GOLDEN_X,
            4,
            4,
            0.5,
            ExpertScore::Sigmoid,
            None,
            None,
            &mut small,
        ),
        ErrorKind::InvalidArgument,
    );
    let (mut ids, mut v) = ([0i64; 7], [0.0f32; 8]);
    expect_err(
        usmoe::topk_rows(&GOLDEN_U, 4, 4, 2, &mut ids, &mut v),
        ErrorKind::InvalidArgument,
    );
    // The plan was never written.
    assert_eq!(plan.num_tokens(), 0);
}

#[test]
fn inconsistent_arguments_only_c_can_check() {
    let r = Router::new(
        &RouterConfig::new(Policy::Unified, 4, 4).k(2.0),
        &identity(4),
    )
    .unwrap();
    let mut plan = Plan::new().unwrap();
    // Group sizes that do not sum to T.
    let e = expect_err(
        r.route(&GOLDEN_X, Some(&[2, 1]), None, &mut plan),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    let e = expect_err(
        r.route(&GOLDEN_X, Some(&[5, -1]), None, &mut plan),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    // T = 0.
    let e = expect_err(
        r.route(&[0.0f32; 0], None, None, &mut plan),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    // k out of range in the kernels.
    let (mut ids, mut v) = ([0i64; 20], [0.0f32; 20]);
    let e = expect_err(
        usmoe::topk_rows(&GOLDEN_U, 4, 4, 5, &mut ids, &mut v),
        ErrorKind::InvalidArgument,
    );
    from_c(&e);
    // Global top-c with too small a buffer: BUFFER_TOO_SMALL; c > n: invalid.
    let mut idx = [0i64; 3];
    let e = expect_err(
        usmoe::topc_global(&GOLDEN_U, 4, &mut idx),
        ErrorKind::BufferTooSmall,
    );
    from_c(&e);
    let mut idx = [0i64; 20];
    expect_err(
        usmoe::topc_global(&GOLDEN_U, 17, &mut idx),
        ErrorKind::InvalidArgument,
    );
    // Thread counts out of range.
    expect_err(usmoe::set_num_threads(5000), ErrorKind::InvalidArgument);
    assert_eq!(plan.num_tokens(), 0);
}

#[test]
fn error_kinds_cover_every_status() {
    use usmoe::sys::*;
    let pairs = [
        (USMOE_STATUS_INVALID_ARGUMENT, ErrorKind::InvalidArgument),
        (USMOE_STATUS_NON_FINITE_INPUT, ErrorKind::NonFiniteInput),
        (USMOE_STATUS_BUFFER_TOO_SMALL, ErrorKind::BufferTooSmall),
        (USMOE_STATUS_OUT_OF_MEMORY, ErrorKind::OutOfMemory),
        (USMOE_STATUS_UNSUPPORTED, ErrorKind::Unsupported),
        (USMOE_STATUS_INTERNAL_ERROR, ErrorKind::Internal),
        (77, ErrorKind::Unknown),
    ];
    for (s, k) in pairs {
        assert_eq!(ErrorKind::from_status(s), k);
    }
    assert_eq!(usmoe::status_string(USMOE_STATUS_SUCCESS), "success");
    assert_eq!(
        usmoe::status_string(USMOE_STATUS_INVALID_ARGUMENT),
        "invalid argument"
    );
    assert_eq!(usmoe::status_string(77), "unknown status");
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(Error {
        status: 1,
        kind: ErrorKind::InvalidArgument,
        message: "m".into(),
    });
    assert_eq!(e.to_string(), "usmoe: invalid argument: m");
}

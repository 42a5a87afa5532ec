//! The hand-written declarations of `src/sys.rs` against the header
//! `include/usmoe/usmoe.h`: every `#define USMOE_*` value, every function
//! prototype (C types mapped to Rust types), and the struct layouts as a C
//! compiler sees them (`sizeof`/`offsetof`, via `cc`; skipped without one).
//! Skipped when the header is not found (the crate outside its repository);
//! `USMOE_INCLUDE_DIR` may point at the directory holding `usmoe/usmoe.h`.
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use usmoe::sys;

fn include_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("USMOE_INCLUDE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include"),
    };
    if dir.join("usmoe/usmoe.h").exists() {
        Some(dir)
    } else {
        eprintln!("skipped: usmoe/usmoe.h not found in {}", dir.display());
        None
    }
}

fn header() -> Option<String> {
    include_dir().map(|d| std::fs::read_to_string(d.join("usmoe/usmoe.h")).unwrap())
}

/// Removes /* */ and // comments.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            let end = s[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            out.push(' ');
            i = end;
        } else if b[i..].starts_with(b"//") {
            let end = s[i..].find('\n').map_or(b.len(), |p| i + p);
            i = end;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[test]
fn defines_match_header() {
    let Some(h) = header() else { return };
    let rust: BTreeMap<&str, i64> = [
        ("USMOE_VERSION_MAJOR", sys::USMOE_VERSION_MAJOR as i64),
        ("USMOE_VERSION_MINOR", sys::USMOE_VERSION_MINOR as i64),
        ("USMOE_VERSION_PATCH", sys::USMOE_VERSION_PATCH as i64),
        ("USMOE_STATUS_SUCCESS", sys::USMOE_STATUS_SUCCESS as i64),
        (
            "USMOE_STATUS_INVALID_ARGUMENT",
            sys::USMOE_STATUS_INVALID_ARGUMENT as i64,
        ),
        (
            "USMOE_STATUS_NON_FINITE_INPUT",
            sys::USMOE_STATUS_NON_FINITE_INPUT as i64,
        ),
        (
            "USMOE_STATUS_BUFFER_TOO_SMALL",
            sys::USMOE_STATUS_BUFFER_TOO_SMALL as i64,
        ),
        (
            "USMOE_STATUS_OUT_OF_MEMORY",
            sys::USMOE_STATUS_OUT_OF_MEMORY as i64,
        ),
        (
            "USMOE_STATUS_UNSUPPORTED",
            sys::USMOE_STATUS_UNSUPPORTED as i64,
        ),
        (
            "USMOE_STATUS_INTERNAL_ERROR",
            sys::USMOE_STATUS_INTERNAL_ERROR as i64,
        ),
        ("USMOE_BACKEND_AUTO", sys::USMOE_BACKEND_AUTO as i64),
        ("USMOE_BACKEND_HIGHWAY", sys::USMOE_BACKEND_HIGHWAY as i64),
        ("USMOE_BACKEND_ONEDNN", sys::USMOE_BACKEND_ONEDNN as i64),
        ("USMOE_DTYPE_F32", sys::USMOE_DTYPE_F32 as i64),
        ("USMOE_DTYPE_BF16", sys::USMOE_DTYPE_BF16 as i64),
        (
            "USMOE_POLICY_TOKEN_CHOICE",
            sys::USMOE_POLICY_TOKEN_CHOICE as i64,
        ),
        (
            "USMOE_POLICY_EXPERT_CHOICE",
            sys::USMOE_POLICY_EXPERT_CHOICE as i64,
        ),
        ("USMOE_POLICY_UNIFIED", sys::USMOE_POLICY_UNIFIED as i64),
        (
            "USMOE_EXPERT_SCORE_SIGMOID",
            sys::USMOE_EXPERT_SCORE_SIGMOID as i64,
        ),
        (
            "USMOE_EXPERT_SCORE_SOFTMAX_TOKENS",
            sys::USMOE_EXPERT_SCORE_SOFTMAX_TOKENS as i64,
        ),
        ("USMOE_GATE_NORM_NONE", sys::USMOE_GATE_NORM_NONE as i64),
        (
            "USMOE_GATE_NORM_SELECTED",
            sys::USMOE_GATE_NORM_SELECTED as i64,
        ),
        ("USMOE_GATE_NORM_ALL", sys::USMOE_GATE_NORM_ALL as i64),
        (
            "USMOE_ACTIVATION_SWIGLU",
            sys::USMOE_ACTIVATION_SWIGLU as i64,
        ),
        (
            "USMOE_ACTIVATION_GELU_TANH",
            sys::USMOE_ACTIVATION_GELU_TANH as i64,
        ),
        (
            "USMOE_ACTIVATION_GELU_ERF",
            sys::USMOE_ACTIVATION_GELU_ERF as i64,
        ),
        ("USMOE_ACTIVATION_RELU", sys::USMOE_ACTIVATION_RELU as i64),
    ]
    .into_iter()
    .collect();

    // Every `#define USMOE_NAME <integer>` of the header.
    let mut c: BTreeMap<String, i64> = BTreeMap::new();
    for line in h.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (it.next(), it.next()) else {
            continue;
        };
        if !name.starts_with("USMOE_") {
            continue;
        }
        if let Ok(v) = value.parse::<i64>() {
            c.insert(name.to_string(), v);
        }
    }
    assert!(
        c.len() >= 20,
        "parsed only {} defines from the header",
        c.len()
    );
    for (name, v) in &c {
        assert_eq!(
            rust.get(name.as_str()),
            Some(v),
            "{name}: header says {v}, sys.rs has {:?}",
            rust.get(name.as_str())
        );
    }
    for name in rust.keys() {
        assert!(
            c.contains_key(*name),
            "sys.rs has {name}, which the header does not define"
        );
    }
    assert!(h.contains(
        "(USMOE_VERSION_MAJOR * 10000 + USMOE_VERSION_MINOR * 100 + USMOE_VERSION_PATCH)"
    ));
    assert_eq!(
        sys::USMOE_VERSION_NUMBER,
        sys::USMOE_VERSION_MAJOR * 10000
            + sys::USMOE_VERSION_MINOR * 100
            + sys::USMOE_VERSION_PATCH
    );
}

/// A C parameter or return type as the Rust type sys.rs must use.
fn c_type_to_rust(t: &str) -> String {
    let t = t.trim();
    let stars = t.matches('*').count();
    let base_part = t.replace('*', " ");
    let mut words: Vec<&str> = base_part.split_whitespace().collect();
    let is_const = words.first() == Some(&"const");
    if is_const {
        words.remove(0);
    }
    assert_eq!(words.len(), 1, "unexpected C type {t:?}");
    let base = match words[0] {
        "int32_t" => "i32",
        "int64_t" => "i64",
        "uint8_t" => "u8",
        "uint16_t" => "u16",
        "float" => "f32",
        "double" => "f64",
        "char" => "c_char",
        "size_t" => "usize",
        "void" if stars > 0 => "c_void",
        other => other, // usmoe_* typedefs and handle types keep their names
    };
    let mut s = base.to_string();
    for i in 0..stars {
        let q = if i == 0 && is_const {
            "*const "
        } else {
            "*mut "
        };
        s = format!("{q}{s}");
    }
    s
}

/// Splits `type name` (C) into the type.
fn c_param_type(p: &str) -> String {
    let p = p.trim();
    let cut = p
        .rfind(|ch: char| ch == '*' || ch.is_whitespace())
        .expect("C parameter without a name");
    p[..=cut].trim().to_string()
}

type Proto = (Vec<String>, String);

fn header_prototypes(h: &str) -> BTreeMap<String, Proto> {
    let h = strip_comments(h);
    let mut out = BTreeMap::new();
    for chunk in h.split("USMOE_API").skip(1) {
        let Some(semi) = chunk.find(';') else {
            continue;
        };
        let decl = &chunk[..semi];
        if decl.contains('#') || !decl.contains('(') {
            continue; // around the #define of USMOE_API itself
        }
        let decl: String = decl.split_whitespace().collect::<Vec<_>>().join(" ");
        let open = decl.find('(').unwrap();
        let head = &decl[..open];
        let name_at = head.rfind([' ', '*']).unwrap();
        let name = head[name_at + 1..].to_string();
        let ret = c_type_to_rust(&head[..=name_at]);
        let ret = if ret == "void" { String::new() } else { ret };
        let params_s = &decl[open + 1..decl.rfind(')').unwrap()];
        let params = if params_s.trim() == "void" {
            vec![]
        } else {
            params_s
                .split(',')
                .map(|p| c_type_to_rust(&c_param_type(p)))
                .collect()
        };
        out.insert(name, (params, ret));
    }
    out
}

fn rust_prototypes(src: &str) -> BTreeMap<String, Proto> {
    let block_start = src.find("extern \"C\" {").expect("extern block in sys.rs");
    let block = strip_comments(&src[block_start..]);
    let mut out = BTreeMap::new();
    for chunk in block.split("pub fn ").skip(1) {
        let decl = &chunk[..chunk.find(';').unwrap()];
        let decl: String = decl.split_whitespace().collect::<Vec<_>>().join(" ");
        let open = decl.find('(').unwrap();
        let close = decl.rfind(')').unwrap();
        let name = decl[..open].trim().to_string();
        let params = decl[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.split_once(':')
                    .expect("rust parameter")
                    .1
                    .trim()
                    .to_string()
            })
            .collect();
        let ret = decl[close + 1..]
            .trim()
            .trim_start_matches("->")
            .trim()
            .to_string();
        out.insert(name, (params, ret));
    }
    out
}

#[test]
fn prototypes_match_header() {
    let Some(h) = header() else { return };
    let src = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/sys.rs"))
        .unwrap();
    let c = header_prototypes(&h);
    let r = rust_prototypes(&src);
    assert!(
        c.len() >= 25,
        "parsed only {} prototypes from the header",
        c.len()
    );
    for (name, proto) in &c {
        let rp = r
            .get(name)
            .unwrap_or_else(|| panic!("sys.rs does not declare {name}"));
        assert_eq!(
            rp, proto,
            "{name}: sys.rs (left) differs from the header (right)"
        );
    }
    for name in r.keys() {
        assert!(
            c.contains_key(name),
            "sys.rs declares {name}, which the header does not"
        );
    }
    // The type aliases used in sys.rs are the C typedefs' int32_t.
    let _: [sys::usmoe_status; 0] = [0i32; 0];
    let _: [sys::usmoe_dtype; 0] = [0i32; 0];
    let _: [sys::usmoe_policy; 0] = [0i32; 0];
    let _: [sys::usmoe_expert_score; 0] = [0i32; 0];
    let _: [sys::usmoe_gate_norm; 0] = [0i32; 0];
    let _: [sys::usmoe_activation; 0] = [0i32; 0];
    for td in [
        "usmoe_status",
        "usmoe_dtype",
        "usmoe_policy",
        "usmoe_expert_score",
        "usmoe_gate_norm",
        "usmoe_activation",
    ] {
        assert!(
            h.contains(&format!("typedef int32_t {td};")),
            "{td} is not an int32_t typedef in the header"
        );
    }
}

/// The fields of a struct of the header, in order.
fn header_struct_fields(h: &str, name: &str) -> Vec<String> {
    let h = strip_comments(h);
    let start = h
        .find(&format!("typedef struct {name} {{"))
        .unwrap_or_else(|| panic!("struct {name}"));
    let body = &h[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    body.split(';')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| f.rsplit([' ', '*']).next().unwrap().to_string())
        .collect()
}

macro_rules! rust_layout {
    ($ty:ty { $($f:ident),* $(,)? }) => {{
        let v: Vec<(String, usize)> = vec![$((stringify!($f).to_string(), offset_of!($ty, $f))),*];
        (size_of::<$ty>(), std::mem::align_of::<$ty>(), v)
    }};
}

#[test]
fn struct_layouts_match_c() {
    let Some(inc) = include_dir() else { return };
    let h = header().unwrap();
    let layouts = [
        (
            "usmoe_plan_view",
            rust_layout!(sys::usmoe_plan_view {
                struct_size,
                num_tokens,
                num_experts,
                num_selected,
                expert_offsets,
                token_ids,
                weights,
                token_counts,
                expert_loads,
                scores,
                token_offsets,
                token_experts,
                token_weights
            }),
        ),
        (
            "usmoe_router_config",
            rust_layout!(sys::usmoe_router_config {
                struct_size,
                num_experts,
                dim,
                policy,
                dtype,
                k,
                alpha,
                capacity_factor,
                expert_score,
                gate_norm,
                keep_scores,
                token_view
            }),
        ),
        (
            "usmoe_experts_config",
            rust_layout!(sys::usmoe_experts_config {
                struct_size,
                num_experts,
                dim,
                hidden,
                activation,
                dtype,
                num_shared,
                shared_hidden,
                backend
            }),
        ),
    ];
    // Same field names in the same order as the header.
    for (name, (_, _, fields)) in &layouts {
        let names: Vec<String> = fields.iter().map(|f| f.0.clone()).collect();
        assert_eq!(
            names,
            header_struct_fields(&h, name),
            "{name}: field list differs from the header"
        );
    }
    // Sizes that follow from the field lists on an LP64 target.
    if size_of::<usize>() == 8 {
        assert_eq!(layouts[0].1 .0, 104);
        assert_eq!(layouts[1].1 .0, 72);
        assert_eq!(layouts[2].1 .0, 64);
    }

    // What a C compiler says.
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("abi_layout");
    std::fs::create_dir_all(&dir).unwrap();
    let mut prog = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"usmoe/usmoe.h\"\nint main(void) {\n",
    );
    for (name, (_, _, fields)) in &layouts {
        prog += &format!("  printf(\"{name} size %zu\\n\", sizeof({name}));\n");
        prog += &format!("  printf(\"{name} align %zu\\n\", _Alignof({name}));\n");
        for (f, _) in fields {
            prog += &format!("  printf(\"{name} {f} %zu\\n\", offsetof({name}, {f}));\n");
        }
    }
    prog += "  return 0;\n}\n";
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, prog).unwrap();
    let compiled = Command::new(&cc)
        .args(["-std=c11", "-I"])
        .arg(&inc)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status();
    match compiled {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{cc} failed ({s}) on {}", src.display()),
        Err(e) => {
            eprintln!("skipped the C layout check: cannot run {cc}: {e}");
            return;
        }
    }
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let c: BTreeMap<(String, String), usize> = text
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let (s, f, v) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            ((s.to_string(), f.to_string()), v.parse().unwrap())
        })
        .collect();
    for (name, (size, align, fields)) in &layouts {
        assert_eq!(
            c[&(name.to_string(), "size".to_string())],
            *size,
            "sizeof({name})"
        );
        assert_eq!(
            c[&(name.to_string(), "align".to_string())],
            *align,
            "_Alignof({name})"
        );
        for (f, off) in fields {
            assert_eq!(
                c[&(name.to_string(), f.clone())],
                *off,
                "offsetof({name}, {f})"
            );
        }
    }
}

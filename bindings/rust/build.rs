//! Links the CMake-built usmoe library.
//!
//! Where it looks: `$USMOE_LIB_DIR` if set, else `<manifest>/../../build`
//! (the repository's default CMake build directory).
//!
//! * default: links `libusmoe.so` and adds an rpath to it for this package's
//!   own tests, examples and doc-tests. The rpath does NOT reach dependent
//!   crates: they read `DEP_USMOE_LIB_DIR` (emitted here as `cargo:lib_dir=`)
//!   and add their own `-Wl,-rpath`, or set `LD_LIBRARY_PATH`, or use the
//!   `static` feature.
//! * feature `static`: links `libusmoe.a` and the shared libraries it needs
//!   (hwy, gomp, stdc++, and dnnl when `CMakeCache.txt` in that directory says
//!   the library was built with oneDNN).
//!
//! Also emitted for dependents: `cargo:include=` (the directory holding
//! `usmoe/usmoe.h`, when found).
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=USMOE_LIB_DIR");
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    println!("cargo:rerun-if-changed=build.rs");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let repo = manifest.join("..").join("..");
    let (lib_dir, from_env) = match env::var_os("USMOE_LIB_DIR") {
        Some(d) if !d.is_empty() => (PathBuf::from(d), true),
        _ => (repo.join("build"), false),
    };
    let lib_dir = lib_dir.canonicalize().unwrap_or(lib_dir);
    let include_dir = repo.join("include");
    let include_dir = include_dir.canonicalize().unwrap_or(include_dir);

    // docs.rs-style documentation builds need no library.
    if env::var_os("DOCS_RS").is_some() {
        return;
    }

    let want_static = env::var_os("CARGO_FEATURE_STATIC").is_some();
    let file = if want_static {
        "libusmoe.a"
    } else {
        "libusmoe.so"
    };
    let lib = lib_dir.join(file);
    println!("cargo:rerun-if-changed={}", lib.display());
    if !lib.exists() {
        let source = if from_env {
            "USMOE_LIB_DIR".to_string()
        } else {
            "the default build directory <crate>/../../build (USMOE_LIB_DIR is not set)".to_string()
        };
        let target = if want_static { "usmoe_static" } else { "usmoe" };
        let repo_shown = repo.canonicalize().unwrap_or(repo.clone());
        eprintln!(
            "\n\nusmoe: {file} not found in {dir}\n  (looked there because of {source}).\n\
             Build the C library first, from the repository root ({repo}):\n\
             \x20   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release\n\
             \x20   cmake --build build -j --target {target}\n\
             or point USMOE_LIB_DIR at the directory that holds {file}:\n\
             \x20   USMOE_LIB_DIR=/path/to/build cargo build\n\n",
            dir = lib_dir.display(),
            repo = repo_shown.display(),
        );
        std::process::exit(1);
    }

    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    if want_static {
        println!("cargo:rustc-link-lib=static=usmoe");
        let mut deps = vec!["hwy"];
        if built_with_onednn(&lib_dir) {
            deps.push("dnnl");
        }
        deps.extend(["gomp", "stdc++", "m"]);
        for l in deps {
            println!("cargo:rustc-link-lib=dylib={l}");
        }
    } else {
        println!("cargo:rustc-link-lib=dylib=usmoe");
        // Applies to this package's tests, examples, benches and doc-tests only.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    }
    // Read by dependents as DEP_USMOE_LIB_DIR / DEP_USMOE_INCLUDE.
    println!("cargo:lib_dir={}", lib_dir.display());
    if include_dir.join("usmoe").join("usmoe.h").exists() {
        println!("cargo:include={}", include_dir.display());
    }
}

/// Whether the CMake build in `dir` linked oneDNN (`USMOE_WITH_ONEDNN:BOOL=ON`
/// in its `CMakeCache.txt`). Without a cache, assume it did when a system
/// libdnnl is visible to the linker's usual paths.
fn built_with_onednn(dir: &Path) -> bool {
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("CMakeCache.txt").display()
    );
    if let Ok(cache) = fs::read_to_string(dir.join("CMakeCache.txt")) {
        for line in cache.lines() {
            if let Some(v) = line.strip_prefix("USMOE_WITH_ONEDNN:BOOL=") {
                return matches!(
                    v.trim().to_ascii_uppercase().as_str(),
                    "ON" | "1" | "TRUE" | "YES"
                );
            }
        }
        return false;
    }
    [
        "/usr/lib/x86_64-linux-gnu/libdnnl.so",
        "/usr/lib/aarch64-linux-gnu/libdnnl.so",
        "/usr/lib/libdnnl.so",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
}

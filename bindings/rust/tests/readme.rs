//! The README's Rust example is the crate's first doc-test (which compiles
//! and runs it): the first ```rust block after a line containing
//! "Rust example" in the repository's README.md must appear verbatim in the
//! crate docs of src/lib.rs. Skipped when the README has no such block.
use std::path::PathBuf;

fn readme_block(readme: &str) -> Option<String> {
    let mut lines = readme.lines().skip_while(|l| !l.contains("Rust example"));
    lines.next()?;
    let mut lines = lines.skip_while(|l| l.trim() != "```rust");
    lines.next()?;
    let body: Vec<&str> = lines.take_while(|l| l.trim() != "```").collect();
    Some(body.join("\n"))
}

fn crate_docs(lib_rs: &str) -> String {
    lib_rs
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            if l == "//!" {
                Some("")
            } else {
                l.strip_prefix("//! ")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn readme_rust_example_is_a_doc_test() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Ok(readme) = std::fs::read_to_string(root.join("../../README.md")) else {
        eprintln!("skipped: no README.md at the repository root");
        return;
    };
    let Some(block) = readme_block(&readme) else {
        eprintln!("skipped: README.md has no ```rust block after a \"Rust example\" line");
        return;
    };
    assert!(!block.trim().is_empty(), "empty Rust example in README.md");
    let docs = crate_docs(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap());
    assert!(
        docs.contains(&block),
        "README.md's Rust example is not in the crate docs of src/lib.rs (so it is not tested):\n{block}"
    );
}

#[test]
fn extraction_works_on_a_sample() {
    let sample =
        "# x\n## Rust example\ntext\n```rust\nlet a = 1;\nlet b = 2;\n```\n```rust\nother\n```\n";
    assert_eq!(
        readme_block(sample).as_deref(),
        Some("let a = 1;\nlet b = 2;")
    );
    assert_eq!(readme_block("no example here"), None);
    let docs =
        crate_docs("//! # T\n//!\n//! ```\n//! let a = 1;\n//! let b = 2;\n//! ```\nfn f() {}\n");
    assert!(docs.contains("let a = 1;\nlet b = 2;"));
}

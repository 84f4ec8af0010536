//! Command-line surface: help generated from the flag table, kept in docs/flags.md.

mod common;

use common::*;

fn flags_doc(help: &str) -> String {
    format!(
        "# Flags\n\nGenerated from the flag table (`crates/args/src/defs.rs`) by `nanobragg -h`; \
         `NANOBRAGG_BLESS=1 cargo test --release --test cli` rewrites this file.\n\n```text\n{help}```\n"
    )
}

#[test]
fn help_is_generated_and_documented() {
    let out = nanobragg(std::path::Path::new("."), &strings(&["-h"]));
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["-hkl", "-mosaic_domains", "-twotheta_axis", "-c_parity", "-engine", "-pngfile", "-oversample_omega"] {
        assert!(help.contains(flag), "help lacks {flag}");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/flags.md");
    let want = flags_doc(&help);
    if std::env::var_os("NANOBRAGG_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), want, "docs/flags.md is stale: rerun with NANOBRAGG_BLESS=1");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = nanobragg(dir.path(), &strings(&["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "1", "-frobnicate"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-frobnicate") && !err.contains("panicked"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no output may be written");
}

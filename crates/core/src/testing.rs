//! Support for the crates' own tests (not part of the API): where the golden corpus is.

use std::path::{Path, PathBuf};

/// The golden corpus for tests: `$NANOBRAGG_GOLDEN`, else `../shared/golden` beside the repository. Absent
/// corpus → loud message and `None`, so the calling test skips; but under CI (`CI`) or
/// `NANOBRAGG_REQUIRE_GOLDEN` an absent corpus is a failure, since a skipped golden check
/// passes vacuously (tests/common/mod.rs applies the same rule to the integration tests).
pub fn golden_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NANOBRAGG_GOLDEN") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"),
    };
    let on = |name: &str| std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"));
    golden_decision(&dir, on("CI") || on("NANOBRAGG_REQUIRE_GOLDEN")).unwrap_or_else(|msg| panic!("{msg}"))
}

/// The corpus at `dir` if it is there; otherwise `None` with a loud message, or the failure
/// message when the corpus is required.
fn golden_decision(dir: &Path, required: bool) -> std::result::Result<Option<PathBuf>, String> {
    if dir.is_dir() {
        Ok(Some(dir.to_path_buf()))
    } else if required {
        Err(format!("golden corpus not found at {} and CI / NANOBRAGG_REQUIRE_GOLDEN is set: the golden comparisons cannot run", dir.display()))
    } else {
        eprintln!("!!!!! golden corpus not found at {} — SKIPPING golden comparison !!!!!", dir.display());
        Ok(None)
    }
}

#[cfg(test)]
#[test]
fn missing_golden_corpus_fails_only_when_required() {
    let absent = Path::new("/nonexistent/golden-corpus");
    assert_eq!(golden_decision(absent, false), Ok(None));
    let msg = golden_decision(absent, true).unwrap_err();
    assert!(msg.contains("/nonexistent/golden-corpus") && msg.contains("NANOBRAGG_REQUIRE_GOLDEN"), "{msg}");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(golden_decision(here, true), Ok(Some(here.to_path_buf())));
}

/// The experiment of a short nanoBragg.c-style command line, for the unit tests of the parts
/// (the crate knows no command line: each flag here is its builder method, given the numbers
/// as typed, and only the flags the tests use are known; anything else panics, as does a
/// value the builder refuses).
#[cfg(test)]
pub(crate) fn params(words: &str) -> crate::params::ExperimentParams {
    use crate::params::{ExperimentParams, Mode, XtalShape};
    let words: Vec<&str> = words.split_whitespace().collect();
    let mut p = ExperimentParams::c_initial(Mode::Default, -1);
    if words.contains(&"-c_parity") {
        p.mode(Mode::CParity);
    }
    let mut i = 0;
    while i < words.len() {
        let flag = words[i];
        let n = |k: usize| -> f64 { words[i + k].parse().unwrap_or_else(|_| panic!("{}: not a number", words[i + k])) };
        let c = |k: usize| -> i64 { words[i + k].parse().unwrap_or_else(|_| panic!("{}: not a whole number", words[i + k])) };
        let (set, used) = match flag {
            "-c_parity" => (Ok(&mut p), 0),
            "-cell" => (p.cell([n(1), n(2), n(3), n(4), n(5), n(6)]), 6),
            "-N" => (p.n_cells(c(1)), 1),
            "-Na" => (p.na(c(1)), 1),
            "-Nb" => (p.nb(c(1)), 1),
            "-Nc" => (p.nc(c(1)), 1),
            "-misset" => (p.misset([n(1), n(2), n(3)]), 3),
            "-default_F" => (p.default_f(n(1)), 1),
            "-round_xtal" => (Ok(p.xtal_shape(XtalShape::Round)), 0),
            "-gauss_xtal" => (Ok(p.xtal_shape(XtalShape::Gauss)), 0),
            "-tophat_spots" => (Ok(p.xtal_shape(XtalShape::Tophat)), 0),
            "-mosaic" => (p.mosaic(n(1)), 1),
            "-mosaic_dom" | "-mosaic_domains" => (p.mosaic_domains(c(1)), 1),
            "-water" => (p.water(n(1)), 1),
            "-dmin" => (p.dmin(n(1)), 1),
            "-lambda" => (p.lambda(n(1)), 1),
            "-fluence" => (p.fluence(n(1)), 1),
            "-polar" => (p.polar(n(1)), 1),
            "-divergence" => (p.divergence(n(1)), 1),
            "-divsteps" => (p.divsteps(c(1)), 1),
            "-dispersion" => (p.dispersion(n(1)), 1),
            "-dispsteps" => (p.dispsteps(c(1)), 1),
            "-distance" => (p.distance(n(1)), 1),
            "-detpixels" => (p.detpixels(c(1)), 1),
            "-pixel" => (p.pixel(n(1)), 1),
            "-twotheta" => (p.twotheta(n(1)), 1),
            "-detector_rotx" => (p.detector_rotx(n(1)), 1),
            "-detector_thick" => (p.detector_thick(n(1)), 1),
            "-detector_abs" => (p.detector_abs(n(1)), 1),
            "-detector_thicksteps" => (p.detector_thicksteps(c(1)), 1),
            "-curved_det" => (Ok(p.curved_det(true)), 0),
            "-roi" => (p.roi([c(1), c(2), c(3), c(4)]), 4),
            "-oversample" => (Ok(p.oversample(c(1))), 1),
            "-oversample_thick" => (Ok(p.oversample_thick(true)), 0),
            "-oversample_polar" => (Ok(p.oversample_polar(true)), 0),
            "-oversample_omega" => (Ok(p.oversample_omega(true)), 0),
            "-phi" => (p.phi(n(1)), 1),
            "-osc" => (p.osc(n(1)), 1),
            "-phisteps" => (p.phisteps(c(1)), 1),
            "-seed" => (Ok(p.seed(c(1))), 1),
            other => panic!("testing::params does not know {other}"),
        };
        if let Err(e) = set {
            panic!("testing::params: {flag}: {}", e.reason);
        }
        i += 1 + used;
    }
    p
}

/// The plan of `params(words)` with no input files.
#[cfg(test)]
pub(crate) fn plan(words: &str) -> crate::engine::plan::Plan {
    let exp = crate::model::resolve(&params(words), &Default::default(), &Default::default(), &mut Vec::new()).expect("test experiment resolves");
    crate::engine::plan::Plan::new(&exp)
}

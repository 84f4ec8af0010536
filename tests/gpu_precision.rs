//! `-gpu_precision` through the program: a forced variant is the one that runs (the report
//! line names it) and agrees with the CPU engine on golden cases; `auto` measures once,
//! records its choice in the cache folder and reuses it; a damaged record is measured again;
//! an adapter without f64 asked for f64 gets one clear error.

mod gpu_support;

use gpu_support::{Agreement, Variant, golden_cases, golden_dir, gpu_available, shout};
use std::path::Path;
use std::process::Output;

fn nanobragg(dir: &Path, args: &[String], cache: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(args)
        .current_dir(dir)
        .env("NANOBRAGG_CACHE_DIR", cache)
        .output()
        .expect("run nanobragg")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The "GPU engine: …" report line.
fn engine_line(out: &Output) -> String {
    let stdout = text(&out.stdout);
    stdout.lines().find(|l| l.starts_with("GPU engine: ")).unwrap_or_else(|| panic!("no GPU engine line in:\n{stdout}")).to_string()
}

fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The case's command with its own output flags replaced by a float image `out`.
fn command(args: &[String], out: &str, extra: &[&str]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-floatfile" || a == "-intfile" {
            it.next();
            continue;
        }
        kept.push(a.clone());
    }
    kept.extend(["-c_parity", "-floatfile", out, "-nopgm"].map(String::from));
    kept.extend(extra.iter().map(|s| s.to_string()));
    kept
}

#[test]
fn forced_variants_run_and_agree_with_the_cpu_engine_on_golden_cases() {
    let test = "forced_variants_run_and_agree_with_the_cpu_engine_on_golden_cases";
    let Some(root) = golden_dir(test) else { return };
    if !gpu_available(test) {
        return;
    }
    let cases = golden_cases(&root);
    for name in ["a05", "a38", "a66"] {
        let case = cases.iter().find(|c| c.name.starts_with(name)).unwrap_or_else(|| panic!("no golden case {name}"));
        let tmp = tempfile::tempdir().unwrap();
        for f in &case.local_inputs {
            std::fs::copy(case.dir.join(f), tmp.path().join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
        }
        let cache = tmp.path().join("cache");
        let cpu = nanobragg(tmp.path(), &command(&case.args, "cpu.bin", &["-engine", "cpu"]), &cache);
        assert!(cpu.status.success(), "{name} cpu: {}", text(&cpu.stderr));
        let cpu = floats(&tmp.path().join("cpu.bin"));
        for (flag, variant) in [("f64", Variant::F64), ("df", Variant::DoubleFloat)] {
            if !variant.available(test) {
                continue;
            }
            let out = format!("{flag}.bin");
            let run = nanobragg(tmp.path(), &command(&case.args, &out, &["-engine", "gpu", "-gpu_precision", flag]), &cache);
            assert!(run.status.success(), "{name} -gpu_precision {flag}: {}", text(&run.stderr));
            let line = engine_line(&run);
            assert!(line.ends_with(&format!(", {}, forced)", variant.name())), "{name} -gpu_precision {flag}: {line}");
            let agreement = Agreement::measure(&cpu, &floats(&tmp.path().join(&out)));
            let fpixels = (cpu.len() as f64).sqrt() as usize; // the three cases are square
            eprintln!("{name} -gpu_precision {flag}: {}", agreement.describe(fpixels));
            assert!(agreement.passes(), "{name} -gpu_precision {flag} fails the acceptance bounds: {}", agreement.describe(fpixels));
            assert!(agreement.passes_gate(&variant.gate()), "{name} -gpu_precision {flag} fails its gate: {}", agreement.describe(fpixels));
        }
    }
}

/// The record's one file in `cache`.
fn record_file(cache: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(cache)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("gpu-variant-"))).collect())
        .unwrap_or_default();
    assert_eq!(files.len(), 1, "one variant record expected in {}: {files:?}", cache.display());
    files[0].clone()
}

#[test]
fn auto_records_its_choice_and_reuses_it_without_measuring_again() {
    let test = "auto_records_its_choice_and_reuses_it_without_measuring_again";
    if !gpu_available(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let args: Vec<String> = "-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 16 -engine gpu -gpu_precision auto -floatfile out.bin"
        .split_whitespace()
        .map(String::from)
        .collect();
    let first = nanobragg(tmp.path(), &args, &cache);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let line = engine_line(&first);
    let record = record_file(&cache);
    assert!(line.contains(", auto: ") && line.contains(&format!("recorded in {}", record.display())), "{line}");
    let content = std::fs::read_to_string(&record).unwrap();
    let choice = content.lines().find_map(|l| l.strip_prefix("choice = ")).unwrap_or_else(|| panic!("no choice in:\n{content}")).to_string();
    assert!(content.starts_with("# nanobragg GPU kernel variant choice"), "{content}");
    assert!(content.lines().any(|l| l.starts_with("adapter = ")) && content.lines().any(|l| l.starts_with("kernel = ")), "{content}");
    // every offered variant was measured (or says why it was not used), the chosen one timed
    assert!(content.lines().any(|l| l.starts_with(&format!("{choice} = ")) && l.ends_with(" s")), "{content}");
    assert!(line.contains(&format!(", {choice}, auto: ")), "the report names another variant than the record: {line}\n{content}");
    if line.contains("fastest in calibration") {
        assert!(content.contains("\nf64 = ") && content.contains("\ndouble-float = "), "{content}");
    } else {
        shout(&format!("{test}: only one variant usable here: {line}"));
    }
    let image = std::fs::read(tmp.path().join("out.bin")).unwrap();

    let second = nanobragg(tmp.path(), &args, &cache);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let line = engine_line(&second);
    assert!(line.contains(&format!(", {choice}, auto: from cache {}", record.display())), "{line}");
    assert_eq!(std::fs::read_to_string(&record).unwrap(), content, "the second run measured again");
    assert_eq!(std::fs::read(tmp.path().join("out.bin")).unwrap(), image);

    // a damaged record is ignored, measured again and replaced; never fatal
    std::fs::write(&record, b"\x00 not a record\n").unwrap();
    let third = nanobragg(tmp.path(), &args, &cache);
    assert!(third.status.success(), "{}", text(&third.stderr));
    let line = engine_line(&third);
    assert!(!line.contains("from cache") && line.contains("recorded in"), "{line}");
    assert!(std::fs::read_to_string(&record).unwrap().contains("\nchoice = "), "the damaged record was not replaced");

    // -quiet prints no report, but the choice is still reused
    let quiet = nanobragg(tmp.path(), &[args.clone(), vec!["-quiet".into()]].concat(), &cache);
    assert!(quiet.status.success() && !text(&quiet.stdout).contains("GPU engine"), "{}", text(&quiet.stdout));
}

#[test]
fn f64_on_an_adapter_without_it_is_one_clear_error() {
    let test = "f64_on_an_adapter_without_it_is_one_clear_error";
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<String> =
        "-cell 50 50 50 90 90 90 -default_F 10 -detpixels 4 -engine gpu -backend gl -gpu_precision f64 -floatfile out.bin".split_whitespace().map(String::from).collect();
    let out = nanobragg(tmp.path(), &args, &tmp.path().join("cache"));
    let stderr = text(&out.stderr);
    if stderr.contains("no GPU adapter found") {
        // wgpu offers SHADER_F64 on Vulkan only: GL is the adapter without it that CI has
        shout(&format!("{test}: SKIPPED, no GL adapter here: {}", stderr.trim()));
        return;
    }
    assert!(!out.status.success(), "f64 on GL succeeded: {}", text(&out.stdout));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !l.contains("XDG_RUNTIME_DIR")).collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{stderr}");
    assert!(lines[0].contains("no 64-bit float support (SHADER_F64)") && lines[0].contains("-gpu_precision df"), "{}", lines[0]);
    assert!(!tmp.path().join("out.bin").exists(), "an output was written");
}

#[test]
fn a_bad_gpu_precision_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<String> = "-cell 50 50 50 90 90 90 -default_F 10 -detpixels 4 -gpu_precision f32".split_whitespace().map(String::from).collect();
    let out = nanobragg(tmp.path(), &args, &tmp.path().join("cache"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("-gpu_precision: value 'f32' must be auto, f64 or df"), "{}", text(&out.stderr));
}

/// `nanobragg bench` has the kernel-only column: numbers for the GPU where the adapter writes
/// timestamps (lavapipe does), no longer than the whole render; `n/a` for the CPU engine.
#[test]
fn bench_reports_the_kernel_time_where_timestamps_exist() {
    let test = "bench_reports_the_kernel_time_where_timestamps_exist";
    if !gpu_available(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<String> = "bench --engine all --size small --runs 1".split_whitespace().map(String::from).collect();
    let out = nanobragg(tmp.path(), &args, &tmp.path().join("cache"));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let header = stdout.lines().find(|l| l.starts_with("work ")).unwrap_or_else(|| panic!("no header:\n{stdout}"));
    let columns: Vec<&str> = header.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert!(header.contains("kernel s") && header.contains("render s") && header.contains("process s"), "{header}");
    assert_eq!(header.matches("term/s").count(), 3, "{header}: {columns:?}");
    let mut gpu_rows = 0;
    for row in stdout.lines().filter(|l| l.starts_with('W') && !l.contains("skipped")) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells.len(), 9, "{row}");
        match cells[1] {
            "cpu" => assert_eq!((cells[2], cells[3]), ("n/a", "n/a"), "{row}"),
            "gpu" => {
                gpu_rows += 1;
                if cells[2] == "n/a" {
                    shout(&format!("{test}: this adapter writes no timestamps: {row}"));
                } else {
                    let (kernel, render): (f64, f64) = (cells[2].parse().unwrap(), cells[4].parse().unwrap());
                    assert!(kernel > 0.0 && kernel <= render * 1.01, "kernel {kernel} s, render {render} s: {row}");
                }
            }
            other => panic!("engine {other}: {row}"),
        }
    }
    assert_eq!(gpu_rows, 4, "{stdout}");
}

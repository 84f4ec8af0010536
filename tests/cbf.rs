//! miniCBF output (`-cbffile`) through the real binary and through readers nobody here wrote:
//! fabio (and pycbf, CBFlib's own bindings, when installed) must return exactly our pixel
//! values; the header must parse the way DIALS's dxtbx (FormatCBFMini) parses it. The Python
//! readers come from `NANOBRAGG_PYTHON`; without it the reader checks are skipped loudly, and
//! fail under `CI` or `NANOBRAGG_REQUIRE_PYTHON`.

use nanobragg::io::cbf::{self, CbfHeader};
use nanobragg::rng::Ran1;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn switch_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

fn shout(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n!!!!! {msg}\n");
}

/// The Python with `module`, or None after a loud message (a panic when Python is required).
fn python_with(module: &str) -> Option<PathBuf> {
    let required = switch_on("CI") || switch_on("NANOBRAGG_REQUIRE_PYTHON");
    let missing = |why: String| {
        if required {
            panic!("{why}, and CI / NANOBRAGG_REQUIRE_PYTHON is set: the CBF reader checks cannot run");
        }
        shout(&format!("SKIPPED: {why} (CI or NANOBRAGG_REQUIRE_PYTHON=1 makes this a failure)"));
        None
    };
    let Some(python) = std::env::var_os("NANOBRAGG_PYTHON").map(PathBuf::from) else {
        return missing("NANOBRAGG_PYTHON is not set".into());
    };
    let probe = Command::new(&python).args(["-c", &format!("import {module}")]).output();
    match probe {
        Ok(o) if o.status.success() => Some(python),
        Ok(o) => missing(format!("{} cannot import {module}: {}", python.display(), String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => missing(format!("cannot run {}: {e}", python.display())),
    }
}

/// Reads every CBF in `files` with fabio (and pycbf when `with_pycbf`), writing each reader's
/// pixels as little-endian i32 to `<file>.fabio` / `<file>.pycbf`, and checks each file's
/// Content-MD5 against the binary section fabio extracts (fabio itself only logs a mismatch).
const READERS: &str = r#"
import base64, hashlib, sys
import numpy, fabio
with_pycbf = sys.argv[1] == "1"
if with_pycbf:
    import pycbf
for path in sys.argv[2:]:
    img = fabio.open(path)
    numpy.ascontiguousarray(img.data, dtype="<i4").tofile(path + ".fabio")
    raw = fabio.cbfimage.CbfImage().read(path, only_raw=True)
    digest = base64.b64encode(hashlib.md5(raw).digest()).decode()
    assert img.header["Content-MD5"] == digest, (path, img.header["Content-MD5"], digest)
    assert img.header["X-Binary-Element-Type"].strip('"') == "signed 32-bit integer", img.header
    if with_pycbf:
        h = pycbf.cbf_handle_struct()
        h.read_widefile(path.encode(), pycbf.MSG_DIGEST)
        h.find_category(b"array_data")
        h.find_column(b"header_convention")
        convention = h.get_value()
        convention = convention.decode() if isinstance(convention, bytes) else convention
        assert convention == "GENERIC_MINI", convention
        h.find_column(b"data")
        p = h.get_integerarrayparameters_wdims_fs()
        compression, elsize, elsigned, elements, fast, mid = p[0], p[2], p[3], p[5], p[9], p[10]
        assert (compression, elsize, elsigned) == (pycbf.CBF_BYTE_OFFSET, 4, 1), p
        assert (fast, mid) == img.data.shape[::-1], (p, img.data.shape)
        data = h.get_integerarray_as_string()
        numpy.frombuffer(data, dtype="<i4", count=elements).tofile(path + ".pycbf")
print("read", len(sys.argv) - 2, "files")
"#;

/// What fabio (and pycbf) read from each file, or None when Python is unavailable.
fn read_with_python(files: &[PathBuf]) -> Option<Vec<(Vec<i32>, Option<Vec<i32>>)>> {
    let python = python_with("fabio")?;
    let has_pycbf = Command::new(&python).args(["-c", "import pycbf"]).output().is_ok_and(|o| o.status.success());
    if !has_pycbf {
        shout("pycbf is not installed with NANOBRAGG_PYTHON: the CBF files are checked with fabio only");
    }
    let out = Command::new(&python)
        .arg("-c")
        .arg(READERS)
        .arg(if has_pycbf { "1" } else { "0" })
        .args(files)
        .output()
        .expect("run python");
    assert!(out.status.success(), "the Python readers failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let ints = |p: PathBuf| fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect::<Vec<i32>>();
    let with = |f: &Path, ext: &str| PathBuf::from(format!("{}.{ext}", f.display()));
    Some(files.iter().map(|f| (ints(with(f, "fabio")), has_pycbf.then(|| ints(with(f, "pycbf"))))).collect())
}

/// The header as dxtbx's FormatCBFMini reads it: every `#` line of the text before the binary
/// section; a line of at most two words holding two colons is the timestamp; otherwise the
/// second word (after dropping `=` and `:`) is the key and the rest, space-joined, the value.
fn dxtbx_style_header(text: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for record in text.split('\n').filter(|r| r.starts_with('#')) {
        if record[1..].split_whitespace().count() <= 2 && record.matches(':').count() == 2 {
            fields.insert("timestamp".to_string(), record[1..].trim().to_string());
            continue;
        }
        let cleaned = record.replace(['=', ':'], "");
        let tokens: Vec<&str> = cleaned.split_whitespace().collect();
        if tokens.len() >= 2 {
            fields.insert(tokens[1].to_string(), tokens[2..].join(" "));
        }
    }
    fields
}

/// dxtbx's readings of the models it builds: pixel size (m), distance (mm), wavelength (Å),
/// beam centre (pixels), start angle and increment (deg), exposure (s), sensor thickness (mm),
/// overload; with the timestamp checked for dxtbx's `%Y-%m-%dT%H:%M:%S.mmm` form.
struct DxtbxReading {
    pixel_m: (f64, f64),
    distance_mm: f64,
    wavelength_a: f64,
    beam_px: (f64, f64),
    start_deg: f64,
    increment_deg: f64,
    exposure_s: f64,
    thickness_mm: Option<f64>,
    overload: f64,
}

fn dxtbx_reading(text: &str) -> DxtbxReading {
    let h = dxtbx_style_header(text);
    let get = |k: &str| h.get(k).unwrap_or_else(|| panic!("no {k} in the header:\n{text}")).clone();
    let first = |k: &str| get(k).split_whitespace().next().unwrap().parse::<f64>().unwrap_or_else(|e| panic!("{k}: {e}"));
    let pixel: Vec<f64> = get("Pixel_size").replace(['m', 'x'], "").split_whitespace().map(|v| v.parse().unwrap()).collect();
    let beam: Vec<f64> = get("Beam_xy").replace(['(', ')', ','], "").split_whitespace().take(2).map(|v| v.parse().unwrap()).collect();
    let stamp = get("timestamp");
    let shape: String = stamp.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
    assert_eq!(shape, "9999-99-99T99:99:99.999", "timestamp {stamp}");
    DxtbxReading {
        pixel_m: (pixel[0], pixel[1]),
        distance_mm: first("Detector_distance") * 1000.0,
        wavelength_a: first("Wavelength"),
        beam_px: (beam[0], beam[1]),
        start_deg: first("Start_angle"),
        increment_deg: first("Angle_increment"),
        exposure_s: first("Exposure_period"),
        thickness_mm: h.get("Silicon").map(|v| v.split_whitespace().nth(2).unwrap().parse::<f64>().unwrap() * 1000.0),
        overload: first("Count_cutoff"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// Random images whose neighbouring pixels differ by amounts in every byte-offset width
/// (up to ±127, ±32767, ±2³¹ and beyond, which the 32-bit steps wrap), of several shapes.
fn random_images() -> Vec<(usize, usize, Vec<i32>)> {
    let mut rng = Ran1::new(-2026);
    let mut uniform = move |span: f64| ((f64::from(rng.next()) - 0.5) * 2.0 * span) as i64;
    [(1usize, 1usize), (7, 5), (64, 48), (333, 17)]
        .into_iter()
        .map(|(f, s)| {
            let mut value = 0i64;
            let pixels = (0..f * s)
                .map(|i| {
                    let span = [100.0, 127.0, 128.0, 30_000.0, 32_767.0, 40_000.0, 2.0e9, 4.0e9][i % 8];
                    value = (value + uniform(span)).clamp(i32::MIN.into(), i32::MAX.into());
                    value as i32
                })
                .collect();
            (f, s, pixels)
        })
        .collect()
}

fn header(f: usize, s: usize) -> CbfHeader {
    CbfHeader {
        fpixels: f,
        spixels: s,
        pixel_size_m: 172e-6,
        distance_m: 0.2,
        wavelength_a: 0.9793,
        beam_xy_px: (f as f64 / 2.0, s as f64 / 2.0),
        start_angle_deg: -5.0,
        angle_increment_deg: 0.25,
        exposure_s: 0.1,
        silicon_thickness_m: Some(450e-6),
        timestamp: cbf::timestamp(std::time::SystemTime::now()),
    }
}

#[test]
fn random_images_round_trip_through_our_decoder_fabio_and_pycbf() {
    let dir = tempfile::tempdir().unwrap();
    let images = random_images();
    let mut files = Vec::new();
    for (i, (f, s, pixels)) in images.iter().enumerate() {
        let steps: Vec<i64> = pixels.windows(2).map(|w| i64::from(w[1]) - i64::from(w[0])).collect();
        if pixels.len() > 1000 {
            for (lo, hi) in [(0, 127), (128, 32767), (32768, i64::from(i32::MAX)), (i64::from(i32::MAX) + 1, i64::MAX)] {
                assert!(steps.iter().any(|d| (lo..=hi).contains(&d.abs())), "image {i} lacks steps of {lo}..={hi}");
            }
        }
        let bytes = cbf::encode_cbf(&header(*f, *s), pixels);
        let path = dir.path().join(format!("random_{i}.cbf"));
        fs::write(&path, &bytes).unwrap();
        let ours = cbf::read_cbf(&path).unwrap();
        assert_eq!((ours.fpixels, ours.spixels), (*f, *s));
        assert!(ours.pixels == *pixels, "image {i}: our decoder differs");
        files.push(path);
    }
    let Some(read) = read_with_python(&files) else { return };
    for (i, ((fabio, pycbf), (_, _, pixels))) in read.iter().zip(&images).enumerate() {
        assert!(fabio == pixels, "image {i}: fabio reads other values");
        if let Some(pycbf) = pycbf {
            assert!(pycbf == pixels, "image {i}: pycbf reads other values");
        }
    }
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A small bright render: a 4 Å cubic cell, 40 × 48 pixels, MOSFLM beam centre off the
    /// middle; the fluence makes the brightest pixels exceed 16 bits.
    fn run(&self, extra: &str) -> Output {
        let args = format!(
            "-cell 40 40 40 90 90 90 -N 5 -default_F 1000 -lambda 0.98 -distance 120 -pixel 0.172 -detpixels_f 40 -detpixels_s 48 \
             -Xbeam 4.3 -Ybeam 3.1 -phi 10 -osc 0.5 -exposure 0.2 -fluence 1e30 -engine cpu -nopgm -floatfile float.bin -intfile int.img {extra}"
        );
        Command::new(env!("CARGO_BIN_EXE_nanobragg"))
            .args(args.split_whitespace())
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("run nanobragg")
    }

    fn ok(&self, extra: &str) {
        let out = self.run(extra);
        assert!(out.status.success(), "nanobragg {extra} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }

    fn floats(&self, name: &str) -> Vec<f32> {
        fs::read(self.path(name)).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }
}

#[test]
fn the_binary_writes_unclipped_counts_and_a_header_dxtbx_reads() {
    let case = Case::new();
    case.ok("-nonoise -detector_thick 450 -cbffile plain.cbf");
    let floats = case.floats("float.bin");
    let plain = cbf::read_cbf(&case.path("plain.cbf")).unwrap();
    assert_eq!((plain.fpixels, plain.spixels), (40, 48));
    assert_eq!(plain.pixels, cbf::photon_counts(&floats), "the float image, rounded");
    assert!(plain.pixels.iter().any(|&v| v > 65535), "bright enough to test the 16-bit limit: max {:?}", plain.pixels.iter().max());

    let seen = dxtbx_reading(&plain.header_text);
    assert!(close(seen.pixel_m.0, 172e-6) && close(seen.pixel_m.1, 172e-6), "{:?}", seen.pixel_m);
    assert!(close(seen.distance_mm, 120.0), "{}", seen.distance_mm);
    assert!(close(seen.wavelength_a, 0.98), "{}", seen.wavelength_a);
    // MOSFLM: -Xbeam runs along slow, -Ybeam along fast, pixel centres at half a pixel
    let want_beam = (3.1 / 0.172 + 0.5, 4.3 / 0.172 + 0.5);
    assert!(close(seen.beam_px.0, want_beam.0) && close(seen.beam_px.1, want_beam.1), "{:?} vs {want_beam:?}", seen.beam_px);
    assert!(close(seen.start_deg, 10.0) && close(seen.increment_deg, 0.5), "{} {}", seen.start_deg, seen.increment_deg);
    assert!(close(seen.exposure_s, 0.2));
    assert!(close(seen.thickness_mm.expect("the Silicon sensor line"), 0.45));
    assert_eq!(seen.overload, f64::from(i32::MAX));
    assert!(plain.header_text.contains("_array_data.header_convention \"GENERIC_MINI\"\r\n"));

    // with noise: the noise image's counts, no ADC offset, no 65535 clip
    case.ok("-seed 7 -noisefile noise.img -cbffile noisy.cbf");
    let noisy = cbf::read_cbf(&case.path("noisy.cbf")).unwrap();
    let smv = fs::read(case.path("noise.img")).unwrap();
    let smv_pixels: Vec<u16> = smv[smv.len() - 2 * 40 * 48..].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    let mut clipped = 0;
    for (i, (&count, &adu)) in noisy.pixels.iter().zip(&smv_pixels).enumerate() {
        if adu == 65535 {
            clipped += 1;
            assert!(count >= 65535 - 40, "pixel {i}: {count} counts under a clipped SMV pixel");
        } else {
            assert_eq!(count + 40, i32::from(adu), "pixel {i}");
        }
    }
    assert!(clipped > 0 && noisy.pixels.iter().any(|&v| v > 65535), "the noise image clips where the CBF does not");
    assert!(!noisy.header_text.contains("# Silicon"), "no sensor line without -detector_thick");

    let Some(read) = read_with_python(&[case.path("plain.cbf"), case.path("noisy.cbf")]) else { return };
    for ((fabio, pycbf), ours) in read.iter().zip([&plain.pixels, &noisy.pixels]) {
        assert!(fabio == ours, "fabio reads other values");
        if let Some(pycbf) = pycbf {
            assert!(pycbf == ours, "pycbf reads other values");
        }
    }
}

/// A 10-frame rotation series written as CBF through a `#` template: ten files, each the
/// frame's rounded float image, with the frame's own start angle and the increment, and read
/// back exactly by fabio (and pycbf).
#[test]
fn a_series_writes_one_cbf_per_frame_with_its_angles() {
    let case = Case::new();
    case.ok("-nonoise -frames 10 -floatfile f_##.bin -intfile i_##.img -cbffile img_##.cbf");
    let files: Vec<PathBuf> = (1..=10).map(|k| case.path(&format!("img_{k:02}.cbf"))).collect();
    let mut ours = Vec::new();
    for (k, file) in files.iter().enumerate() {
        let frame = cbf::read_cbf(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(frame.pixels, cbf::photon_counts(&case.floats(&format!("f_{:02}.bin", k + 1))), "frame {}", k + 1);
        let seen = dxtbx_reading(&frame.header_text);
        // -phi 10 -osc 0.5: frame k starts at 10 + 0.5·(k − 1)
        let start = 10.0 + 0.5 * k as f64;
        assert!(close(seen.start_deg, start) && close(seen.increment_deg, 0.5), "frame {}: {} {}", k + 1, seen.start_deg, seen.increment_deg);
        ours.push(frame.pixels);
    }
    assert!(ours.windows(2).all(|w| w[0] != w[1]), "the crystal turns from frame to frame");
    let Some(read) = read_with_python(&files) else { return };
    for (k, ((fabio, pycbf), ours)) in read.iter().zip(&ours).enumerate() {
        assert!(fabio == ours, "frame {}: fabio reads other values", k + 1);
        if let Some(pycbf) = pycbf {
            assert!(pycbf == ours, "frame {}: pycbf reads other values", k + 1);
        }
    }
}

#[test]
fn cbf_outputs_follow_the_rules_of_every_output() {
    let case = Case::new();
    fs::create_dir(case.path("folder")).unwrap();
    for (extra, fragment) in [
        ("-nonoise -cbffile folder", "is a directory"),
        ("-nonoise -cbffile float.bin", "already the -floatfile output"),
        ("-nonoise -cbffile missing/x.cbf", "cannot create files there"),
    ] {
        let out = case.run(extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}: must fail");
        assert!(stderr.contains("-cbffile") && stderr.contains(fragment), "{extra}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{extra}: one message: {stderr}");
        assert_eq!(case.names(), ["folder"], "{extra}: nothing written");
    }
}

#[test]
fn damaged_cbf_files_give_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (f, s, pixels) = random_images().swap_remove(2);
    let bytes = cbf::encode_cbf(&header(f, s), &pixels);
    let path = dir.path().join("cut.cbf");
    for keep in [10, bytes.len() / 2, bytes.len() - 4095 - 41] {
        fs::write(&path, &bytes[..keep]).unwrap();
        let message = cbf::read_cbf(&path).unwrap_err().to_string();
        assert!(message.contains("cut.cbf") && (message.contains("truncated") || message.contains("missing")), "{keep}: {message}");
        assert_eq!(message.lines().count(), 1, "{message}");
    }
}

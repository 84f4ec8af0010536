//! NeXus/NXmx output (`-nexusfile`) through the real binary, read back by readers nobody here
//! wrote: h5py must return exactly our pixels (counts equal to the CBF image's, float photons
//! equal to the float image bit for bit), and DIALS's `nxmx` package must parse the file into
//! the geometry, beam and rotation scan the run used. The readers come from
//! `NANOBRAGG_PYTHON`; without it (or without h5py and nxmx there) the checks are skipped
//! loudly, and fail under `CI` or `NANOBRAGG_REQUIRE_PYTHON`. The refusals need no Python.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn switch_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// The Python with h5py and nxmx, or None after a loud message (a panic when required).
fn python() -> Option<PathBuf> {
    let required = switch_on("CI") || switch_on("NANOBRAGG_REQUIRE_PYTHON");
    let missing = |why: String| {
        if required {
            panic!("{why}, and CI / NANOBRAGG_REQUIRE_PYTHON is set: the NeXus reader checks cannot run");
        }
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n!!!!! SKIPPED: {why} (CI or NANOBRAGG_REQUIRE_PYTHON=1 makes this a failure)\n");
        None
    };
    let Some(python) = std::env::var_os("NANOBRAGG_PYTHON").map(PathBuf::from) else {
        return missing("NANOBRAGG_PYTHON is not set".into());
    };
    match Command::new(&python).args(["-c", "import h5py, nxmx"]).output() {
        Ok(o) if o.status.success() => Some(python),
        Ok(o) => missing(format!("{} cannot import h5py and nxmx: {}", python.display(), String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => missing(format!("cannot run {}: {e}", python.display())),
    }
}

/// Reads a NeXus file with h5py and nxmx: the frames go to `<file>.frames` (raw little-endian
/// values of the stored type), everything else is printed as `key value...` lines, lengths in
/// mm, angles in degrees, wavelengths in Å, vectors in the McStas frame.
const READER: &str = r#"
import sys
import h5py, numpy, nxmx

path = sys.argv[1]
out = []
def say(key, *values):
    out.append(" ".join([key] + [repr(float(v)) if not isinstance(v, str) else v for v in values]))

with h5py.File(path, "r") as f:
    data = f["/entry/data/data"]
    say("dtype", data.dtype.str)
    say("shape", *data.shape)
    say("chunks", *data.chunks)
    say("compression", str(data.compression))
    say("same_object", str(f["/entry/instrument/detector/data"].id == data.id))
    data[()].astype(data.dtype.newbyteorder("<")).tofile(path + ".frames")

    nx = nxmx.NXmx(f)
    assert len(nx.entries) == 1, nx.entries
    entry = nx.entries[0]
    say("definition", entry.definition)
    say("start_time", entry.start_time.isoformat())
    say("end_time", entry.end_time.isoformat())
    instrument = entry.instruments[0]
    beam = instrument.beams[0]
    say("wavelength", *numpy.atleast_1d(beam.incident_wavelength.to("angstrom").magnitude))
    if "incident_wavelength_weights" in beam:
        say("weights", *beam["incident_wavelength_weights"][()])
    detector = instrument.detectors[0]
    say("distance", detector.distance.to("mm").magnitude)
    say("beam_center", detector.beam_center_x.magnitude, detector.beam_center_y.magnitude)
    say("sensor", detector.sensor_material, detector.sensor_thickness.to("mm").magnitude)
    say("saturation", detector.saturation_value)
    # the detector's own chain (NXdetector/depends_on) must resolve
    detector_chain = nxmx.get_dependency_chain(detector.depends_on)
    say("detector_chain", *[t.path for t in detector_chain])
    module = detector.modules[0]
    say("data_origin", *module.data_origin)
    say("data_size", *module.data_size)
    fast, slow = module.fast_pixel_direction, module.slow_pixel_direction
    say("pixel_size", fast[()].to("mm").magnitude[0], slow[()].to("mm").magnitude[0])
    # the first pixel's outer corner and the axes, from the module's chain of transformations
    place = nxmx.get_cumulative_transformation(nxmx.get_dependency_chain(fast.depends_on))[0]
    say("origin", *(place @ numpy.array([0.0, 0.0, 0.0, 1.0]))[:3])
    say("fast", *(place[:3, :3] @ fast.vector))
    say("slow", *(place[:3, :3] @ slow.vector))
    sample = entry.samples[0]
    axis = sample.depends_on
    if axis is None:
        say("goniometer", "none")
    else:
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(axis))
        say("goniometer", *axes.names)
        say("rotation_axis", *axes.axes[0])
        say("is_scan", str(bool(axes.is_scan_axis[0])))
        say("omega", *axis[()].to("deg").magnitude)
        say("omega_increment", axis.increment_set.to("deg").magnitude)
        say("omega_end", *axis.end[()].to("deg").magnitude)
print("\n".join(out))
"#;

/// What the readers say about one file.
struct Reading {
    lines: Vec<(String, Vec<String>)>,
    frames: Vec<u8>,
}

impl Reading {
    fn text(&self, key: &str) -> &[String] {
        &self.lines.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no '{key}' in the reading")).1
    }
    fn numbers(&self, key: &str) -> Vec<f64> {
        self.text(key).iter().map(|v| v.parse().unwrap_or_else(|_| panic!("{key}: '{v}' is not a number"))).collect()
    }
    fn vector(&self, key: &str) -> [f64; 3] {
        let v = self.numbers(key);
        [v[0], v[1], v[2]]
    }
    fn ints(&self) -> Vec<i32> {
        self.frames.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }
    fn floats(&self) -> Vec<f32> {
        self.frames.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }
}

fn read(python: &Path, file: &Path) -> Reading {
    let out = Command::new(python).args(["-c", READER]).arg(file).output().expect("run python");
    assert!(out.status.success(), "h5py/nxmx failed on {}:\n{}", file.display(), String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut words = l.split(' ').map(str::to_string);
            (words.next().unwrap_or_default(), words.collect())
        })
        .collect();
    let frames = fs::read(PathBuf::from(format!("{}.frames", file.display()))).unwrap();
    Reading { lines, frames }
}

struct Case {
    dir: tempfile::TempDir,
}

/// A small run: 40 × 48 pixels of 0.172 mm at 120 mm, beam off centre, φ from 10° by 0.5°.
const BASE: &str = "-cell 40 40 40 90 90 90 -N 5 -default_F 1000 -lambda 0.98 -distance 120 -pixel 0.172 -detpixels_f 40 \
                    -detpixels_s 48 -Xbeam 4.3 -Ybeam 3.1 -phi 10 -osc 0.5 -exposure 0.2 -fluence 1e30 -engine cpu -nopgm";

impl Case {
    fn new() -> Case {
        Case { dir: tempfile::tempdir().unwrap() }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn run(&self, args: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nanobragg"))
            .args(args.split_whitespace())
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("run nanobragg")
    }
    fn ok(&self, args: &str) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "nanobragg {args} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn floats(&self, name: &str) -> Vec<f32> {
        fs::read(self.path(name)).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + a.abs().max(b.abs()))
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    assert!(got.iter().zip(want).all(|(g, w)| close(*g, *w, 1e-9)), "{what}: {got:?} vs {want:?}");
}

fn rounded(values: &[f32]) -> Vec<i32> {
    values.iter().map(|&v| (f64::from(v) + 0.5).floor() as i32).collect()
}

#[test]
fn a_ten_frame_series_is_one_file_one_scan_and_exact_pixels() {
    let Some(python) = python() else { return };
    let case = Case::new();
    case.ok(&format!("{BASE} -nonoise -frames 10 -floatfile f_##.bin -intfile i_##.img -nexusfile run.h5"));
    let r = read(&python, &case.path("run.h5"));
    assert_eq!(r.text("dtype"), ["<i4"]);
    assert_eq!(r.numbers("shape"), [10.0, 48.0, 40.0], "frames stacked [n, slow, fast]");
    assert_eq!(r.numbers("chunks"), [1.0, 48.0, 40.0], "one chunk a frame");
    assert_eq!(r.text("compression"), ["gzip"]);
    assert_eq!(r.text("same_object"), ["True"], "NXdata's data is the detector's data set");
    let counts = r.ints();
    for (k, frame) in counts.chunks_exact(40 * 48).enumerate() {
        let image = case.floats(&format!("f_{:02}.bin", k + 1));
        assert!(image.iter().any(|&v| v > 0.5), "frame {} has signal", k + 1);
        assert_eq!(frame, rounded(&image), "frame {}: the counts are the float image rounded", k + 1);
    }
    assert_eq!(r.text("definition"), ["NXmx"]);
    assert!(r.text("start_time")[0] <= r.text("end_time")[0]);

    // the geometry nxmx reports is the one asked for
    assert_close("wavelength", &r.numbers("wavelength"), &[0.98]);
    assert_close("distance", &r.numbers("distance"), &[120.0]);
    assert_close("pixel size", &r.numbers("pixel_size"), &[0.172, 0.172]);
    // MOSFLM convention: the beam is at (Ybeam, Xbeam) + half a pixel along (fast, slow)
    let centre = [(3.1 + 0.086) / 0.172, (4.3 + 0.086) / 0.172];
    assert_close("beam centre", &r.numbers("beam_center"), &centre);
    assert_eq!(r.numbers("data_origin"), [0.0, 0.0]);
    assert_eq!(r.numbers("data_size"), [48.0, 40.0]);
    // where the module geometry puts the beam (McStas +z from the sample) on the detector
    let (o, f, s) = (r.vector("origin"), r.vector("fast"), r.vector("slow"));
    let normal = cross(f, s);
    let hit = dot(o, normal) / normal[2];
    let at = [-o[0], -o[1], hit - o[2]];
    assert_close("beam centre from the module axes", &[dot(at, f) / 0.172, dot(at, s) / 0.172], &centre);
    assert_close("distance from the module axes", &[hit], &[120.0]);
    assert_eq!(r.text("sensor")[0], "Si");

    // one rotation scan of ten frames about the spindle (MOSFLM +z, McStas -x)
    assert_eq!(r.text("goniometer"), ["omega"]);
    assert_eq!(r.text("is_scan"), ["True"]);
    assert_close("rotation axis", &r.numbers("rotation_axis"), &[-1.0, 0.0, 0.0]);
    let starts: Vec<f64> = (0..10).map(|k| 10.0 + 0.5 * k as f64).collect();
    assert_close("omega", &r.numbers("omega"), &starts);
    assert_close("omega increment", &r.numbers("omega_increment"), &[0.5]);
    assert_close("omega end", &r.numbers("omega_end"), &starts.iter().map(|a| a + 0.5).collect::<Vec<_>>());
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

#[test]
fn noise_counts_equal_the_cbf_image_and_float_photons_are_bit_exact() {
    let Some(python) = python() else { return };
    let case = Case::new();
    case.ok(&format!("{BASE} -seed 7 -floatfile float.bin -intfile int.img -noisefile noise.img -cbffile noisy.cbf -nexusfile noisy.h5"));
    let cbf = nanobragg::io::cbf::read_cbf(&case.path("noisy.cbf")).unwrap();
    let r = read(&python, &case.path("noisy.h5"));
    assert_eq!(r.numbers("shape"), [1.0, 48.0, 40.0]);
    assert_eq!(r.ints(), cbf.pixels, "the NeXus counts are the CBF image's (the noise image's photon counts)");
    assert_ne!(r.ints(), rounded(&case.floats("float.bin")), "noise changed the counts");
    // a single rotation image still has its goniometer: one angle
    assert_close("omega", &r.numbers("omega"), &[10.0]);
    assert_eq!(r.text("is_scan"), ["False"]);

    case.ok(&format!("{BASE} -nonoise -floatfile float.bin -intfile int.img -nexusfile float.h5 -nexus_float"));
    let r = read(&python, &case.path("float.h5"));
    assert_eq!(r.text("dtype"), ["<f4"]);
    let stored: Vec<u32> = r.floats().iter().map(|v| v.to_bits()).collect();
    let image: Vec<u32> = case.floats("float.bin").iter().map(|v| v.to_bits()).collect();
    assert_eq!(stored, image, "float photons bit for bit");
}

#[test]
fn stills_have_no_goniometer_and_a_spectrum_keeps_its_weights() {
    let Some(python) = python() else { return };
    let case = Case::new();
    // two wavelengths, weights 1 and 3 (X Y Z weight lambda, metres)
    fs::write(case.path("sources.txt"), "-10 0 0 1 1.0e-10\n-10 0 0 3 1.1e-10\n").unwrap();
    let base = BASE.replace("-osc 0.5", "-osc 0");
    case.ok(&format!("{base} -nonoise -sourcefile sources.txt -floatfile float.bin -intfile int.img -nexusfile still.h5"));
    let r = read(&python, &case.path("still.h5"));
    assert_eq!(r.text("goniometer"), ["none"], "a still's sample depends on '.'");
    assert_close("wavelengths", &r.numbers("wavelength"), &[1.0, 1.1]);
    assert_close("weights", &r.numbers("weights"), &[1.0, 3.0]);
}

/// The detector vectors the run uses (lab frame), from its `-trace_pixel` report.
fn traced_vectors(out: &str) -> ([f64; 3], [f64; 3], [f64; 3]) {
    let find = |name: &str| -> [f64; 3] {
        let line = out.lines().find(|l| l.split_whitespace().any(|w| w == name)).unwrap_or_else(|| panic!("no {name} in the trace:\n{out}"));
        let v: Vec<f64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        [v[v.len() - 3], v[v.len() - 2], v[v.len() - 1]]
    };
    (find("pix0_vector_meters"), find("fdet_vec"), find("sdet_vec"))
}

#[test]
fn detector_vectors_come_back_from_nxmx_in_the_mcstas_frame() {
    let Some(python) = python() else { return };
    // nanoBragg's MOSFLM frame (beam +x, spindle +z, y vertical) → McStas (beam +z, y up):
    // McStas (x, y, z) = lab (-z, y, x). XDS and DIALS conventions have the beam along +z
    // with y vertical: the identity.
    let mosflm = |v: [f64; 3]| [-v[2], v[1], v[0]];
    let same = |v: [f64; 3]| v;
    let setups: [(&str, &dyn Fn([f64; 3]) -> [f64; 3]); 5] = [
        ("", &mosflm),
        ("-twotheta 20", &mosflm),
        ("-detector_rotx 5 -detector_roty 3 -detector_rotz 10", &mosflm),
        ("-xds -ORGX 10.5 -ORGY 30.25", &same),
        ("-dials -twotheta 15 -detector_rotz 4", &same),
    ];
    for (extra, map) in setups {
        let case = Case::new();
        let base = BASE.replace("-Xbeam 4.3 -Ybeam 3.1", if extra.contains("-ORGX") { "" } else { "-Xbeam 4.3 -Ybeam 3.1" });
        let out = case.ok(&format!("{base} {extra} -nonoise -floatfile float.bin -intfile int.img -trace_pixel 5 7 -nexusfile det.h5"));
        let (pix0, fdet, sdet) = traced_vectors(&out);
        let r = read(&python, &case.path("det.h5"));
        let mm = |v: [f64; 3]| v.map(|c| c * 1000.0);
        assert_close(&format!("origin ({extra})"), &r.numbers("origin"), &mm(map(pix0)));
        assert_close(&format!("fast axis ({extra})"), &r.numbers("fast"), &map(fdet));
        assert_close(&format!("slow axis ({extra})"), &r.numbers("slow"), &map(sdet));
    }
}

#[test]
fn nexus_names_are_refused_before_the_render_and_failures_leave_no_file() {
    let case = Case::new();
    fs::create_dir(case.path("folder")).unwrap();
    for (extra, expected) in [
        ("-nexusfile run_###.h5", "may not contain '#'"),
        ("-nexusfile folder", "is a directory"),
        ("-nexusfile missing/run.h5", "cannot create files there"),
        ("-nexusfile float.bin", "already the -floatfile output"),
        ("-nexusfile /dev/null", "not a device or pipe"),
        ("-nexus_float", "give -nexusfile"),
    ] {
        let out = case.run(&format!("{BASE} -nonoise -floatfile float.bin -intfile int.img {extra}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra} was accepted");
        assert!(stderr.contains("-nexus") && stderr.contains(expected), "{extra}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(case.names(), ["folder"], "{extra}: nothing written");
    }

    // an existing read-only file is refused, and kept as it was
    fs::write(case.path("old.h5"), b"keep").unwrap();
    let mut permissions = fs::metadata(case.path("old.h5")).unwrap().permissions();
    permissions.set_readonly(true);
    fs::set_permissions(case.path("old.h5"), permissions).unwrap();
    let out = case.run(&format!("{BASE} -nonoise -floatfile float.bin -intfile int.img -nexusfile old.h5"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("-nexusfile old.h5") && stderr.contains("read-only"), "{stderr}");
    assert_eq!(fs::read(case.path("old.h5")).unwrap(), b"keep");

    // one file for the whole run: not split over shards, not continued by a resume, and not
    // shared by shots whose detector or beam differ (it describes them once)
    fs::write(case.path("moved.jsonl"), "{}\n{\"distance\": 70}\n").unwrap();
    for (extra, expected) in [
        ("-frames 4 -shard 0/2", "cannot be split by -shard"),
        ("-frames 4 -resume", "continued by -resume"),
        ("-shots moved.jsonl", "shot 2 changes the detector or the beam"),
    ] {
        let out = case.run(&format!("{BASE} -nonoise -floatfile f_#.bin -intfile i_#.img -nexusfile run.h5 {extra}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra} was accepted");
        assert!(stderr.contains("-nexusfile") && stderr.contains(expected), "{extra}: {stderr}");
        assert_eq!(case.names(), ["folder", "moved.jsonl", "old.h5"], "{extra}: nothing written");
    }
    // shots that only turn the crystal share one file
    fs::write(case.path("turned.jsonl"), "{}\n{\"misset\": [10, 20, 30]}\n").unwrap();
    let out = case.run(&format!("{BASE} -nonoise -floatfile f_#.bin -intfile i_#.img -nexusfile shots.h5 -shots turned.jsonl"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(case.names().iter().any(|n| n == "shots.h5"));

    // a series whose frames cannot be written (/dev/full takes the SMV images and fails with
    // "no space"), after the NeXus file was made and had its first frame: no NeXus file and
    // no temporary are left
    let out = case.run(&format!("{BASE} -nonoise -frames 4 -floatfile f_##.bin -intfile /dev/full -nexusfile run.h5"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("/dev/full"), "{stderr}");
    let names = case.names();
    assert!(!names.iter().any(|n| n == "run.h5" || n.ends_with(".tmp")), "{names:?}");
}

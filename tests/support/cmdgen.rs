//! A seeded, reproducible generator of valid nanoBragg command lines that samples every flag
//! family (tests/differential.rs; docs/testing.md). Each sample is small (at most 48 × 48
//! pixels, a bounded number of sub-steps per pixel) so that hundreds render in minutes. Input
//! files (HKL tables, SMV masks, source lists, orientation matrices) are written into the
//! sample's directory and named by absolute path, so a printed command reproduces the case
//! from any directory while that directory exists.
#![allow(dead_code)]

use nanobragg::io::smv::{SmvHeader, SmvKeys, encode_smv};
use std::collections::BTreeMap;
use std::path::Path;

/// The flag families a sample may exercise; the differential test asserts each was reached.
pub const FAMILIES: &[&str] = &[
    "convention_mosflm",
    "convention_xds",
    "convention_adxv",
    "convention_denzo",
    "convention_dials",
    "convention_custom_vectors",
    "pivot",
    "detector_rotation",
    "twotheta",
    "curved_det",
    "point_pixel",
    "shape_square",
    "shape_round",
    "shape_gauss",
    "shape_tophat",
    "n_per_axis",
    "misset_angles",
    "misset_random",
    "mosaic",
    "phi_osc_phisteps",
    "divergence",
    "dispersion",
    "sourcefile",
    "polarization",
    "nopolar",
    "oversample",
    "oversample_thick",
    "oversample_polar",
    "oversample_omega",
    "detector_thickness",
    "roi",
    "mask",
    "water",
    "dmin",
    "interpolate",
    "nointerpolate",
    "hkl_table",
    "default_f_only",
    "matrix_file",
    "lambda",
    "energy",
    "fluence",
    "beam_centre",
    "nonsquare_detector",
    "close_distance",
];

/// SplitMix64.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// uniform in [0, 1)
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// integer in [lo, hi]
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
}

/// One generated command line and the families it exercises.
pub struct Sample {
    pub index: usize,
    pub args: Vec<String>,
    pub families: Vec<&'static str>,
}

impl Sample {
    /// The command as one shell line.
    pub fn command(&self) -> String {
        let mut s = String::from("nanobragg");
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
    pub fn has(&self, family: &str) -> bool {
        self.families.contains(&family)
    }
}

/// Numbers as a user types them: a few significant digits, so the printed command is the
/// command (no hidden precision).
fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s == "-0" { "0".into() } else { s }
}

struct Builder {
    args: Vec<String>,
    families: Vec<&'static str>,
}

impl Builder {
    fn flag(&mut self, name: &str, values: &[String]) {
        self.args.push(name.to_string());
        self.args.extend(values.iter().cloned());
    }
    fn fam(&mut self, f: &'static str) {
        debug_assert!(FAMILIES.contains(&f), "{f}");
        self.families.push(f);
    }
}

/// A random direction, rounded to 4 decimals.
fn vector(r: &mut Rng) -> [f64; 3] {
    loop {
        let v = [r.range(-1.0, 1.0), r.range(-1.0, 1.0), r.range(-1.0, 1.0)];
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if n > 0.3 && n < 1.0 {
            return v.map(|x| (x / n * 1e4).round() / 1e4);
        }
    }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    v.map(|x| x / n)
}

/// Sample `index` of the stream `seed`: the same pair always gives the same command and files.
/// `dir` receives the sample's input files.
pub fn generate(seed: u64, index: usize, dir: &Path) -> Sample {
    let mut r = Rng::new(seed ^ (index as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
    let mut b = Builder { args: Vec::new(), families: Vec::new() };

    // ---- crystal: cell (or a MOSFLM matrix file) and size
    let cubic = r.chance(0.3);
    let cell: [f64; 6] = if cubic {
        let a = r.range(20.0, 80.0);
        [a, a, a, 90.0, 90.0, 90.0]
    } else {
        [r.range(20.0, 80.0), r.range(20.0, 80.0), r.range(20.0, 80.0), r.range(75.0, 105.0), r.range(75.0, 105.0), r.range(75.0, 105.0)]
    };
    // wavelength: -lambda or -energy (12398.42 eV·Å)
    let lambda = r.range(0.8, 3.0);
    if r.chance(0.75) {
        b.flag("-lambda", &[num(lambda)]);
        b.fam("lambda");
    } else {
        b.flag("-energy", &[num(12398.42 / lambda)]);
        b.fam("energy");
    }
    if r.chance(0.2) {
        // reciprocal cell × λ, rows a*, b*, c* (orthogonal cell, for a valid matrix)
        let (a, bb, c) = (cell[0], cell[1], cell[2]);
        let m = format!("{} 0 0\n0 {} 0\n0 0 {}\n", lambda / a, lambda / bb, lambda / c);
        // MOSFLM files list the matrix column-wise; a diagonal one reads the same either way
        let path = dir.join("cell.mat");
        std::fs::write(&path, m).unwrap();
        b.flag("-mat", &[path.display().to_string()]);
        b.fam("matrix_file");
    } else {
        let c: Vec<String> = cell.iter().map(|&v| num(v)).collect();
        b.flag("-cell", &c);
    }
    if r.chance(0.5) {
        let n: Vec<i64> = (0..3).map(|_| r.int(1, 8)).collect();
        for (flag, v) in ["-Na", "-Nb", "-Nc"].iter().zip(&n) {
            b.flag(flag, &[v.to_string()]);
        }
        b.fam("n_per_axis");
    } else {
        let n = r.int(1, 8);
        b.flag("-N", &[n.to_string()]);
    }
    match r.int(0, 5) {
        0 => {
            b.flag("-round_xtal", &[]);
            b.fam("shape_round");
        }
        1 => {
            b.flag("-gauss_xtal", &[]);
            b.fam("shape_gauss");
        }
        2 => {
            b.flag("-tophat_spots", &[]);
            b.fam("shape_tophat");
        }
        3 => {
            b.flag("-square_xtal", &[]);
            b.fam("shape_square");
        }
        _ => b.fam("shape_square"),
    }
    if r.chance(0.15) {
        b.flag("-fudge", &[num(r.range(0.5, 2.0))]);
    }
    match r.int(0, 3) {
        0 => {
            let m = [r.range(-180.0, 180.0), r.range(-90.0, 90.0), r.range(-180.0, 180.0)];
            b.flag("-misset", &m.map(num));
            b.fam("misset_angles");
        }
        1 => {
            b.flag("-misset", &["random".into()]);
            b.flag("-misset_seed", &[r.int(1, 1_000_000).to_string()]);
            b.fam("misset_random");
        }
        _ => {}
    }

    // ---- structure factors
    if r.chance(0.45) {
        let span = r.int(2, 6);
        let mut text = String::new();
        for h in -span..=span {
            for k in -span..=span {
                for l in -span..=span {
                    if r.chance(0.9) {
                        text.push_str(&format!("{h} {k} {l} {}\n", num(r.range(0.0, 200.0))));
                    }
                }
            }
        }
        let path = dir.join("table.hkl");
        std::fs::write(&path, text).unwrap();
        b.flag("-hkl", &[path.display().to_string()]);
        b.fam("hkl_table");
        if r.chance(0.5) {
            b.flag("-default_F", &[num(r.range(1.0, 50.0))]);
        }
        match r.int(0, 2) {
            0 => {
                b.flag("-interpolate", &[]);
                b.fam("interpolate");
            }
            1 => {
                b.flag("-nointerpolate", &[]);
                b.fam("nointerpolate");
            }
            _ => {}
        }
    } else {
        b.flag("-default_F", &[num(r.range(1.0, 200.0))]);
        b.fam("default_f_only");
    }

    // ---- detector
    let (fpix, spix) = if r.chance(0.3) {
        b.fam("nonsquare_detector");
        (r.int(8, 48) as usize, r.int(8, 48) as usize)
    } else {
        let n = r.int(8, 48) as usize;
        (n, n)
    };
    let pixel = r.range(0.05, 0.4);
    b.flag("-pixel", &[num(pixel)]);
    if fpix == spix && r.chance(0.5) {
        b.flag("-detpixels", &[fpix.to_string()]);
    } else {
        b.flag("-detpixels_f", &[fpix.to_string()]);
        b.flag("-detpixels_s", &[spix.to_string()]);
    }
    let distance = r.range(30.0, 200.0);
    let convention = r.int(0, 6);
    match convention {
        0 => {
            b.flag("-mosflm", &[]);
            b.fam("convention_mosflm");
        }
        1 => {
            b.flag("-xds", &[]);
            b.fam("convention_xds");
        }
        2 => {
            b.flag("-adxv", &[]);
            b.fam("convention_adxv");
        }
        3 => {
            b.flag("-denzo", &[]);
            b.fam("convention_denzo");
        }
        4 => {
            b.flag("-dials", &[]);
            b.fam("convention_dials");
        }
        5 => {
            // a custom frame: a random right-handed detector basis near the default one
            let f = vector(&mut r);
            let s0 = vector(&mut r);
            let o = unit(cross(f, s0));
            let s = unit(cross(o, f));
            b.flag("-fdet_vector", &f.map(num));
            b.flag("-sdet_vector", &s.map(num));
            b.flag("-odet_vector", &o.map(num));
            if r.chance(0.5) {
                b.flag("-beam_vector", &o.map(num));
            }
            if r.chance(0.4) {
                b.flag("-spindle_axis", &vector(&mut r).map(num));
            }
            if r.chance(0.4) {
                b.flag("-polar_vector", &vector(&mut r).map(num));
            }
            b.fam("convention_custom_vectors");
        }
        _ => {}
    }
    if r.chance(0.2) {
        b.flag("-close_distance", &[num(distance)]);
        b.fam("close_distance");
    } else {
        b.flag("-distance", &[num(distance)]);
    }
    if r.chance(0.3) {
        b.flag("-pivot", &[r.pick(&["beam", "sample"]).to_string()]);
        b.fam("pivot");
    }
    if r.chance(0.35) {
        let w = (fpix as f64 * pixel, spix as f64 * pixel);
        let (x, y) = (r.range(0.2, 0.8) * w.0, r.range(0.2, 0.8) * w.1);
        if convention == 1 && r.chance(0.5) {
            b.flag("-ORGX", &[num(x / pixel)]);
            b.flag("-ORGY", &[num(y / pixel)]);
        } else {
            b.flag("-Xbeam", &[num(x)]);
            b.flag("-Ybeam", &[num(y)]);
        }
        b.fam("beam_centre");
    }
    if r.chance(0.3) {
        for flag in ["-detector_rotx", "-detector_roty", "-detector_rotz"] {
            if r.chance(0.6) {
                b.flag(flag, &[num(r.range(-15.0, 15.0))]);
            }
        }
        b.fam("detector_rotation");
    }
    if r.chance(0.25) {
        b.flag("-twotheta", &[num(r.range(-30.0, 30.0))]);
        if r.chance(0.3) {
            b.flag("-twotheta_axis", &vector(&mut r).map(num));
        }
        b.fam("twotheta");
    }
    if r.chance(0.15) {
        b.flag("-curved_det", &[]);
        b.fam("curved_det");
    }
    let point_pixel = r.chance(0.15);
    if point_pixel {
        b.flag("-point_pixel", &[]);
        b.fam("point_pixel");
    }
    let mut thicksteps = 1;
    if r.chance(0.25) {
        thicksteps = r.int(1, 4);
        b.flag("-detector_thick", &[num(r.range(10.0, 500.0))]);
        if r.chance(0.7) {
            b.flag("-detector_abs", &[num(r.range(10.0, 500.0))]);
        }
        b.flag("-thicksteps", &[thicksteps.to_string()]);
        b.fam("detector_thickness");
    }

    // ---- beam (source file: position in metres, weight, λ in metres): polarization, divergence, dispersion or a source file, fluence
    let mut sources = 1;
    match r.int(0, 4) {
        0 => {
            b.flag("-nopolar", &[]);
            b.fam("nopolar");
        }
        1 => {
            b.flag("-polar", &[num(r.range(-1.0, 1.0))]);
            b.fam("polarization");
        }
        _ => {}
    }
    if r.chance(0.12) {
        let n = r.int(1, 4);
        let mut text = String::new();
        for _ in 0..n {
            let d = [-10.0, r.range(-0.01, 0.01), r.range(-0.01, 0.01)];
            text.push_str(&format!("{} {} {} {} {}\n", num(d[0]), num(d[1]), num(d[2]), num(r.range(0.5, 2.0)), format!("{:.6e}", lambda * 1e-10 * r.range(0.99, 1.01))));
        }
        let path = dir.join("sources.txt");
        std::fs::write(&path, text).unwrap();
        b.flag("-sourcefile", &[path.display().to_string()]);
        b.fam("sourcefile");
        sources = n;
    } else {
        if r.chance(0.25) {
            let steps = r.int(2, 3);
            if r.chance(0.5) {
                b.flag("-divergence", &[num(r.range(0.1, 2.0))]);
                b.flag("-divsteps", &[steps.to_string()]);
                sources *= steps * steps;
            } else {
                b.flag("-hdivrange", &[num(r.range(0.1, 2.0))]);
                b.flag("-hdivsteps", &[steps.to_string()]);
                b.flag("-vdivrange", &[num(r.range(0.1, 2.0))]);
                b.flag("-vdivsteps", &["2".into()]);
                sources *= steps * 2;
            }
            if r.chance(0.4) {
                let shape = *r.pick(&["-round_div", "-square_div"]);
                b.flag(shape, &[]);
            }
            b.fam("divergence");
        }
        if r.chance(0.2) {
            let steps = r.int(2, 3);
            b.flag("-dispersion", &[num(r.range(0.1, 5.0))]);
            b.flag("-dispsteps", &[steps.to_string()]);
            sources *= steps;
            b.fam("dispersion");
        }
    }
    if point_pixel {
        // a point pixel's "solid angle" is 1/R² (sr·m²/m²), some 1e7 times a real pixel's:
        // with -oversample_omega, -c_parity multiplies the running sum by it after every term
        // (nanoBragg.c's compounding; the default mode weights each term once), so at the
        // default fluence that half of the sample overflows f32 (both engines give inf or NaN,
        // which compares nothing); such samples get a low fluence
        b.flag("-fluence", &[format!("{:.3e}", r.range(1e18, 1e21))]);
        b.fam("fluence");
    } else if r.chance(0.2) {
        b.flag("-fluence", &[format!("{:.3e}", r.range(1e27, 1e30))]);
        b.fam("fluence");
    }

    // ---- rotation and mosaicity
    let mut phisteps = 1;
    if r.chance(0.3) {
        phisteps = r.int(1, 4);
        b.flag("-phi", &[num(r.range(-30.0, 30.0))]);
        b.flag("-osc", &[num(r.range(0.01, 2.0))]);
        b.flag("-phisteps", &[phisteps.to_string()]);
        b.fam("phi_osc_phisteps");
    }
    let mut domains = 1;
    if r.chance(0.25) {
        domains = r.int(1, 5);
        b.flag("-mosaic", &[num(r.range(0.01, 1.0))]);
        b.flag("-mosaic_dom", &[domains.to_string()]);
        if r.chance(0.5) {
            b.flag("-mosaic_seed", &[r.int(1, 1_000_000).to_string()]);
        }
        b.fam("mosaic");
    }

    // ---- sampling: always an explicit -oversample (the automatic one grows with the crystal),
    // bounded so that sub-pixels × layers × sources × steps × domains stays small
    let budget = 400 / (thicksteps * sources * phisteps * domains).max(1);
    let max_os = ((budget as f64).sqrt() as i64).clamp(1, 3);
    let os = r.int(1, max_os);
    b.flag("-oversample", &[os.to_string()]);
    if os > 1 {
        b.fam("oversample");
    }
    for (flag, fam) in [("-oversample_thick", "oversample_thick"), ("-oversample_polar", "oversample_polar"), ("-oversample_omega", "oversample_omega")] {
        if r.chance(0.2) {
            b.flag(flag, &[]);
            b.fam(fam);
        }
    }

    // ---- pixels rendered: ROI, mask; background and resolution cut
    if r.chance(0.2) {
        let x0 = r.int(0, fpix as i64 - 1);
        let x1 = r.int(x0, fpix as i64 - 1);
        let y0 = r.int(0, spix as i64 - 1);
        let y1 = r.int(y0, spix as i64 - 1);
        b.flag("-roi", &[x0, x1, y0, y1].map(|v| v.to_string()));
        b.fam("roi");
    }
    if r.chance(0.15) {
        let data: Vec<u16> = (0..fpix * spix).map(|_| if r.chance(0.7) { 1 } else { 0 }).collect();
        // a header that describes the same detector (the mask's header sets geometry, which the
        // flags then override)
        let centre = (fpix as f64 * pixel / 2.0, spix as f64 * pixel / 2.0);
        let header = SmvHeader {
            keys: SmvKeys::NanoBragg,
            fpixels: fpix,
            spixels: spix,
            pixel_size_mm: pixel,
            distance_mm: distance,
            wavelength_a: lambda,
            beam_center_x_mm: centre.0,
            beam_center_y_mm: centre.1,
            adxv_center_x_mm: centre.0,
            adxv_center_y_mm: centre.1,
            mosflm_center_x_mm: centre.0,
            mosflm_center_y_mm: centre.1,
            denzo_x_beam_mm: centre.0,
            denzo_y_beam_mm: centre.1,
            dials_origin_mm: [0.0, 0.0, -distance],
            xds_orgx: fpix as f64 / 2.0,
            xds_orgy: spix as f64 / 2.0,
            close_distance_mm: distance,
            phi_deg: 0.0,
            osc_start_deg: 0.0,
            osc_range_deg: 0.0,
            twotheta_deg: 0.0,
            c_parity: false,
        };
        let path = dir.join("mask.img");
        std::fs::write(&path, encode_smv(&header, &data)).unwrap();
        b.flag("-mask", &[path.display().to_string()]);
        b.fam("mask");
    }
    if r.chance(0.15) {
        b.flag("-water", &[num(r.range(1.0, 200.0))]);
        b.fam("water");
    }
    if r.chance(0.15) {
        b.flag("-dmin", &[num(r.range(1.0, 10.0))]);
        b.fam("dmin");
    }
    let families = b.families;
    Sample { index, args: b.args, families }
}

/// How many samples exercised each family.
pub fn coverage<'a>(samples: impl Iterator<Item = &'a Sample>) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> = FAMILIES.iter().map(|&f| (f, 0)).collect();
    for s in samples {
        for f in &s.families {
            *counts.get_mut(f).unwrap() += 1;
        }
    }
    counts
}

//! Point-spread function as noisify.c applies it: a kernel of the PSF integrated analytically
//! over each pixel, cut at a radius, and every photon not caught by the cut kernel added back
//! evenly over the whole image.
//!
//! Two shapes: a 2-D Gaussian of the given FWHM (integrated with `erf`), and the fiber-optic
//! taper PSF g/2π·(g² + r²)^−3/2 with g = FWHM·0.652383… (FWHM = 2·√(2^{2/3} − 1)·g), whose
//! integral over a rectangle is atan(xy / (g·√(g² + x² + y²)))/2π at its corners. The radius,
//! when not given, is chosen as noisify does: the distance beyond which fewer than √I/10 photons
//! of a pixel holding I would land (`photonloss_factor` 10), per pixel, with the kernel sized
//! for the brightest pixel.
//!
//! The arithmetic mirrors the C types: kernel and sums in `f64`, images in `f32`, radii in C
//! `int` (gcc's truncating conversion). In `-c_parity` two C slips are kept: a pixel may spread
//! onto x = width (which is the first pixel of the next row) and y = height (past the image,
//! dropped), because the C bounds test uses `>` where `>=` was meant.
//!
//! WGSL twin: the kernel is computed on the CPU and uploaded (it needs `f64` erf/atan); the
//! spreading is a gather over the kernel window per output pixel, in `f32`.

/// PSF shape (`-psf gauss|fiber`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsfShape {
    Gauss,
    Fiber,
}

/// The ratio g/FWHM of the fiber PSF, 1/(2·√(2^{2/3} − 1)), as noisify.c writes it.
pub const FIBER_G_PER_FWHM: f64 = 0.652383013252053;
/// noisify.c's `photonloss_factor`: the tolerated loss is √I divided by this.
const PHOTON_LOSS_FACTOR: f64 = 10.0;

unsafe extern "C" {
    // The C library's erf, the one noisify.c calls: Rust's std has no stable erf, and the platform
    // libm is also what `f64::ln`, `exp`, `atan` call, so kernel values equal the C program's.
    safe fn erf(x: f64) -> f64;
}

/// C `(int) x` as gcc emits it on x86-64 (cvttsd2si): truncation, and `i32::MIN` for NaN and
/// values out of range (Rust's `as` saturates instead).
pub fn c_int(x: f64) -> i32 {
    if x.is_nan() || x >= 2_147_483_648.0 || x <= -2_147_483_649.0 {
        i32::MIN
    } else {
        x as i32
    }
}

/// ∫∫ of the unit-FWHM, unit-volume 2-D Gaussian from −∞ to (x, y), shifted by ¼ per axis
/// (the constant cancels in the rectangle sum).
fn gauss_corner(x: f64, y: f64) -> f64 {
    let ln16 = 16f64.ln();
    0.125 * (erf(2.0 * x * 2f64.ln().sqrt()) * erf(y * ln16.sqrt()) * (ln16 / 2f64.ln()).sqrt())
}

/// The Gaussian PSF of FWHM `fwhm` (pixels) integrated over the unit pixel centred (dx, dy).
pub fn gauss_pixel(dx: f64, dy: f64, fwhm: f64) -> f64 {
    let (x, y, h) = (dx / fwhm, dy / fwhm, 1.0 / fwhm / 2.0);
    gauss_corner(x + h, y + h) - gauss_corner(x + h, y - h) - gauss_corner(x - h, y + h) + gauss_corner(x - h, y - h)
}

fn fiber_corner(x: f64, y: f64, g: f64) -> f64 {
    (x * y / (g * (g * g + x * x + y * y).sqrt())).atan() / 2.0 / std::f64::consts::PI
}

/// The fiber PSF of parameter `g` (pixels) integrated over the unit pixel centred (dx, dy).
pub fn fiber_pixel(dx: f64, dy: f64, g: f64) -> f64 {
    let h = 0.5;
    fiber_corner(dx + h, dy + h, g) - fiber_corner(dx + h, dy - h, g) - fiber_corner(dx - h, dy + h, g)
        + fiber_corner(dx - h, dy - h, g)
}

/// A square kernel of side 2·radius + 1, zero outside the disc of `radius`.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub radius: i32,
    pub weights: Vec<f64>,
}

impl Kernel {
    pub fn new(shape: PsfShape, fwhm_pixels: f64, radius: i32) -> Kernel {
        let radius = radius.max(0);
        let side = (2 * radius + 1) as usize;
        let g = fwhm_pixels * FIBER_G_PER_FWHM;
        let mut weights = vec![0.0; side * side];
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                if dx * dx + dy * dy > radius * radius {
                    continue;
                }
                let k = side * (radius + dy) as usize + (radius + dx) as usize;
                weights[k] = match shape {
                    PsfShape::Gauss => gauss_pixel(f64::from(dx), f64::from(dy), fwhm_pixels),
                    PsfShape::Fiber => fiber_pixel(f64::from(dx), f64::from(dy), g),
                };
            }
        }
        Kernel { radius, weights }
    }

    fn side(&self) -> i32 {
        2 * self.radius + 1
    }

    pub fn sum(&self) -> f64 {
        self.weights.iter().sum()
    }
}

/// How the PSF was applied, for the report.
#[derive(Clone, Debug, PartialEq)]
pub struct PsfReport {
    /// brightest input pixel, when the radius was chosen automatically
    pub max_input: Option<f64>,
    /// the automatically chosen kernel radius
    pub auto_radius: Option<i32>,
    /// photons outside the cut kernels, spread evenly over the image
    pub lost_photons: Option<f64>,
}

/// The radius beyond which fewer than √I/10 of a pixel's I photons would land, as noisify
/// computes it (`1 + ceil(...)`, C int). The image-wide radius and the per-pixel one use the
/// same formula written two ways (`/ln4/2` and `/ln16`), kept apart because they may round
/// differently.
fn auto_radius(shape: PsfShape, intensity: f64, fwhm_pixels: f64, g: f64, image_wide: bool) -> i32 {
    let lost = intensity.sqrt() / PHOTON_LOSS_FACTOR;
    match shape {
        PsfShape::Gauss => {
            let spread = if image_wide {
                -(lost / intensity).ln() / 4f64.ln() / 2.0
            } else {
                -(lost / intensity).ln() / 16f64.ln()
            };
            1 + c_int((spread.sqrt() * fwhm_pixels).ceil())
        }
        PsfShape::Fiber => 1 + c_int((g * (intensity / lost)).ceil()),
    }
}

/// Automatic radii above this many pixels get a warning (`warn_if_wide`).
pub const WIDE_RADIUS: i32 = 100;

/// noisify's automatic radius grows with the brightest pixel (the fiber PSF's as 10·g·√I): a
/// bright spot can make it hundreds of pixels, and every bright pixel then spreads over up to
/// (2r + 1)² pixels, which can take hours. Said before the spreading starts, with the way out.
pub fn warn_if_wide(radius: i32, max_width: i32, max_input: f64) {
    if radius > WIDE_RADIUS {
        log::warn!(
            "-psf: the automatic radius is {} pixels (noisify's rule, from the brightest pixel's {} photons): the bright pixels each spread over up to {}² pixels, which may take very long; -psf_radius N bounds it",
            radius.min(max_width),
            crate::cfmt::fmt_g(max_input),
            2 * i64::from(radius.min(max_width)) + 1
        );
    }
}

/// Applies the PSF to `image` (width × height, fast index first) and returns the blurred image.
/// `user_radius` 0 means automatic. `c_slips` keeps noisify.c's bounds slips (module comment).
pub fn apply_psf(
    image: &[f32],
    width: usize,
    height: usize,
    shape: PsfShape,
    fwhm_pixels: f64,
    user_radius: i32,
    c_slips: bool,
) -> (Vec<f32>, PsfReport) {
    let pixels = width * height;
    let mut report = PsfReport { max_input: None, auto_radius: None, lost_photons: None };
    if pixels == 0 || fwhm_pixels.is_nan() || fwhm_pixels <= 0.0 {
        return (image.to_vec(), report);
    }
    let g = fwhm_pixels * FIBER_G_PER_FWHM;
    let max_width = width.max(height).min(i32::MAX as usize) as i32;
    let mut radius = user_radius;
    if radius <= 0 {
        let max_input = image.iter().fold(0.0f64, |m, &v| if m < f64::from(v) { f64::from(v) } else { m });
        report.max_input = Some(max_input);
        if max_input <= 0.0 {
            // C: "no photons, PSF skipped" — and the image it returns is the empty one.
            return (vec![0.0; pixels], report);
        }
        radius = auto_radius(shape, max_input, fwhm_pixels, g, true);
        report.auto_radius = Some(radius);
        if !c_slips {
            warn_if_wide(radius, max_width, max_input);
        }
        if radius == 0 {
            radius = 1;
        }
    }
    radius = radius.min(max_width);
    let kernel = Kernel::new(shape, fwhm_pixels, radius);
    let spread = Spread { shape, fwhm_pixels, g, user_radius, max_width };
    let (out, total_lost) =
        if c_slips { spread.scatter(image, width, height, &kernel, true) } else { spread.gather(image, width, height, &kernel) };
    report.lost_photons = Some(total_lost);
    (out, report)
}

/// What decides how far one pixel's photons spread.
struct Spread {
    shape: PsfShape,
    fwhm_pixels: f64,
    g: f64,
    user_radius: i32,
    max_width: i32,
}

/// Integer intensities below this get their radius and loss from a table: after the noise
/// stages most pixels hold small whole counts, and the per-pixel radius costs a `ln`.
const REACH_TABLE: usize = 4096;

impl Spread {
    /// The radius a pixel holding `intensity` (> 0 or NaN) spreads to, and the photons beyond
    /// it (noisify's per-pixel rule; a negative radius spreads nowhere).
    fn reach(&self, intensity: f64, kernel_radius: i32) -> (i32, f64) {
        let mut r = if self.user_radius != 0 {
            self.user_radius
        } else {
            auto_radius(self.shape, intensity, self.fwhm_pixels, self.g, false)
        };
        if r == 0 {
            r = 1;
        }
        r = r.min(self.max_width).min(kernel_radius);
        let lost = match self.shape {
            PsfShape::Gauss => {
                let q = f64::from(r) / self.fwhm_pixels;
                intensity * (-16f64.ln() * (q * q)).exp()
            }
            PsfShape::Fiber => intensity * self.g / (self.g * self.g + f64::from(r.wrapping_mul(r))).sqrt(),
        };
        (r, lost)
    }

    /// noisify's order: source pixel after source pixel, each adding its share to its
    /// neighbours (f32 after every addition). `c_slips` keeps the C bounds slips; otherwise
    /// the result equals [`Spread::gather`]'s, which is how the default mode runs.
    fn scatter(&self, image: &[f32], width: usize, height: usize, kernel: &Kernel, c_slips: bool) -> (Vec<f32>, f64) {
        let pixels = width * height;
        let side = kernel.side();
        // one spare element: the C may write at index `pixels` (x = width on the last row)
        let mut out = vec![0.0f32; pixels + 1];
        let mut total_lost = 0.0f64;
        for (i, &value) in image.iter().enumerate() {
            if value <= 0.0 {
                continue;
            }
            let intensity = f64::from(value);
            let (x0, y0) = ((i % width) as i64, (i / width) as i64);
            let (r, lost) = self.reach(intensity, kernel.radius);
            total_lost += lost;
            for dx in -r..=r {
                for dy in -r..=r {
                    let k = (side * (side / 2 + dy) + side / 2 + dx) as usize;
                    let weight = kernel.weights[k];
                    if weight == 0.0 || dx * dx + dy * dy > r * r {
                        continue;
                    }
                    let (x, y) = (x0 + i64::from(dx), y0 + i64::from(dy));
                    let (w, h) = (width as i64, height as i64);
                    let inside = if c_slips { x >= 0 && x <= w && y >= 0 && y <= h } else { x >= 0 && x < w && y >= 0 && y < h };
                    if !inside {
                        continue;
                    }
                    let j = y * w + x;
                    if j < 0 || j > pixels as i64 {
                        continue;
                    }
                    let cell = &mut out[j as usize];
                    *cell = (f64::from(*cell) + intensity * weight) as f32;
                }
            }
        }
        out.truncate(pixels);
        let per_pixel = total_lost / pixels as f64;
        for v in &mut out {
            *v = (f64::from(*v) + per_pixel) as f32;
        }
        (out, total_lost)
    }

    /// The same sums as [`Spread::scatter`] without the C slips, worked out per output pixel
    /// (rows in parallel): a source contributes to a pixel at most once, so visiting a pixel's
    /// sources in ascending source index (kernel offsets dy, then dx, descending) adds the
    /// same terms in the same order, with the same f32 rounding after each. Within a row the
    /// loop runs offset by offset over the whole row, so it has no bounds tests per term.
    fn gather(&self, image: &[f32], width: usize, height: usize, kernel: &Kernel) -> (Vec<f32>, f64) {
        use crate::par::*;
        let pixels = width * height;
        // per source: the squared radius it reaches (−1: nowhere) and the photons it loses
        let table: Vec<(i32, f64)> = (0..REACH_TABLE).map(|v| self.reach(v as f64, kernel.radius)).collect();
        let mut reach2 = vec![-1i32; pixels];
        let mut lost = vec![0.0f64; pixels];
        reach2.par_chunks_mut(width).zip(lost.par_chunks_mut(width)).zip(image.par_chunks(width)).for_each(|((reach2, lost), row)| {
            for ((r2, l), &value) in reach2.iter_mut().zip(lost.iter_mut()).zip(row) {
                if value <= 0.0 {
                    continue;
                }
                let whole = value as usize;
                let (r, loss) = if whole < table.len() && whole as f32 == value {
                    table[whole]
                } else {
                    self.reach(f64::from(value), kernel.radius)
                };
                *r2 = if r >= 0 { r * r } else { -1 };
                *l = loss;
            }
        });
        // summed in source order, as the scatter loop does
        let total_lost = image.iter().zip(&lost).filter(|(v, _)| !(**v <= 0.0)).fold(0.0f64, |s, (_, l)| s + l);
        let per_pixel = total_lost / pixels as f64;
        let radius = kernel.radius;
        let side = kernel.side();
        let mut offsets = Vec::new();
        for dy in (-radius..=radius).rev() {
            for dx in (-radius..=radius).rev() {
                let weight = kernel.weights[(side * (radius + dy) + radius + dx) as usize];
                if weight != 0.0 {
                    offsets.push((dx as i64, dy as i64, weight, dx * dx + dy * dy));
                }
            }
        }
        let (w, h) = (width as i64, height as i64);
        let mut out = vec![0.0f32; pixels];
        out.par_chunks_mut(width).enumerate().for_each(|(y, row)| {
            for &(dx, dy, weight, d2) in &offsets {
                let sy = y as i64 - dy;
                let (lo, hi) = (dx.max(0), (w + dx).min(w));
                if sy < 0 || sy >= h || lo >= hi {
                    continue;
                }
                let start = (sy * w + lo - dx) as usize;
                let len = (hi - lo) as usize;
                let sources = image[start..start + len].iter().zip(&reach2[start..start + len]);
                for (cell, (&value, &r2)) in row[lo as usize..hi as usize].iter_mut().zip(sources) {
                    let sum = (f64::from(*cell) + f64::from(value) * weight) as f32;
                    *cell = if r2 >= d2 { sum } else { *cell };
                }
            }
            for v in row.iter_mut() {
                *v = (f64::from(*v) + per_pixel) as f32;
            }
        });
        (out, total_lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel sums to 1 less what its cut loses: for the Gaussian the loss outside radius r is
    /// at most exp(−ln16·(r−√2/2)²/fwhm²)-ish; a wide radius sums to 1 within 1e-9.
    #[test]
    fn kernels_sum_to_one_within_the_truncation() {
        let wide = Kernel::new(PsfShape::Gauss, 1.5, 12);
        assert!((wide.sum() - 1.0).abs() < 1e-9, "{}", wide.sum());
        // noisify's auto radius for the z01 case (fwhm 1.5 px, radius 4): the disc of pixel
        // centres covers at least radius r − √2/2, so the cut misses at most the Gaussian's
        // tail beyond that, exp(−ln16·((r − √2/2)/fwhm)²).
        let cut = Kernel::new(PsfShape::Gauss, 1.5, 4);
        let bound = (-16f64.ln() * ((4.0 - std::f64::consts::FRAC_1_SQRT_2) / 1.5).powi(2)).exp();
        assert!(cut.sum() < 1.0 && 1.0 - cut.sum() < bound, "{} vs {bound}", cut.sum());
        // Fiber: the tail beyond r holds g/√(g²+r²) of the photons; the cut kernel misses about that.
        let g = 1.0 * FIBER_G_PER_FWHM;
        for r in [6, 30, 200] {
            let k = Kernel::new(PsfShape::Fiber, 1.0, r);
            let tail = g / (g * g + f64::from(r * r)).sqrt();
            let missed = 1.0 - k.sum();
            assert!(missed > 0.0 && (missed - tail).abs() < 0.35 * tail, "r={r}: missed {missed}, tail {tail}");
        }
        // A centred pixel of a very wide Gaussian holds ≈ its area × the peak density.
        let peak = gauss_pixel(0.0, 0.0, 100.0);
        let density = 16f64.ln() / std::f64::consts::PI / 1.0e4;
        assert!((peak / density - 1.0).abs() < 1e-4);
    }

    #[test]
    fn psf_conserves_photons_with_lost_ones_added_back() {
        let (w, h) = (32, 32);
        let mut image = vec![0.0f32; w * h];
        image[16 * w + 16] = 1000.0;
        image[5 * w + 7] = 50.0;
        for shape in [PsfShape::Gauss, PsfShape::Fiber] {
            let (out, report) = apply_psf(&image, w, h, shape, 1.2, 0, false);
            let total: f64 = out.iter().map(|&v| f64::from(v)).sum();
            assert!(report.auto_radius.is_some());
            // the photons beyond each pixel's radius are added back; what the kernel spreads
            // past the image edges is gone (the fiber PSF's long tail reaches them)
            match shape {
                PsfShape::Gauss => assert!((total - 1050.0).abs() < 1e-3 * 1050.0, "{shape:?}: {total}"),
                PsfShape::Fiber => assert!(total < 1050.0 && total > 0.95 * 1050.0, "{shape:?}: {total}"),
            }
            assert!(out[16 * w + 16] < 1000.0 && out[16 * w + 17] > 0.0);
        }
    }

    /// The default mode's per-output-pixel gather (rows in parallel) gives the serial scatter's
    /// image and loss bit for bit: whole and fractional counts, zeros, both shapes, automatic
    /// and given radii, a non-square image, with 1 and 2 threads.
    #[cfg(feature = "parallel")]
    #[test]
    fn gather_equals_serial_scatter_for_any_thread_count() {
        let (w, h) = (37usize, 23usize);
        let image: Vec<f32> = (0..w * h)
            .map(|i| match (i * 7919) % 11 {
                0 | 1 => 0.0,
                2 => 5000.0 + i as f32,
                3 => 2.75 * (i % 13) as f32,
                _ => ((i * 31) % 17) as f32,
            })
            .collect();
        for (shape, fwhm, user_radius) in [(PsfShape::Gauss, 1.3, 0), (PsfShape::Gauss, 2.5, 4), (PsfShape::Fiber, 0.8, 0), (PsfShape::Fiber, 1.0, 3)] {
            let g = fwhm * FIBER_G_PER_FWHM;
            let max_width = w.max(h) as i32;
            let spread = Spread { shape, fwhm_pixels: fwhm, g, user_radius, max_width };
            let radius = if user_radius > 0 { user_radius } else { auto_radius(shape, 5000.0 + (w * h) as f64, fwhm, g, true) };
            let kernel = Kernel::new(shape, fwhm, radius.min(max_width));
            let (serial, serial_lost) = spread.scatter(&image, w, h, &kernel, false);
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let (gathered, lost) = pool.install(|| spread.gather(&image, w, h, &kernel));
                assert_eq!(lost.to_bits(), serial_lost.to_bits(), "{shape:?} {threads} threads");
                let same = gathered.iter().zip(&serial).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{shape:?} fwhm {fwhm} radius {user_radius}, {threads} threads");
            }
        }
    }

    #[test]
    fn c_int_follows_cvttsd2si() {
        assert_eq!(c_int(2.9), 2);
        assert_eq!(c_int(-2.9), -2);
        assert_eq!(c_int(f64::NAN), i32::MIN);
        assert_eq!(c_int(1e10), i32::MIN);
    }
}

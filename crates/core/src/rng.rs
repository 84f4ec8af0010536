//! Random-number generators that reproduce nanoBragg.c bit for bit.
//!
//! The C program uses the Numerical Recipes generators (`ran1`, `gaussdev`, `poidev`, `gammln`)
//! with a mix of `float` and `double` arithmetic. Every conversion below mirrors the C code as
//! compiled by gcc for x86_64 (SSE arithmetic, no FMA contraction, 64-bit `long`), because the
//! golden noise images are only reproducible if each intermediate is rounded the same way.
//! The C keeps the generator state in function statics; here it lives in the structs, so each
//! C seed variable (`seed`, `mosaic_seed`, `misset_seed`) maps to its own generator.

use std::f64::consts::{FRAC_PI_2, PI};

const IA: i64 = 16807;
const IM: i64 = 2_147_483_647;
const AM: f64 = 1.0 / IM as f64;
const IQ: i64 = 127_773;
const IR: i64 = 2836;
const NTAB: usize = 32;
const NDIV: i64 = 1 + (IM - 1) / NTAB as i64;
const RNMX: f64 = 1.0 - 1.2e-7;

/// The seed variable when no `-seed` is given: nanoBragg.c, nonBragg.c and noisify.c all start
/// from `seed = -time((time_t *)0)`, the clock's seconds since 1970 negated (so the first
/// `ran1` call loads its table). The caller reads the clock and passes `unix_seconds`: the
/// library reads no clock.
pub fn seed_of_time(unix_seconds: i64) -> i64 {
    -unix_seconds
}

/// Park–Miller minimal standard generator with a Bays–Durham shuffle table (C `ran1`).
#[derive(Clone, Debug)]
pub struct Ran1 {
    idum: i64,
    iy: i64,
    iv: [i64; NTAB],
}

impl Ran1 {
    /// `seed` is the value of the C seed variable itself; the C passes negative values so that
    /// the first call (re)loads the shuffle table. The table is loaded lazily on the first
    /// `next`, exactly when the C does it.
    pub fn new(seed: i64) -> Ran1 {
        Ran1 {
            idum: seed,
            iy: 0,
            iv: [0; NTAB],
        }
    }

    /// One Schrage step of `idum = IA * idum mod IM`. Wrapping arithmetic only matters for seeds
    /// beyond the `atoi`/`time` range, where the C itself is undefined; it keeps us panic-free.
    fn advance(&mut self) {
        let k = self.idum / IQ;
        self.idum = IA
            .wrapping_mul(self.idum.wrapping_sub(k.wrapping_mul(IQ)))
            .wrapping_sub(IR.wrapping_mul(k));
        if self.idum < 0 {
            self.idum = self.idum.wrapping_add(IM);
        }
    }

    fn load_table(&mut self) {
        // C: a zero or positive idum becomes 1 (so any positive seed behaves like -1);
        // a negative one is negated.
        self.idum = if self.idum.wrapping_neg() < 1 {
            1
        } else {
            -self.idum
        };
        for j in (0..NTAB + 8).rev() {
            self.advance();
            if j < NTAB {
                self.iv[j] = self.idum;
            }
        }
        self.iy = self.iv[0];
    }

    /// Uniform deviate in (0, 1), excluding the end points, as a C `float`. Named after the
    /// C call sites' intent; `Ran1` is not an `Iterator` because it never ends.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f32 {
        if self.idum <= 0 || self.iy == 0 {
            self.load_table();
        }
        self.advance();
        // In range for every seed the C can be given; rem_euclid only guards the undefined rest.
        let j = (self.iy / NDIV).rem_euclid(NTAB as i64) as usize;
        self.iy = self.iv[j];
        self.iv[j] = self.idum;
        // C: `temp = AM*iy` is a double product stored in a float, compared against a double.
        let temp = (AM * self.iy as f64) as f32;
        if f64::from(temp) > RNMX {
            RNMX as f32
        } else {
            temp
        }
    }
}

/// ln Γ(xx) (C `gammln`): float in and out, double inside.
fn gammln(xx: f32) -> f32 {
    const COF: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let x = f64::from(xx);
    let mut y = x;
    let mut tmp = x + 5.5;
    tmp -= (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for c in COF {
        y += 1.0;
        ser += c / y;
    }
    (-tmp + (2.506_628_274_631_000_5 * ser / x).ln()) as f32
}

/// Gaussian and Poisson deviates on top of one `Ran1` stream (C `gaussdev` and `poidev`, whose
/// statics — the spare Box–Muller deviate and the per-mean cache — are kept here).
#[derive(Clone, Debug)]
pub struct PoissonGen {
    rng: Ran1,
    spare: Option<f32>,
    old_mean: f32,
    sq: f32,
    alxm: f32,
    g: f32,
}

impl PoissonGen {
    pub fn new(seed: i64) -> PoissonGen {
        PoissonGen {
            rng: Ran1::new(seed),
            spare: None,
            old_mean: -1.0,
            sq: 0.0,
            alxm: 0.0,
            g: 0.0,
        }
    }

    /// Unit-variance normal deviate by the polar Box–Muller method; every second call returns
    /// the deviate saved by the previous one, as the C `gaussdev` does.
    pub fn gauss(&mut self) -> f32 {
        if let Some(saved) = self.spare.take() {
            return saved;
        }
        loop {
            let v1 = (2.0 * f64::from(self.rng.next()) - 1.0) as f32;
            let v2 = (2.0 * f64::from(self.rng.next()) - 1.0) as f32;
            let rsq = v1 * v1 + v2 * v2;
            if rsq < 1.0 && rsq != 0.0 {
                let r = f64::from(rsq);
                let fac = (-2.0 * r.ln() / r).sqrt() as f32;
                self.spare = Some(v1 * fac);
                return v2 * fac;
            }
        }
    }

    /// Poisson deviate of the given mean (C `poidev`), returned as a float count.
    pub fn poisson(&mut self, mean: f32) -> f32 {
        if f64::from(mean) > 1.0e6 {
            // C: the rejection loop is too slow up there; a Gaussian approximation is used.
            let m = f64::from(mean);
            return (m + m.sqrt() * f64::from(self.gauss())) as f32;
        }
        if mean < 12.0 {
            self.poisson_direct(mean)
        } else {
            self.poisson_rejection(mean)
        }
    }

    /// Small means: multiply uniform deviates until the product drops below exp(-mean).
    fn poisson_direct(&mut self, mean: f32) -> f32 {
        if mean != self.old_mean {
            self.old_mean = mean;
            self.g = f64::from(-mean).exp() as f32;
        }
        let mut em: f32 = -1.0;
        let mut t: f32 = 1.0;
        loop {
            em += 1.0;
            t *= self.rng.next();
            let keep_going = t > self.g;
            if !keep_going {
                return em;
            }
        }
    }

    /// Larger means: rejection against a Lorentzian comparison function (NR `poidev`).
    /// `old_mean` and `g` are shared with the direct branch exactly as the C statics are; a given
    /// mean always takes the same branch, so the cached `g` never mixes meanings.
    fn poisson_rejection(&mut self, mean: f32) -> f32 {
        if mean != self.old_mean {
            self.old_mean = mean;
            self.sq = (2.0 * f64::from(mean)).sqrt() as f32;
            self.alxm = f64::from(mean).ln() as f32;
            self.g = mean * self.alxm - gammln((f64::from(mean) + 1.0) as f32);
        }
        loop {
            let (y, em) = self.lorentzian_candidate(mean);
            let em = em.floor();
            let ratio = em * self.alxm - gammln((f64::from(em) + 1.0) as f32) - self.g;
            let t = (0.9 * (1.0 + f64::from(y * y)) * f64::from(ratio).exp()) as f32;
            // C loops `while (ran1 > t)`; a NaN t (NaN mean) therefore ends the loop.
            let rejected = self.rng.next() > t;
            if !rejected {
                return em;
            }
        }
    }

    /// Draws y = tan(π·u) and em = sq·y + mean until em is not negative (`em < 0.0` in C, so a
    /// NaN em is accepted).
    fn lorentzian_candidate(&mut self, mean: f32) -> (f32, f32) {
        loop {
            let y = (PI * f64::from(self.rng.next())).tan() as f32;
            let em = self.sq * y + mean;
            let negative = em < 0.0;
            if !negative {
                return (y, em);
            }
        }
    }
}

/// Random rotation matrix (row-major) for one mosaic domain (C `mosaic_rotation_umat`): a random
/// axis and an angle of at most `mosaicity_rad`, weighted so that rotations fill a spherical cap.
pub fn mosaic_rotation_umat(mosaicity_rad: f32, rng: &mut Ran1) -> [f64; 9] {
    let r1 = 2.0 * f64::from(rng.next()) - 1.0;
    let r2 = 2.0 * f64::from(rng.next()) - 1.0;
    let r3 = 2.0 * f64::from(rng.next()) - 1.0;

    let xyrad = (1.0 - r2 * r2).sqrt();
    // C: `mosaicity*powf(...)` — both the power and the product are single precision.
    let cap = ((1.0 - r3 * r3) as f32).powf((1.0_f64 / 3.0) as f32);
    let rot = f64::from(mosaicity_rad * cap);

    let v1 = xyrad * (PI * r1).sin();
    let v2 = xyrad * (PI * r1).cos();
    let v3 = r2;
    axis_angle_matrix([v1, v2, v3], rot)
}

/// Rodrigues rotation matrix about unit axis `v` by `rot` radians, with the operation order of
/// the C expression tree (t1..t24) so the results agree to the last bit.
fn axis_angle_matrix(v: [f64; 3], rot: f64) -> [f64; 9] {
    let [v1, v2, v3] = v;
    let t1 = rot.cos();
    let t2 = 1.0 - t1;
    let t6 = t2 * v1;
    let t7 = t6 * v2;
    let t8 = rot.sin();
    let t9 = t8 * v3;
    let t11 = t6 * v3;
    let t12 = t8 * v2;
    let t19 = t2 * v2 * v3;
    let t20 = t8 * v1;
    [
        t1 + t2 * (v1 * v1),
        t7 - t9,
        t11 + t12,
        t7 + t9,
        t1 + t2 * (v2 * v2),
        t19 - t20,
        t11 - t12,
        t19 + t20,
        t1 + t2 * (v3 * v3),
    ]
}

type Row = [f64; 3];

fn norm(r: &Row) -> f64 {
    (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt()
}

/// Scales `r` to unit length when it has any length; returns the length it had (C pattern
/// `m = sqrt(...); if (m > 0) { x /= m; ... }`).
fn normalize(r: &mut Row) -> f64 {
    let m = norm(r);
    if m > 0.0 {
        for x in r.iter_mut() {
            *x /= m;
        }
    }
    m
}

fn unit_cross(a: &Row, b: &Row) -> Row {
    let mut c = [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ];
    normalize(&mut c);
    c
}

/// Misset angles (rotx, roty, rotz) in radians of a rotation matrix (C `umat2misset`, which
/// stores them in `missets[1..=3]`). Degenerate rows are repaired as the C does: two empty rows
/// are replaced by identity rows, a single empty row by the cross product of the other two.
pub fn umat2misset(umat: &[f64; 9]) -> [f64; 3] {
    let mut x: Row = [umat[0], umat[1], umat[2]];
    let mut y: Row = [umat[3], umat[4], umat[5]];
    let mut z: Row = [umat[6], umat[7], umat[8]];
    let (mx, my, mz) = (normalize(&mut x), normalize(&mut y), normalize(&mut z));

    if mx >= 0.0 && my <= 0.0 && mz <= 0.0 {
        y = [0.0, 1.0, 0.0];
        z = [0.0, 0.0, 1.0];
    }
    if mx <= 0.0 && my >= 0.0 && mz <= 0.0 {
        x = [1.0, 0.0, 0.0];
        z = [0.0, 0.0, 1.0];
    }
    if mx <= 0.0 && my <= 0.0 && mz >= 0.0 {
        x = [1.0, 0.0, 0.0];
        y = [0.0, 1.0, 0.0];
    }

    // The C repeats this substitution pass twice verbatim; the second pass can change the result
    // when the first one filled a row, so both are kept.
    for _ in 0..2 {
        let (xcy, ycz, zcx) = (unit_cross(&x, &y), unit_cross(&y, &z), unit_cross(&z, &x));
        if mx <= 0.0 {
            x = ycz;
        }
        if my <= 0.0 {
            y = zcx;
        }
        if mz <= 0.0 {
            z = xcy;
        }
    }
    normalize(&mut x);
    normalize(&mut y);
    normalize(&mut z);

    if z[0] * z[0] < 1.0 {
        [
            z[1].atan2(z[2]),
            (-z[0]).atan2((z[1] * z[1] + z[2] * z[2]).sqrt()),
            y[0].atan2(x[0]),
        ]
    } else {
        // C: atan2(1,1)*4 and atan2(1,1)*2, which are exactly π and π/2 in double.
        [PI, FRAC_PI_2, x[1].atan2(-y[1])]
    }
}

/// The Poisson-noise image and the totals the C prints after making it.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseImage {
    pub pixels: Vec<u16>,
    /// The Poisson deviates themselves (0 where not rendered): no ADC offset, no 65535 clip,
    /// for outputs that hold photon counts (the CBF image).
    pub counts: Vec<f32>,
    /// Sum of the Poisson deviates before the ADC offset (C prints it as "photons").
    pub photons: f64,
    pub overloads: u64,
}

/// Adds Poisson noise to a float image as the C noise loop does: pixels in visiting order, one
/// `poidev` per rendered pixel (so skipped pixels consume no random numbers and stay 0),
/// `value = poidev + adc`, clamped to 65535 (counted as an overload), then truncated.
/// `seed` is the C `seed` variable (`-seed N` sets it to -N).
pub fn noise_image(
    image: &[f32],
    rendered: impl Fn(usize) -> bool,
    seed: i64,
    adc_offset: f64,
) -> NoiseImage {
    let mut rng = PoissonGen::new(seed);
    let mut pixels = vec![0u16; image.len()];
    let mut counts = vec![0f32; image.len()];
    let mut photons = 0.0;
    let mut overloads = 0;
    for (i, (&mean, out)) in image.iter().zip(pixels.iter_mut()).enumerate() {
        if !rendered(i) {
            continue;
        }
        let deviate = rng.poisson(mean);
        counts[i] = deviate;
        photons += f64::from(deviate);
        let mut value = f64::from(deviate) + adc_offset;
        if value > 65535.0 {
            value = 65535.0;
            overloads += 1;
        }
        *out = to_ushort(value);
    }
    NoiseImage {
        pixels,
        counts,
        photons,
        overloads,
    }
}

/// C `(unsigned short int) double` as gcc emits it on x86_64: truncate to a 32-bit int
/// (cvttsd2si, whose out-of-range/NaN result has zero low bits, like Rust's saturating cast
/// here) and keep the low 16 bits. Only matters for negative values (negative ADC offsets).
fn to_ushort(value: f64) -> u16 {
    (value as i32) as u16
}

/// The C generators as noisify.c uses them: `ran1`'s shuffle table, `gaussdev`'s spare deviate
/// and `poidev`'s per-mean cache are function statics shared by every seed variable, while each
/// seed variable (`seed`, `calib_seed`) keeps only its own Park–Miller state. So a calibration
/// draw reads the shuffle table the previous Poisson draw left behind, and a spare Gaussian made
/// from `seed` may be handed to a `calib_seed` caller. `SharedStatics` holds those statics; the
/// caller owns the seed variables and passes them in, as the C passes `&seed`.
#[derive(Clone, Debug)]
pub struct SharedStatics {
    generators: PoissonGen,
}

impl Default for SharedStatics {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedStatics {
    /// Statics as at program start: empty shuffle table (loaded by the first call), no spare.
    pub fn new() -> SharedStatics {
        SharedStatics {
            generators: PoissonGen::new(0),
        }
    }

    /// Runs one C call with `seed` as its `long *idum`.
    fn with_seed<R>(&mut self, seed: &mut i64, call: impl FnOnce(&mut PoissonGen) -> R) -> R {
        self.generators.rng.idum = *seed;
        let result = call(&mut self.generators);
        *seed = self.generators.rng.idum;
        result
    }

    /// C `ran1(seed)`.
    pub fn ran1(&mut self, seed: &mut i64) -> f32 {
        self.with_seed(seed, |g| g.rng.next())
    }

    /// C `gaussdev(seed)`.
    pub fn gauss(&mut self, seed: &mut i64) -> f32 {
        self.with_seed(seed, PoissonGen::gauss)
    }

    /// C `poidev(mean, seed)`.
    pub fn poisson(&mut self, mean: f32, seed: &mut i64) -> f32 {
        self.with_seed(seed, |g| g.poisson(mean))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Known sequences below were printed by the C functions of nanoBragg.c compiled with
    /// `gcc -O2` on x86_64 (bit patterns of the float/double results).
    #[test]
    fn ran1_known_sequence() {
        let mut r = Ran1::new(-12_345_678);
        let got: Vec<u32> = (0..5).map(|_| r.next().to_bits()).collect();
        assert_eq!(got, KNOWN_RAN1_BITS);
    }

    const KNOWN_RAN1_BITS: [u32; 5] = [1061427168, 1019224550, 1058469971, 1057553515, 1065055109];

    #[test]
    fn ran1_positive_and_zero_seeds_behave_like_minus_one() {
        let reference: Vec<f32> = {
            let mut r = Ran1::new(-1);
            (0..10).map(|_| r.next()).collect()
        };
        for seed in [0, 1, 7, 123_456] {
            let mut r = Ran1::new(seed);
            let got: Vec<f32> = (0..10).map(|_| r.next()).collect();
            assert_eq!(got, reference, "seed {seed}");
        }
    }

    #[test]
    fn ran1_uniform_statistics() {
        let mut r = Ran1::new(-42);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = r.next();
            assert!(u > 0.0 && u < 1.0);
            sum += f64::from(u);
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn ran1_survives_extreme_seeds() {
        for seed in [i64::MIN, i64::MAX, -(1 << 40), 1 << 40] {
            let mut r = Ran1::new(seed);
            for _ in 0..100 {
                let u = r.next();
                assert!(u.is_finite());
            }
        }
    }

    #[test]
    fn gauss_known_sequence_and_statistics() {
        let mut g = PoissonGen::new(-7);
        let first: Vec<u32> = (0..4).map(|_| g.gauss().to_bits()).collect();
        assert_eq!(first, KNOWN_GAUSS_BITS);
        let n = 100_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let v = f64::from(g.gauss());
            s += v;
            s2 += v * v;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "mean {mean} var {var}"
        );
    }

    const KNOWN_GAUSS_BITS: [u32; 4] = [3192138614, 3212921767, 3203841391, 1074404003];

    #[test]
    fn poisson_known_sequences() {
        let mut g = PoissonGen::new(-123);
        let got: Vec<f32> = [0.0, 3.0, 3.0, 50.0, 50.0, 2.0e6, 2.0e6, 0.5]
            .iter()
            .map(|&m| g.poisson(m))
            .collect();
        assert_eq!(got, KNOWN_POISSON);
    }

    const KNOWN_POISSON: [f32; 8] = [0.0, 5.0, 0.0, 34.0, 45.0, 1999298.0, 2000958.6, 1.0];

    fn poisson_mean_var(mean: f32, n: usize) -> (f64, f64) {
        let mut g = PoissonGen::new(-99);
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let v = f64::from(g.poisson(mean));
            assert!(v >= 0.0 && v.fract() == 0.0 || mean > 1.0e6);
            s += v;
            s2 += v * v;
        }
        let m = s / n as f64;
        (m, s2 / n as f64 - m * m)
    }

    #[test]
    fn poisson_statistics_all_branches() {
        for mean in [3.0f32, 50.0, 2.0e6] {
            let (m, v) = poisson_mean_var(mean, 100_000);
            let want = f64::from(mean);
            let tolerance = 5.0 * (want / 100_000.0).sqrt();
            assert!((m - want).abs() < tolerance, "mean {mean}: got {m}");
            assert!((v / want - 1.0).abs() < 0.05, "mean {mean}: variance {v}");
        }
    }

    #[test]
    fn poisson_degenerate_means_terminate() {
        let mut g = PoissonGen::new(-5);
        assert_eq!(g.poisson(0.0), 0.0);
        assert_eq!(g.poisson(-3.0), 0.0);
        assert!(g.poisson(f32::NAN).is_nan());
        assert!(!g.poisson(f32::INFINITY).is_finite());
    }

    #[test]
    fn gammln_matches_factorials() {
        for (n, fact) in [
            (1.0f32, 1.0f64),
            (2.0, 1.0),
            (5.0, 24.0),
            (11.0, 3_628_800.0),
        ] {
            assert!(
                (f64::from(gammln(n)) - fact.ln()).abs() < 1e-5,
                "gammln({n})"
            );
        }
    }

    fn is_rotation(u: &[f64; 9]) -> bool {
        let rows = [[u[0], u[1], u[2]], [u[3], u[4], u[5]], [u[6], u[7], u[8]]];
        let det = rows[0][0] * (rows[1][1] * rows[2][2] - rows[1][2] * rows[2][1])
            - rows[0][1] * (rows[1][0] * rows[2][2] - rows[1][2] * rows[2][0])
            + rows[0][2] * (rows[1][0] * rows[2][1] - rows[1][1] * rows[2][0]);
        let orthonormal = (0..3).all(|i| {
            (0..3).all(|j| {
                let dot: f64 = (0..3).map(|k| rows[i][k] * rows[j][k]).sum();
                (dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12
            })
        });
        orthonormal && (det - 1.0).abs() < 1e-12
    }

    #[test]
    fn mosaic_umat_known_values_and_rotation_properties() {
        let mut r = Ran1::new(-12_345_678);
        let u = mosaic_rotation_umat(0.5f64.to_radians() as f32, &mut r);
        let bits: Vec<u64> = u.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, KNOWN_UMAT_BITS);
        for _ in 0..1000 {
            let u = mosaic_rotation_umat(0.3, &mut r);
            assert!(is_rotation(&u));
            let angle = ((u[0] + u[4] + u[8] - 1.0) / 2.0).clamp(-1.0, 1.0).acos();
            assert!(angle <= 0.3 + 1e-6, "angle {angle}");
        }
    }

    const KNOWN_UMAT_BITS: [u64; 9] = [
        4607182113669887683,
        4575895934571482844,
        13777038655982739267,
        13799268364099441624,
        4607182083545949891,
        13791510011362952149,
        4553272110994972871,
        4568142945464508471,
        4607182388057600210,
    ];

    /// `-misset random -misset_seed 12345` (golden a33): the C passes 90 as the "radian" cap.
    #[test]
    fn random_misset_matches_c() {
        let mut r = Ran1::new(-12345);
        let m = umat2misset(&mosaic_rotation_umat(90.0, &mut r));
        assert_eq!(
            m,
            [1.8451752577429177, -0.6100155833503615, -1.7073434076993237]
        );
        let Some(golden) = crate::testing::golden_dir() else {
            return;
        };
        let stdout =
            std::fs::read_to_string(golden.join("a33_misset_random_seed12345/stdout.txt")).unwrap();
        let deg = m.map(f64::to_degrees);
        let line = format!(
            "random orientation misset angles: {:.6} {:.6} {:.6} deg",
            deg[0], deg[1], deg[2]
        );
        assert!(stdout.contains(&line), "stdout lacks '{line}'");
    }

    #[test]
    fn umat2misset_inverts_xyz_rotation() {
        // R = Rz(c)·Ry(b)·Rx(a), the order nanoBragg's misset uses.
        let (a, b, c) = (0.3f64, -0.2f64, 1.1f64);
        let (sa, ca, sb, cb, sc, cc) = (a.sin(), a.cos(), b.sin(), b.cos(), c.sin(), c.cos());
        let u = [
            cc * cb,
            cc * sb * sa - sc * ca,
            cc * sb * ca + sc * sa,
            sc * cb,
            sc * sb * sa + cc * ca,
            sc * sb * ca - cc * sa,
            -sb,
            cb * sa,
            cb * ca,
        ];
        let m = umat2misset(&u);
        for (got, want) in m.iter().zip([a, b, c]) {
            assert!((got - want).abs() < 1e-12, "{m:?}");
        }
    }

    #[test]
    fn umat2misset_degenerate_inputs() {
        assert_eq!(umat2misset(&[0.0; 9]), [0.0, 0.0, 0.0]);
        let only_x = [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(umat2misset(&only_x), [0.0, 0.0, 0.0]);
        // A missing z row is rebuilt from x × y.
        let no_z = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(umat2misset(&no_z), [0.0, 0.0, 0.0]);
        // Gimbal lock branch: z row along x.
        let lock = [0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let m = umat2misset(&lock);
        assert_eq!(m[0], PI);
        assert_eq!(m[1], FRAC_PI_2);
    }

    #[test]
    fn noise_image_skips_unrendered_pixels_and_counts_overloads() {
        let image = [0.0f32, 5.0, 1.0e5, 7.0e4, 2.0];
        let noise = noise_image(&image, |i| i != 4, -1, 40.0);
        assert_eq!(noise.pixels[4], 0);
        assert!(noise.pixels[0] >= 40);
        assert_eq!(noise.pixels[3], 65535);
        assert_eq!(noise.overloads, 2);
        // the counts keep what the 16-bit pixels clip, and carry no ADC offset
        assert!(noise.counts[3] > 65535.0 && noise.counts[4] == 0.0);
        assert_eq!(noise.counts[1] + 40.0, f32::from(noise.pixels[1]));
        // The skipped pixel consumed no deviates: same totals as a four-pixel image.
        let shorter = noise_image(&image[..4], |_| true, -1, 40.0);
        assert_eq!(&noise.pixels[..4], &shorter.pixels[..]);
        assert_eq!(noise.photons, shorter.photons);
    }

    #[test]
    fn to_ushort_follows_gcc_truncation() {
        assert_eq!(to_ushort(65535.0), 65535);
        assert_eq!(to_ushort(40.9), 40);
        assert_eq!(to_ushort(-1.5), 65535);
        assert_eq!(to_ushort(f64::NAN), 0);
    }

    /// The `-seed N` value from a golden case's command line, as the C variable (-N).
    fn seed_from_cmd(cmd: &str) -> Option<i64> {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let pos = words.iter().position(|w| *w == "-seed")?;
        words.get(pos + 1)?.parse::<i64>().ok().map(|n| -n)
    }

    fn check_golden_noise(case_dir: &Path) {
        let read = |name: &str| {
            std::fs::read(case_dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let cmd = String::from_utf8_lossy(&read("cmd.txt")).into_owned();
        let seed = seed_from_cmd(&cmd).expect("golden cmd.txt has -seed");
        let floats: Vec<f32> = read("float.bin")
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let noise_file = read("noise.img");
        let want: Vec<u16> = noise_file[512..]
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        let got = noise_image(&floats, |_| true, seed, 40.0);
        assert_eq!(got.pixels.len(), want.len());
        let bad = got.pixels.iter().zip(&want).filter(|(g, w)| g != w).count();
        assert_eq!(bad, 0, "{}: {bad} pixels differ", case_dir.display());
        let stdout = String::from_utf8_lossy(&read("stdout.txt")).into_owned();
        let summary = format!(
            "{:.0} photons on noise image ({} overloads)",
            got.photons, got.overloads
        );
        assert!(
            stdout.contains(&summary),
            "{}: stdout lacks '{summary}'",
            case_dir.display()
        );
    }

    #[test]
    fn golden_noise_images_are_reproduced_exactly() {
        let Some(golden) = crate::testing::golden_dir() else {
            return;
        };
        for case in ["a76_noise_seed123", "a77_noise_seed456_overloads"] {
            check_golden_noise(&golden.join(case));
        }
    }

    /// With one seed variable the shared statics are exactly the per-seed generator.
    #[test]
    fn shared_statics_with_one_seed_match_poisson_gen() {
        let mut own = PoissonGen::new(-7);
        let mut shared = SharedStatics::new();
        let mut seed = -7;
        for mean in [0.5f32, 3.0, 50.0, 2.0e6, 7.0] {
            assert_eq!(own.poisson(mean).to_bits(), shared.poisson(mean, &mut seed).to_bits());
            assert_eq!(own.gauss().to_bits(), shared.gauss(&mut seed).to_bits());
        }
    }

    /// Two seed variables share the shuffle table and the spare Gaussian, as in noisify.c: the
    /// spare made by a `calib` call is returned to the next `seed` caller, and a positive seed
    /// variable never reloads the table.
    #[test]
    fn shared_statics_share_table_and_spare() {
        let mut shared = SharedStatics::new();
        let (mut seed, mut calib) = (-7i64, 123_456_789i64);
        let first = shared.gauss(&mut calib);
        // C: a positive seed on the first call loads the table as seed 1.
        let mut reference = PoissonGen::new(1);
        assert_eq!(first.to_bits(), reference.gauss().to_bits());
        let spare = reference.gauss();
        assert_eq!(shared.gauss(&mut seed).to_bits(), spare.to_bits());
        // `seed` was not advanced by taking the spare: it is still negative and reloads now.
        assert_eq!(seed, -7);
        let u = shared.ran1(&mut seed);
        assert_eq!(u.to_bits(), Ran1::new(-7).next().to_bits());
        assert!(seed > 0);
    }
}

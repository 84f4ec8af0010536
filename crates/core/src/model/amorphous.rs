//! The amorphous sample (water, air, ice, oil…): its structure factor as a function of
//! sin(θ)/λ, read from a `.stol` table, and how many molecules the beam sees. This is the
//! material nonBragg.c (github bl831/nanoBragg) scatters; `engine::background` turns it into
//! photons per pixel.
//!
//! Intensity per molecule is F(stol)²·r_e² per steradian (F in electrons, as in the table), so
//! a pixel of solid angle Ω collects F²·r_e²·fluence·molecules·Ω photons, with
//! molecules = volume·density·N_A / MW (or given outright).

use crate::error::{Error, Result};
use crate::cfmt::fmt_g;
use crate::physics::constants::AVOGADRO;
use std::path::Path;

/// Largest `.stol` table read.
pub const MAX_TABLE_BYTES: u64 = 64 << 20;
/// Column separators of the C reader (`" \t,;:!"`).
const DELIMITERS: [char; 6] = [' ', '\t', ',', ';', ':', '!'];

/// Units of the first column of a table: nonBragg's `-stol` (sin θ/λ in Å⁻¹), `-4stol`
/// (4·sin θ/λ) and `-Q` (4π·sin θ/λ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StolUnit {
    Stol,
    FourStol,
    Q,
}

impl StolUnit {
    /// Factor that turns the file's first column into sin θ/λ in m⁻¹ (nonBragg.c's
    /// `stol_file_mult`).
    pub fn to_per_metre(self) -> f64 {
        match self {
            StolUnit::Stol => 1e10,
            StolUnit::FourStol => 1e10 / 4.0,
            StolUnit::Q => 1e10 / std::f64::consts::PI / 4.0,
        }
    }
}

/// F(stol) as nonBragg.c holds it: the file's points (stol in m⁻¹, missing F as 0) with two
/// guard points at each end, at ∓1e98/∓1e99 carrying the first and last given F.
#[derive(Clone, Debug, PartialEq)]
pub struct StolTable {
    pub stol: Vec<f64>,
    pub f: Vec<f64>,
    /// the file's first column times `to_per_metre`, to say which unit was read
    pub unit: StolUnit,
}

impl StolTable {
    /// Reads a table: lines of `stol F` separated by nonBragg's delimiters; blank and `#` lines
    /// are skipped, further columns ignored. A line without F leaves F missing (0, and not an
    /// end value). A non-number is an error naming the line.
    pub fn parse(path: &Path, bytes: &[u8], unit: StolUnit, c_parity: bool) -> Result<StolTable> {
        let text = String::from_utf8_lossy(bytes);
        let mut rows: Vec<(f64, Option<f64>)> = Vec::new();
        // the file's line of each row, for messages
        let mut lines: Vec<usize> = Vec::new();
        for (number, raw) in text.split_inclusive('\n').enumerate() {
            let terminated = raw.ends_with('\n');
            let body = raw.strip_suffix('\n').unwrap_or(raw);
            let content = body.trim_start_matches(DELIMITERS);
            if content.starts_with('#') {
                continue;
            }
            let trimmed = content.trim_end_matches(|c: char| DELIMITERS.contains(&c) || c == '\r');
            if trimmed.is_empty() {
                continue;
            }
            let mut values = [None, None];
            for (slot, token) in values.iter_mut().zip(trimmed.split(DELIMITERS).filter(|t| !t.is_empty())) {
                let v: f64 = token.parse().map_err(|_| Error::parse(path, format!("line {}", number + 1), format!("`{token}` is not a number")))?;
                if !v.is_finite() {
                    return Err(Error::parse(path, format!("line {}", number + 1), format!("`{token}` is not finite")));
                }
                *slot = Some(v);
            }
            // C's reader: a last line without "\n" (or a CRLF line) stores atof("") = 0 in a
            // missing column instead of leaving it missing
            let f = match values[1] {
                None if c_parity && (!terminated || body.ends_with('\r')) => Some(0.0),
                f => f,
            };
            rows.push((values[0].unwrap_or(0.0), f));
            lines.push(number + 1);
        }
        if rows.is_empty() {
            return Err(Error::parse(path, "whole file", "no data (expected lines of `sin(theta)/lambda F`)"));
        }
        if !rows.iter().any(|r| r.1.is_some()) {
            return Err(Error::parse(path, "whole file", "no structure factors (second column) in the table"));
        }
        let mult = unit.to_per_metre();
        check_abscissae(path, &rows, &lines, mult, c_parity)?;
        let f_low = rows.iter().find_map(|r| r.1).unwrap_or(0.0);
        let f_high = rows.iter().rev().find_map(|r| r.1).unwrap_or(0.0);
        let mut stol = vec![-1e99, -1e98];
        let mut f = vec![f_low, f_low];
        for &(s, v) in &rows {
            stol.push(s * mult);
            f.push(v.unwrap_or(0.0));
        }
        stol.extend([1e98, 1e99]);
        f.extend([f_high, f_high]);
        Ok(StolTable { stol, f, unit })
    }

    /// Number of points including the four guards (what nonBragg.c reports as "initialized F
    /// points").
    pub fn points(&self) -> usize {
        self.stol.len()
    }

    /// nonBragg.c's look-up: `nearest` walks from where the previous pixel left it to the last
    /// point at or below `stol`, then four-point Lagrange interpolation through points
    /// nearest−1 … nearest+2, guards included — so beyond the table's last point F is
    /// extrapolated (through the last two points, the far guards adding next to nothing) rather
    /// than held.
    pub fn interpolate_c(&self, stol: f64, nearest: &mut usize) -> f64 {
        let n = self.stol.len();
        // C: `while(stol > stol_of[nearest] && nearest <= stols) ++nearest;` — the guards stop
        // it before the end
        while *nearest < n - 1 && stol > self.stol[*nearest] {
            *nearest += 1;
        }
        while *nearest >= 2 && stol < self.stol[*nearest] {
            *nearest -= 1;
        }
        let at = (*nearest).clamp(1, n - 3) - 1;
        let xa = [self.stol[at], self.stol[at + 1], self.stol[at + 2], self.stol[at + 3]];
        let ya = [self.f[at], self.f[at + 1], self.f[at + 2], self.f[at + 3]];
        crate::physics::polint(&xa, &ya, stol)
    }

    /// The default mode's look-up: F held at the first and last given values outside the table
    /// (the guards' values, as nonBragg.c means them), four-point Lagrange interpolation inside
    /// through the file's points only, the stencil kept within the table at its ends (a table
    /// of fewer than four points interpolates through what it has).
    pub fn interpolate(&self, stol: f64) -> f64 {
        let data = &self.stol[2..self.stol.len() - 2];
        let m = data.len();
        if stol <= data[0] {
            return self.f[0];
        }
        if stol >= data[m - 1] {
            return self.f[self.f.len() - 1];
        }
        // last point at or below stol
        let below = data.partition_point(|&s| s <= stol).saturating_sub(1);
        self.interpolate_from(stol, below)
    }

    /// Whether the file's points ascend (then [`StolTable::interpolate_near`] may be used).
    pub fn ascends(&self) -> bool {
        self.stol[2..self.stol.len() - 2].windows(2).all(|p| p[0] <= p[1])
    }

    /// [`StolTable::interpolate`] for a table that [`StolTable::ascends`], the search started
    /// at `hint` (the previous look-up's point, near which a neighbouring pixel's stol lies):
    /// the same point, hence the same F, found in a few steps instead of a binary search over
    /// the whole table for every look-up.
    pub fn interpolate_near(&self, stol: f64, hint: &mut usize) -> f64 {
        let data = &self.stol[2..self.stol.len() - 2];
        let m = data.len();
        // outside the table, NaN, or a single point: no search
        if !(stol > data[0] && stol < data[m - 1]) {
            return self.interpolate(stol);
        }
        // bracket data[lo] <= stol < data[hi] by doubling steps from the hint
        let (mut lo, mut hi) = ((*hint).min(m - 2), (*hint).min(m - 2));
        let mut step = 1;
        if data[lo] <= stol {
            loop {
                hi = (lo + step).min(m - 1);
                if data[hi] > stol {
                    break;
                }
                lo = hi;
                step *= 2;
            }
        } else {
            loop {
                lo = hi.saturating_sub(step);
                if data[lo] <= stol {
                    break;
                }
                hi = lo;
                step *= 2;
            }
        }
        let below = lo + data[lo..hi].partition_point(|&s| s <= stol) - 1;
        *hint = below;
        self.interpolate_from(stol, below)
    }

    /// Four-point Lagrange interpolation around `below`, the last point at or below `stol`.
    fn interpolate_from(&self, stol: f64, below: usize) -> f64 {
        let data = &self.stol[2..self.stol.len() - 2];
        let values = &self.f[2..self.f.len() - 2];
        let m = data.len();
        if m < 4 {
            return lagrange(&data[..m], &values[..m], stol);
        }
        let start = below.saturating_sub(1).min(m - 4);
        lagrange(&data[start..start + 4], &values[start..start + 4], stol)
    }
}

/// The first column as the look-ups need it. A value that overflows once converted to m⁻¹
/// (`1e300`) is refused in both modes: it makes every pixel non-finite. Both look-ups
/// interpolate through neighbouring points, dividing by the difference of their abscissae, so
/// a value repeated on the next row gives non-finite pixels near it, and the default mode's
/// search assumes the rows ascend: the default mode refuses a repeated or descending value,
/// naming both lines; `-c_parity` reads the table in file order as nonBragg.c does, with a
/// warning naming the lines (the finished image is still refused if it is not finite).
fn check_abscissae(path: &Path, rows: &[(f64, Option<f64>)], lines: &[usize], mult: f64, c_parity: bool) -> Result<()> {
    if let Some(i) = rows.iter().position(|r| !(r.0 * mult).is_finite()) {
        let why = format!("sin(theta)/lambda {} overflows once converted to 1/m (×{})", rows[i].0, fmt_g(mult));
        return Err(Error::parse(path, format!("line {}", lines[i]), why));
    }
    for i in 1..rows.len() {
        let (before, here) = (rows[i - 1].0, rows[i].0);
        let why = if here == before {
            format!("sin(theta)/lambda {here} repeats line {}'s: the interpolation between them divides by zero", lines[i - 1])
        } else if here < before {
            format!("sin(theta)/lambda {here} is below line {}'s {before}: the table must ascend in its first column (sort it)", lines[i - 1])
        } else {
            continue;
        };
        if !c_parity {
            return Err(Error::parse(path, format!("line {}", lines[i]), why));
        }
        log::warn!("{}: line {}: {why} (read in file order, as nonBragg.c does with -c_parity)", path.display(), lines[i]);
    }
    Ok(())
}

/// Lagrange interpolation through up to four points (distinct abscissae).
fn lagrange(xa: &[f64], ya: &[f64], x: f64) -> f64 {
    if xa.len() == 4 {
        let xa4 = [xa[0], xa[1], xa[2], xa[3]];
        let ya4 = [ya[0], ya[1], ya[2], ya[3]];
        return crate::physics::polint(&xa4, &ya4, x);
    }
    let mut sum = 0.0;
    for i in 0..xa.len() {
        let mut term = ya[i];
        for j in 0..xa.len() {
            if i != j && xa[i] != xa[j] {
                term *= (x - xa[j]) / (xa[i] - xa[j]);
            }
        }
        sum += term;
    }
    sum
}

/// The amorphous sample as the flags give it (SI units): a box of `size` = [x along the beam
/// (the thickness), y, z], of `density` (g/m³) and molar mass `molecular_weight` (g/mol), or
/// with `molecules` given outright (then the density follows from it).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSpec {
    pub size: [f64; 3],
    pub density: f64,
    pub molecular_weight: f64,
    /// 0: from the volume and density
    pub molecules: f64,
}

impl Default for SampleSpec {
    /// nonBragg.c's defaults: a 0.1 mm cube of density 1 g/cm³ and 18 g/mol (water).
    fn default() -> Self {
        SampleSpec { size: [1e-4; 3], density: 1.0e6, molecular_weight: 18.0, molecules: 0.0 }
    }
}

/// The sample the beam sees, after clipping by the beam.
#[derive(Clone, Debug, PartialEq)]
pub struct AmorphousSample {
    pub table: StolTable,
    /// [x (thickness along the beam), y, z] after clipping
    pub size: [f64; 3],
    /// g/m³ (recomputed from `molecules` when those were given)
    pub density: f64,
    pub molecular_weight: f64,
    pub molecules: f64,
}

impl AmorphousSample {
    /// nonBragg.c's order: a beam narrower than the sample clips y and z (nonBragg.c calls
    /// them "high" and "wide"; the warnings are returned for the caller to print), then the
    /// volume gives the molecules, or given molecules give the density.
    pub fn resolve(table: StolTable, spec: &SampleSpec, beamsize: f64) -> (AmorphousSample, Vec<String>) {
        let mut size = spec.size;
        let mut warnings = Vec::new();
        if beamsize >= 0.0 {
            for (axis, word) in [(1, "high"), (2, "wide")] {
                if beamsize < size[axis] {
                    warnings.push(format!("clipping sample ({} m {word}) with beam ({} m)", fmt_g(size[axis]), fmt_g(beamsize)));
                    size[axis] = beamsize;
                }
            }
        }
        let volume = size[0] * size[1] * size[2];
        let mut density = spec.density;
        if spec.molecules != 0.0 {
            density = spec.molecules / volume / AVOGADRO * spec.molecular_weight;
        }
        let molecules = volume * density * AVOGADRO / spec.molecular_weight;
        (AmorphousSample { table, size, density, molecular_weight: spec.molecular_weight, molecules }, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str, c_parity: bool) -> StolTable {
        StolTable::parse(Path::new("t.stol"), text.as_bytes(), StolUnit::Stol, c_parity).unwrap()
    }

    #[test]
    fn reads_points_guards_and_missing_values() {
        let t = table("# stol F\n0 2.5\n0.1, 3.0\n\n0.2 \n0.3 4.0 extra\n", false);
        assert_eq!(t.points(), 8);
        assert_eq!(t.stol[2..6], [0.0, 0.1 * 1e10, 0.2 * 1e10, 0.3 * 1e10]);
        assert_eq!(t.f, vec![2.5, 2.5, 2.5, 3.0, 0.0, 4.0, 4.0, 4.0]);
        // C: the last line's missing F is atof("") = 0 without a newline (so it is the end
        // value); the default mode leaves it missing
        let last = table("0 1\n0.1 2\n0.2", true);
        assert_eq!((last.f[4], last.f[last.f.len() - 1]), (0.0, 0.0));
        let last = table("0 1\n0.1 2\n0.2", false);
        assert_eq!((last.f[4], last.f[last.f.len() - 1]), (0.0, 2.0));
        let e = StolTable::parse(Path::new("t.stol"), b"0 1\n0.1 x\n", StolUnit::Stol, false).unwrap_err().to_string();
        assert!(e.contains("t.stol") && e.contains("line 2") && e.contains("`x`"), "{e}");
        assert!(StolTable::parse(Path::new("t.stol"), b"\n# only\n", StolUnit::Stol, false).is_err());
    }

    #[test]
    fn both_lookups_agree_inside_and_differ_beyond_the_table() {
        let text: String = (0..50).map(|i| format!("{} {}\n", i as f64 * 0.01, 2.0 + (i as f64 * 0.3).sin())).collect();
        let t = table(&text, false);
        let mut nearest = 0;
        for k in 10..480 {
            let s = k as f64 * 0.001e10;
            let c = t.interpolate_c(s, &mut nearest);
            let d = t.interpolate(s);
            assert!((c - d).abs() < 1e-12, "{s}: {c} {d}");
        }
        // at a table point both give the table's value
        assert!((t.interpolate(0.2e10) - (2.0 + 6.0f64.sin())).abs() < 1e-12);
        // past the last point (0.49) C extrapolates, the default mode holds the last value
        let beyond = 0.8e10;
        let held = t.interpolate(beyond);
        assert_eq!(held, 2.0 + (49.0f64 * 0.3).sin());
        let extrapolated = t.interpolate_c(beyond, &mut nearest);
        assert!((extrapolated - held).abs() > 0.1, "{extrapolated} {held}");
        // the walk gives the same answer whichever side it starts from
        let (mut up, mut down) = (0, t.points() - 1);
        assert_eq!(t.interpolate_c(0.123e10, &mut up), t.interpolate_c(0.123e10, &mut down));
    }

    /// The hinted search finds the default look-up's point from any hint: the same F bit for
    /// bit, at and between points (repeated points included), outside the table and for NaN,
    /// in a jumping order of look-ups; an unsorted table does not ascend.
    #[test]
    fn hinted_lookup_equals_the_default_lookup() {
        let mut text: String = (0..300).map(|i| format!("{} {}\n", i as f64 * 0.002, 2.0 + (i as f64 * 0.1).cos())).collect();
        text.push_str("0.598 5\n0.598 6\n0.7 1\n");
        // repeated points: a table only -c_parity reads (check_abscissae)
        let t = table(&text, true);
        assert!(t.ascends());
        let mut hint = 0;
        let probes = (0..4000).map(|k| ((k * 7919) % 4100) as f64 * 0.00018e10 - 0.01e10).chain([0.598e10, 0.0, 0.7e10, f64::NAN]);
        for s in probes {
            for start in [hint, 0, 150, 10_000] {
                let mut h = start;
                let (got, want) = (t.interpolate_near(s, &mut h), t.interpolate(s));
                assert!(got.to_bits() == want.to_bits(), "stol {s} from hint {start}: {got} vs {want}");
            }
            t.interpolate_near(s, &mut hint);
        }
        assert!(!table("0 1\n0.2 2\n0.1 3\n", true).ascends());
    }

    #[test]
    fn repeated_descending_and_overflowing_abscissae_are_named() {
        let parse = |text: &str, c_parity: bool| StolTable::parse(Path::new("t.stol"), text.as_bytes(), StolUnit::Stol, c_parity).map_err(|e| e.to_string());
        let e = parse("# water\n0 1\n0.1 2\n\n0.1 3\n0.2 4\n", false).unwrap_err();
        assert!(e.contains("t.stol: line 5") && e.contains("repeats line 3"), "{e}");
        let e = parse("0 1\n0.2 2\n0.1 3\n", false).unwrap_err();
        assert!(e.contains("t.stol: line 3") && e.contains("below line 2"), "{e}");
        // as nonBragg.c, -c_parity reads them in file order
        assert!(parse("0 1\n0.1 2\n0.1 3\n", true).is_ok());
        assert!(parse("0 1\n0.2 2\n0.1 3\n", true).is_ok());
        for c_parity in [false, true] {
            let e = parse("0 1\n1e300 2\n", c_parity).unwrap_err();
            assert!(e.contains("t.stol: line 2") && e.contains("overflows"), "{e}");
        }
    }

    #[test]
    fn sample_clipping_and_molecules_follow_nonbragg() {
        let t = table("0 1\n", false);
        let (s, w) = AmorphousSample::resolve(t.clone(), &SampleSpec::default(), 1e-4);
        assert!(w.is_empty());
        assert!((s.molecules / 3.34563e16 - 1.0).abs() < 1e-5, "{}", s.molecules);
        let (s, w) = AmorphousSample::resolve(t.clone(), &SampleSpec { size: [2e-3, 1e-4, 1e-4], density: 1200.0, molecular_weight: 14.4, ..SampleSpec::default() }, 5e-5);
        assert_eq!(w.len(), 2);
        assert_eq!(s.size, [2e-3, 5e-5, 5e-5]);
        assert!((s.molecules / 2.50923e14 - 1.0).abs() < 1e-5, "{}", s.molecules);
        let (s, _) = AmorphousSample::resolve(t, &SampleSpec { molecules: 1e10, ..SampleSpec::default() }, 1.0);
        assert!((s.molecules / 1e10 - 1.0).abs() < 1e-12);
    }
}

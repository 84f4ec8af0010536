//! Detectors of several panels (docs/detectors.md): what a geometry file describes
//! (`PanelSpec`, `PanelLayout`, in the lab frame, SI units), the checks a layout must pass,
//! and the resolved `Panel`s both engines render in one job.
//!
//! The lab frame is nanoBragg.c's default (MOSFLM) frame: +x along the beam, from the source
//! through the sample; +y up; +z = x × y (right-handed). The readers of `nanobragg-io`
//! convert DIALS (dxtbx: +z towards the source, +y up) and CrystFEL (+z along the beam, +y up)
//! geometry into it.
//!
//! Panels that tile one plane on one pixel grid (the same axes and pixel size, origins whole
//! pixels apart) are placed on that grid: they share its corner `pix0` and differ in their
//! first pixel on it (`Panel::first`), so that the sub-pixel positions, and so the pixels, of
//! a detector cut into such tiles are those of the whole detector bit for bit
//! (`engine::subpixel`).

use crate::error::{Error, Result};
use crate::physics::{V3, cross, dot, magnitude, unitize};

/// One panel as a geometry file (or a caller) describes it: lab frame, metres.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelSpec {
    /// its name in the file (messages, reports)
    pub name: String,
    pub fpixels: usize,
    pub spixels: usize,
    /// pixel edge along fast and along slow (m); nanobragg's pixels are square
    pub pixel_size: [f64; 2],
    /// the outer corner of the panel's first pixel, relative to the sample (m)
    pub origin: V3,
    /// unit vectors along the fast (pixel index within a row) and slow (row) directions
    pub fast: V3,
    pub slow: V3,
    /// pixels that are not rendered (0), fast-major, `fpixels × spixels` (a file's bad regions)
    pub mask: Option<Vec<u16>>,
}

impl PanelSpec {
    /// The panel as a geometry file would describe it: its own first pixel's corner and its
    /// axes, no mask (a resolved detector's panel written back out; e.g. the one panel that
    /// nanoBragg.c's flags place, `Experiment::detector.panels[0]`).
    pub fn of_panel(panel: &Panel) -> PanelSpec {
        PanelSpec {
            name: panel.name.clone(),
            fpixels: panel.fpixels,
            spixels: panel.spixels,
            pixel_size: [panel.pixel_size; 2],
            origin: panel.origin(),
            fast: panel.fdet,
            slow: panel.sdet,
            mask: None,
        }
    }

    /// The panel cut into `across` × `down` tiles of equal size with no gaps (row by row:
    /// along fast first), named `<name>_<k>`; None when the cut leaves unequal tiles. The
    /// tiles lie on the panel's pixel grid, so they render its pixels bit for bit
    /// (`resolve_panels` places them on one grid).
    pub fn tiles(&self, across: usize, down: usize) -> Option<Vec<PanelSpec>> {
        if across == 0 || down == 0 || self.fpixels % across != 0 || self.spixels % down != 0 || self.mask.is_some() {
            return None;
        }
        let (w, h) = (self.fpixels / across, self.spixels / down);
        let mut tiles = Vec::with_capacity(across * down);
        for j in 0..down {
            for i in 0..across {
                let (f, s) = ((i * w) as f64 * self.pixel_size[0], (j * h) as f64 * self.pixel_size[1]);
                let origin = std::array::from_fn(|c| self.origin[c] + f * self.fast[c] + s * self.slow[c]);
                tiles.push(PanelSpec { name: format!("{}_{}", self.name, tiles.len()), fpixels: w, spixels: h, origin, ..self.clone() });
            }
        }
        Some(tiles)
    }
}

/// The panels of one geometry file, in the file's order.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelLayout {
    /// where the layout came from, as messages name it (the file's path)
    pub source: String,
    pub panels: Vec<PanelSpec>,
}

/// One panel of a resolved detector. Every panel of a detector has the same size, pixel size
/// and sensor (thickness, attenuation): the image is the panels stacked as
/// `[panel, slow, fast]`, and panel `p`'s rows are `p·spixels ..` of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub name: String,
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_size: f64,
    /// the corner of the first pixel of the pixel grid the panel lies on (m, from the sample)
    pub pix0: V3,
    /// the panel's first pixel on that grid (fast, slow); 0, 0 when the panel is its own grid
    pub first: [i64; 2],
    pub fdet: V3,
    pub sdet: V3,
    /// unit normal, pointing away from the sample
    pub odet: V3,
    /// the distance of the panel's plane from the sample, along `odet` (m)
    pub close_distance: f64,
    pub thick: f64,
    pub mu: f64,
    /// inclusive pixel limits on the panel: fast min, fast max, slow min, slow max
    pub roi: [usize; 4],
}

impl Panel {
    /// The outer corner of the panel's own first pixel (m, from the sample).
    pub fn origin(&self) -> V3 {
        let (f, s) = (self.first[0] as f64 * self.pixel_size, self.first[1] as f64 * self.pixel_size);
        std::array::from_fn(|i| self.pix0[i] + f * self.fdet[i] + s * self.sdet[i])
    }

    /// The centre of pixel (fast, slow) of the panel (m, from the sample), front surface.
    pub fn pixel_centre(&self, fast: f64, slow: f64) -> V3 {
        let (f, s) = ((self.first[0] as f64 + fast + 0.5) * self.pixel_size, (self.first[1] as f64 + slow + 0.5) * self.pixel_size);
        std::array::from_fn(|i| self.pix0[i] + f * self.fdet[i] + s * self.sdet[i])
    }

    /// The panel's four outer corners: first pixel's, then along fast, along both, along slow.
    pub fn corners(&self) -> [V3; 4] {
        let o = self.origin();
        let (f, s) = (self.fpixels as f64 * self.pixel_size, self.spixels as f64 * self.pixel_size);
        let at = |a: f64, b: f64| -> V3 { std::array::from_fn(|i| o[i] + a * self.fdet[i] + b * self.sdet[i]) };
        [at(0.0, 0.0), at(f, 0.0), at(f, s), at(0.0, s)]
    }

    /// Where the beam (unit vector `beam`, from the sample) meets the panel's plane, in metres
    /// along fast and slow from its first pixel's outer corner; None when the beam runs parallel
    /// to the plane or away from it.
    pub fn beam_centre(&self, beam: V3) -> Option<(f64, f64)> {
        let along = dot(beam, self.odet);
        if !(along > 0.0) {
            return None;
        }
        let o = self.origin();
        let to_beam: V3 = std::array::from_fn(|i| self.close_distance / along * beam[i] - o[i]);
        Some((dot(to_beam, self.fdet), dot(to_beam, self.sdet)))
    }
}

/// Largest distance (in pixels) between a panel's origin and the nearest whole-pixel step of
/// another panel's grid for the two to be placed on one grid. Files written with origins to
/// a few decimals in mm land within 1e-10 pixel of the grid; the move is far below anything
/// an image shows (and below the 1e-6 pixel `-pixelmap` is checked to).
const SAME_GRID: f64 = 1e-7;

/// How far from 90° (as the cosine) a panel's fast and slow axes may be: nanobragg's pixels
/// are squares (the solid angle takes pixel²).
const SQUARE: f64 = 1e-3;

/// The sensor every panel has (one material for the whole detector).
#[derive(Clone, Copy, Debug)]
pub struct Sensor {
    pub thick: f64,
    pub mu: f64,
}

/// The panels of `layout` resolved: checked (sizes, axes, placement in front of the sample and
/// not parallel to the `beam`, no overlaps), each normal pointing away from the sample, panels
/// that tile one grid placed on it. `roi` (the `-roi` typed, if any) applies to every panel.
pub fn resolve_panels(layout: &PanelLayout, beam: V3, sensor: Sensor, roi: Option<[i64; 4]>) -> Result<Vec<Panel>> {
    let bad = |panel: &str, why: String| Error::Usage(format!("-detector {}: panel {}: {why}", crate::error::shown(&layout.source), crate::error::shown(panel)));
    let Some(first) = layout.panels.first() else {
        return Err(Error::Usage(format!("-detector {}: the file describes no panel", crate::error::shown(&layout.source))));
    };
    let mut panels: Vec<Panel> = Vec::with_capacity(layout.panels.len());
    for spec in &layout.panels {
        let name = spec.name.as_str();
        if spec.fpixels == 0 || spec.spixels == 0 {
            return Err(bad(name, format!("it has no pixels ({} × {})", spec.fpixels, spec.spixels)));
        }
        let [px, py] = spec.pixel_size;
        if !(px > 0.0 && px.is_finite() && py > 0.0 && py.is_finite()) {
            return Err(bad(name, format!("the pixel size {} × {} mm is not a positive size", px * 1e3, py * 1e3)));
        }
        if px != py {
            return Err(bad(name, format!("its pixels are {} × {} mm; nanobragg's pixels are square", px * 1e3, py * 1e3)));
        }
        if (spec.fpixels, spec.spixels) != (first.fpixels, first.spixels) {
            return Err(bad(
                name,
                format!(
                    "it is {} × {} pixels and panel {} is {} × {}: nanobragg stacks the panels as [panel, slow, fast], all of one size",
                    spec.fpixels, spec.spixels, first.name, first.fpixels, first.spixels
                ),
            ));
        }
        if px != first.pixel_size[0] {
            return Err(bad(name, format!("its pixels are {} mm and panel {}'s {} mm: nanobragg renders one pixel size", px * 1e3, first.name, first.pixel_size[0] * 1e3)));
        }
        for (what, v) in [("origin", spec.origin), ("fast axis", spec.fast), ("slow axis", spec.slow)] {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(bad(name, format!("its {what} ({} {} {}) is not a number", v[0], v[1], v[2])));
            }
        }
        let fdet = axis(spec.fast).ok_or_else(|| bad(name, "its fast axis has no length".into()))?;
        let sdet = axis(spec.slow).ok_or_else(|| bad(name, "its slow axis has no length".into()))?;
        let normal = cross(fdet, sdet);
        if !(magnitude(normal) > 1e-9) {
            return Err(bad(name, "its fast and slow axes are parallel: they span no plane".into()));
        }
        if dot(fdet, sdet).abs() > SQUARE {
            return Err(bad(name, format!("its fast and slow axes are {:.3}° apart; nanobragg's pixels are square", dot(fdet, sdet).acos().to_degrees())));
        }
        let mut odet = unitize(normal).0;
        let mut close_distance = dot(spec.origin, odet);
        if close_distance < 0.0 {
            // the normal is fast × slow turned to face away from the sample: sensor layers lie
            // behind the front surface
            odet = odet.map(|x| -x);
            close_distance = -close_distance;
        }
        if !(close_distance > 0.0) {
            return Err(bad(name, "its plane passes through the sample".into()));
        }
        if dot(odet, beam).abs() < 1e-6 {
            return Err(bad(name, "it is parallel to the beam: its plane contains the beam direction".into()));
        }
        let pixel = px;
        let (fw, sw) = (spec.fpixels as f64 * pixel, spec.spixels as f64 * pixel);
        let centre: V3 = std::array::from_fn(|i| spec.origin[i] + 0.5 * fw * fdet[i] + 0.5 * sw * sdet[i]);
        if !(dot(centre, beam) > 0.0) {
            return Err(bad(name, "it lies behind the sample (its centre is upstream of the sample along the beam)".into()));
        }
        if let Some(mask) = &spec.mask
            && mask.len() != spec.fpixels * spec.spixels
        {
            return Err(bad(name, format!("its mask has {} pixels for {} × {}", mask.len(), spec.fpixels, spec.spixels)));
        }
        let roi = match roi {
            None => [0, spec.fpixels - 1, 0, spec.spixels - 1],
            Some(r) => {
                let [x0, x1, y0, y1] = r.map(|v| v.max(0) as usize);
                if x0 > x1 || y0 > y1 || x1 >= spec.fpixels || y1 >= spec.spixels {
                    return Err(Error::Usage(format!(
                        "-roi {x0} {x1} {y0} {y1}: the region leaves the panels of -detector {} (fast 0..{}, slow 0..{})",
                        crate::error::shown(&layout.source),
                        spec.fpixels - 1,
                        spec.spixels - 1
                    )));
                }
                [x0, x1, y0, y1]
            }
        };
        panels.push(Panel {
            name: spec.name.clone(),
            fpixels: spec.fpixels,
            spixels: spec.spixels,
            pixel_size: pixel,
            pix0: spec.origin,
            first: [0, 0],
            fdet,
            sdet,
            odet,
            close_distance,
            thick: sensor.thick,
            mu: sensor.mu,
            roi,
        });
    }
    if let Some((a, b)) = overlapping(&panels, beam) {
        return Err(bad(&panels[b].name, format!("it overlaps panel {} as seen from the sample", panels[a].name)));
    }
    share_grids(&mut panels);
    Ok(panels)
}

/// A file's axis as a unit vector: kept as read when it is unit to rounding (so that a file
/// written from a resolved detector renders it bit for bit), else normalised; None when it has
/// no length.
fn axis(v: V3) -> Option<V3> {
    let (unit, len) = unitize(v);
    if !(len > 0.0) {
        return None;
    }
    Some(if (len - 1.0).abs() <= 4.0 * f64::EPSILON { v } else { unit })
}

/// Places panels that tile one pixel grid on that grid: panels with the same axes and pixel
/// size whose origins lie whole pixels apart in their plane (within `SAME_GRID` pixel). Each
/// grid's corner is the origin of its member first in slow, then fast, so that a detector cut
/// into tiles keeps its own corner.
fn share_grids(panels: &mut [Panel]) {
    let n = panels.len();
    let mut grid_of: Vec<Option<usize>> = vec![None; n];
    for i in 0..n {
        if grid_of[i].is_some() {
            continue;
        }
        grid_of[i] = Some(i);
        let mut members = vec![(i, [0i64, 0])];
        for j in i + 1..n {
            if grid_of[j].is_none()
                && let Some(step) = grid_step(&panels[i], &panels[j])
            {
                grid_of[j] = Some(i);
                members.push((j, step));
            }
        }
        if members.len() == 1 {
            continue;
        }
        // the corner: the member first in slow, then fast, its origin exact
        let &(corner, at) = members.iter().min_by_key(|(_, [f, s])| (*s, *f)).expect("one member at least");
        let pix0 = panels[corner].pix0;
        let close_distance = panels[corner].close_distance;
        for (m, step) in members {
            panels[m].pix0 = pix0;
            panels[m].close_distance = close_distance;
            panels[m].first = [step[0] - at[0], step[1] - at[1]];
        }
    }
}

/// Whole pixels from `a`'s origin to `b`'s along fast and slow, when `b` lies on `a`'s grid.
fn grid_step(a: &Panel, b: &Panel) -> Option<[i64; 2]> {
    if a.fdet != b.fdet || a.sdet != b.sdet || a.odet != b.odet || a.pixel_size != b.pixel_size {
        return None;
    }
    let d: V3 = std::array::from_fn(|i| b.pix0[i] - a.pix0[i]);
    let (u, v, w) = (dot(d, a.fdet) / a.pixel_size, dot(d, a.sdet) / a.pixel_size, dot(d, a.odet) / a.pixel_size);
    let near = |x: f64| (x - x.round()).abs() <= SAME_GRID;
    (near(u) && near(v) && w.abs() <= SAME_GRID && u.abs() < 1e15 && v.abs() < 1e15).then(|| [u.round() as i64, v.round() as i64])
}

/// The first pair of panels (a, b) that overlap as seen from the sample: some ray from the
/// sample crosses both. Each panel is projected through the sample onto the plane normal to
/// the beam one metre away (where its corners all lie ahead of the sample: a panel reaching
/// sideways past 90° is not compared), and the quadrilaterals are tested by separating axes;
/// panels that only touch along an edge (a detector cut into tiles) do not overlap.
fn overlapping(panels: &[Panel], beam: V3) -> Option<(usize, usize)> {
    let (u, v) = plane_axes(beam);
    let projected: Vec<Option<[[f64; 2]; 4]>> = panels
        .iter()
        .map(|p| {
            let c = p.corners();
            let mut out = [[0.0; 2]; 4];
            for (o, corner) in out.iter_mut().zip(c) {
                let ahead = dot(corner, beam);
                if !(ahead > 1e-3 * magnitude(corner)) {
                    return None;
                }
                *o = [dot(corner, u) / ahead, dot(corner, v) / ahead];
            }
            Some(out)
        })
        .collect();
    // an overlap must reach deeper than rounding: a millionth of the smallest panel's
    // angular pixel size
    let eps = panels.iter().map(|p| p.pixel_size / magnitude(p.origin()).max(p.close_distance)).fold(f64::INFINITY, f64::min) * 1e-6;
    let boxes: Vec<Option<[f64; 4]>> = projected
        .iter()
        .map(|q| {
            q.map(|q| {
                let (xs, ys) = (q.map(|c| c[0]), q.map(|c| c[1]));
                [xs.iter().cloned().fold(f64::INFINITY, f64::min), xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max), ys.iter().cloned().fold(f64::INFINITY, f64::min), ys.iter().cloned().fold(f64::NEG_INFINITY, f64::max)]
            })
        })
        .collect();
    for a in 0..panels.len() {
        let (Some(qa), Some(ba)) = (&projected[a], &boxes[a]) else { continue };
        for b in a + 1..panels.len() {
            let (Some(qb), Some(bb)) = (&projected[b], &boxes[b]) else { continue };
            if ba[1] <= bb[0] + eps || bb[1] <= ba[0] + eps || ba[3] <= bb[2] + eps || bb[3] <= ba[2] + eps {
                continue;
            }
            if !separated(qa, qb, eps) {
                return Some((a, b));
            }
        }
    }
    None
}

/// Two unit vectors spanning the plane normal to `beam`.
fn plane_axes(beam: V3) -> (V3, V3) {
    let b = unitize(beam).0;
    let helper = if b[0].abs() < 0.9 { [1.0, 0.0, 0.0] } else { [0.0, 1.0, 0.0] };
    let u = unitize(cross(b, helper)).0;
    (u, cross(b, u))
}

/// Whether two convex quadrilaterals are apart (or only touch, within `eps`) along one of
/// their edges' normals.
fn separated(a: &[[f64; 2]; 4], b: &[[f64; 2]; 4], eps: f64) -> bool {
    for quad in [a, b] {
        for k in 0..4 {
            let (p, q) = (quad[k], quad[(k + 1) % 4]);
            let len = ((q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2)).sqrt();
            if !(len > 0.0) {
                continue;
            }
            let n = [-(q[1] - p[1]) / len, (q[0] - p[0]) / len];
            let range = |quad: &[[f64; 2]; 4]| {
                let d = quad.map(|c| c[0] * n[0] + c[1] * n[1]);
                (d.iter().cloned().fold(f64::INFINITY, f64::min), d.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
            };
            let ((a0, a1), (b0, b1)) = (range(a), range(b));
            if a1 <= b0 + eps || b1 <= a0 + eps {
                return true;
            }
        }
    }
    false
}

/// The panels' stacked mask (`[panel, slow, fast]`, 1 = rendered) from their files' masks and
/// their regions of interest; None when every pixel is rendered.
pub fn stacked_mask(layout: &PanelLayout, panels: &[Panel]) -> Option<Vec<u16>> {
    let full = |p: &Panel| p.roi == [0, p.fpixels - 1, 0, p.spixels - 1];
    if layout.panels.iter().all(|s| s.mask.is_none()) && panels.iter().all(full) {
        return None;
    }
    let mut mask = Vec::with_capacity(panels.iter().map(|p| p.fpixels * p.spixels).sum());
    for (spec, p) in layout.panels.iter().zip(panels) {
        let [x0, x1, y0, y1] = p.roi;
        for slow in 0..p.spixels {
            for fast in 0..p.fpixels {
                let inside = fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1;
                let good = spec.mask.as_ref().is_none_or(|m| m[slow * p.fpixels + fast] != 0);
                mask.push(u16::from(inside && good));
            }
        }
    }
    Some(mask)
}

impl super::Detector {
    /// Sets the nanoBragg.c description fields (corner, axes, distances, beam centre, the XDS
    /// and DIALS origins) to those of `panel`, as a flags-placed panel in the same place would
    /// have them: `place`'s last steps for a panel whose corner and axes are known (the beam
    /// meets the panel's plane at `fbeam`, `sbeam`; CUSTOM convention, so `xbeam` = `fbeam`).
    pub fn describe_panel(&mut self, panel: &Panel, beam: V3) {
        let pix0 = panel.origin();
        let mut ratio = dot(beam, panel.odet);
        if ratio == 0.0 {
            ratio = f64::MIN_POSITIVE;
        }
        let close_distance = dot(pix0, panel.odet);
        let distance = close_distance / ratio;
        let to_beam: V3 = std::array::from_fn(|i| distance * beam[i] - pix0[i]);
        (self.fdet, self.sdet, self.odet, self.pix0) = (panel.fdet, panel.sdet, panel.odet, pix0);
        (self.distance, self.close_distance) = (distance, close_distance);
        (self.fclose, self.sclose) = (-dot(pix0, panel.fdet), -dot(pix0, panel.sdet));
        (self.xclose, self.yclose) = (self.fclose, self.sclose);
        (self.fbeam, self.sbeam) = (dot(panel.fdet, to_beam), dot(panel.sdet, to_beam));
        (self.xbeam, self.ybeam) = (self.fbeam, self.sbeam);
        (self.orgx, self.orgy) = (self.fclose / panel.pixel_size + 0.5, self.sclose / panel.pixel_size + 0.5);
        self.dials_origin = [1000.0 * pix0[2], 1000.0 * pix0[1], -1000.0 * pix0[0]];
    }

    /// Panel `p` as a detector of its own (one panel, its pixels' mask and region): what a
    /// header of that panel's image describes. A one-panel detector is itself.
    pub fn of_panel(&self, p: usize, beam: V3) -> super::Detector {
        if self.panels.len() == 1 {
            return self.clone();
        }
        let panel = self.panels[p].clone();
        let pixels = self.fpixels * self.spixels;
        let mut d = super::Detector {
            panels: vec![Panel { pix0: panel.origin(), first: [0, 0], close_distance: dot(panel.origin(), panel.odet), ..panel.clone() }],
            roi: [0, self.fpixels - 1, 0, self.spixels - 1],
            mask: self.mask.as_ref().map(|m| m[p * pixels..(p + 1) * pixels].to_vec()),
            ..self.clone()
        };
        d.describe_panel(&panel, beam);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` × `h` panel of 0.1 mm pixels whose first pixel's corner is at `origin` (m), fast
    /// along −y... as MOSFLM lays it: fast +z, slow −y, facing the beam (+x).
    pub(crate) fn spec(name: &str, w: usize, h: usize, origin: V3) -> PanelSpec {
        PanelSpec { name: name.into(), fpixels: w, spixels: h, pixel_size: [1e-4, 1e-4], origin, fast: [0.0, 0.0, 1.0], slow: [0.0, -1.0, 0.0], mask: None }
    }

    fn layout(panels: Vec<PanelSpec>) -> PanelLayout {
        PanelLayout { source: "test.expt".into(), panels }
    }

    const BEAM: V3 = [1.0, 0.0, 0.0];
    const SENSOR: Sensor = Sensor { thick: 0.0, mu: 0.0 };

    fn resolve(panels: Vec<PanelSpec>) -> Result<Vec<Panel>> {
        resolve_panels(&layout(panels), BEAM, SENSOR, None)
    }

    /// A 512² panel cut into 4 tiles, in any order: each tile on the whole panel's grid, its
    /// corner the whole panel's corner exactly.
    #[test]
    fn tiles_of_one_plane_share_its_grid() {
        let o: V3 = [0.1, 0.0256, -0.0256];
        let at = |f: f64, s: f64| -> V3 { [o[0], o[1] - s * 1e-4, o[2] + f * 1e-4] };
        let tiles = vec![spec("b", 256, 256, at(256.0, 0.0)), spec("d", 256, 256, at(256.0, 256.0)), spec("a", 256, 256, o), spec("c", 256, 256, at(0.0, 256.0))];
        let panels = resolve(tiles).unwrap();
        let firsts: Vec<[i64; 2]> = panels.iter().map(|p| p.first).collect();
        assert_eq!(firsts, [[256, 0], [256, 256], [0, 0], [0, 256]]);
        for p in &panels {
            assert_eq!(p.pix0, o, "{}", p.name);
            assert_eq!(p.close_distance, dot(o, p.odet));
        }
        // a tile shifted by a fraction of a pixel is a grid of its own
        let off = vec![spec("a", 256, 256, o), spec("b", 256, 256, at(256.5, 0.0))];
        let panels = resolve(off).unwrap();
        assert_eq!(panels[1].first, [0, 0]);
        assert_eq!(panels[1].pix0, at(256.5, 0.0));
    }

    #[test]
    fn normals_face_away_from_the_sample() {
        // fast × slow pointing at the sample: turned round
        let mut s = spec("p", 10, 10, [0.1, 0.0005, -0.0005]);
        s.slow = [0.0, 1.0, 0.0];
        let p = &resolve(vec![s]).unwrap()[0];
        assert_eq!(p.odet, [1.0, 0.0, 0.0]);
        assert_eq!(p.close_distance, 0.1);
    }

    #[test]
    fn bad_layouts_are_refused_naming_file_and_panel() {
        let o: V3 = [0.1, 0.0, 0.0];
        let cases: Vec<(Vec<PanelSpec>, &str)> = vec![
            (vec![spec("p0", 10, 10, o), spec("p1", 10, 10, [0.1, -0.0005, 0.0005])], "panel p1: it overlaps panel p0"),
            (vec![PanelSpec { fast: [0.0; 3], ..spec("z", 10, 10, o) }], "panel z: its fast axis has no length"),
            (vec![PanelSpec { slow: [0.0, 0.0, 2.0], ..spec("par", 10, 10, o) }], "panel par: its fast and slow axes are parallel"),
            (vec![spec("back", 10, 10, [-0.1, 0.0005, -0.0005])], "panel back: it lies behind the sample"),
            (vec![PanelSpec { fast: [1.0, 0.0, 0.0], ..spec("side", 10, 10, [0.0, 0.05, 0.01]) }], "panel side: it is parallel to the beam"),
            (vec![spec("a", 10, 10, o), spec("b", 11, 10, [0.1, 0.01, 0.0])], "panel b: it is 11 × 10 pixels and panel a is 10 × 10"),
            (vec![PanelSpec { pixel_size: [1e-4, 2e-4], ..spec("rect", 10, 10, o) }], "panel rect: its pixels are 0.1 × 0.2 mm"),
            (vec![spec("origin", 10, 10, [0.0, 0.0, 0.0])], "panel origin: its plane passes through the sample"),
            (vec![], "the file describes no panel"),
        ];
        for (panels, want) in cases {
            let e = resolve(panels).unwrap_err().to_string();
            assert!(e.starts_with("-detector test.expt: ") && e.contains(want), "{e}\nwanted: {want}");
        }
    }

    /// Tiles that touch along an edge (no gap) do not overlap; a gap is fine too.
    #[test]
    fn touching_and_separated_tiles_do_not_overlap() {
        let o: V3 = [0.1, 0.0, 0.0];
        let tiles = |gap: f64| (0..5).flat_map(move |i| (0..12).map(move |j| spec(&format!("m{i}{j}"), 48, 20, [0.1, -(j as f64) * (20.0 + gap) * 1e-4, (i as f64) * (48.0 + gap) * 1e-4]))).collect::<Vec<_>>();
        for gap in [0.0, 7.0, 0.37] {
            let panels = resolve(tiles(gap)).unwrap();
            assert_eq!(panels.len(), 60);
        }
        let _ = o;
    }
}

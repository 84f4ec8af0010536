//! Detector conventions, pivots and the placement of the detector plane (spec: geometry and
//! conventions; REFERENCE §2–§3 for where nanoBragg.c departs from its spec).

use crate::params::{Convention, Mode, Pivot, ExperimentParams};
use super::Warning;
use crate::physics::{V3, cross, dot, rotate_axis, rotate_xyz, unitize};

/// Basis vectors and beam-centre values after the convention block.
pub struct Basis {
    pub convention: Convention,
    pub pivot: Pivot,
    pub beam: V3,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub twotheta_axis: V3,
    pub polar_vector: V3,
    pub spindle: V3,
    pub xbeam: f64,
    pub ybeam: f64,
    pub fbeam: f64,
    pub sbeam: f64,
    pub xclose: f64,
    pub yclose: f64,
    pub fclose: f64,
    pub sclose: f64,
}

/// Per-convention vectors: beam, fdet, sdet, odet, twotheta axis, polarization, spindle.
fn convention_vectors(c: Convention) -> Option<[V3; 7]> {
    match c {
        Convention::Adxv => Some([[0., 0., 1.], [1., 0., 0.], [0., -1., 0.], [0., 0., 1.], [-1., 0., 0.], [1., 0., 0.], [1., 0., 0.]]),
        Convention::Mosflm | Convention::Denzo => {
            Some([[1., 0., 0.], [0., 0., 1.], [0., -1., 0.], [1., 0., 0.], [0., 0., -1.], [0., 0., 1.], [0., 0., 1.]])
        }
        Convention::Xds => Some([[0., 0., 1.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.], [1., 0., 0.], [1., 0., 0.], [1., 0., 0.]]),
        Convention::Dials => Some([[0., 0., 1.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.], [0., 1., 0.], [0., 1., 0.], [0., 1., 0.]]),
        Convention::Custom => None,
    }
}

/// Apply the convention block of nanoBragg.c: beam-centre defaults, basis vectors, the pivot
/// each named convention forces (the default mode lets an explicit `-pivot` win instead).
pub fn convention_basis(r: &ExperimentParams, detsize_f: f64, detsize_s: f64, pixel: f64) -> Basis {
    let mut fclose = if r.orgx.is_nan() { detsize_f / 2.0 } else { (r.orgx - 0.5) * pixel };
    let mut sclose = if r.orgy.is_nan() { detsize_s / 2.0 } else { (r.orgy - 0.5) * pixel };
    let xclose = if r.xclose.is_nan() { fclose } else { r.xclose };
    let yclose = if r.yclose.is_nan() { sclose } else { r.yclose };
    let (mut xbeam, mut ybeam) = (r.xbeam, r.ybeam);
    let (fbeam, sbeam);
    let mut pivot = r.pivot;
    match r.convention {
        Convention::Adxv => {
            if xbeam.is_nan() { xbeam = (detsize_f + pixel) / 2.0; }
            if ybeam.is_nan() { ybeam = (detsize_s - pixel) / 2.0; }
            (fbeam, sbeam) = (xbeam, detsize_s - ybeam);
            pivot = Pivot::Beam;
        }
        Convention::Mosflm | Convention::Denzo => {
            if xbeam.is_nan() { xbeam = (detsize_s + pixel) / 2.0; }
            if ybeam.is_nan() { ybeam = (detsize_f + pixel) / 2.0; }
            // MOSFLM puts the first pixel centre at 0.5 pixel; DENZO does not
            let half = if r.convention == Convention::Mosflm { 0.5 * pixel } else { 0.0 * pixel };
            (fbeam, sbeam) = (ybeam + half, xbeam + half);
            pivot = Pivot::Beam;
        }
        Convention::Xds | Convention::Dials => {
            if xbeam.is_nan() { xbeam = xclose; }
            if ybeam.is_nan() { ybeam = yclose; }
            (fbeam, sbeam) = (xbeam, ybeam);
            pivot = Pivot::Sample;
        }
        Convention::Custom => {
            if xbeam.is_nan() { xbeam = xclose; }
            if ybeam.is_nan() { ybeam = yclose; }
            (fbeam, sbeam) = (xbeam, ybeam);
            (fclose, sclose) = (xbeam, ybeam);
        }
    }
    if r.mode == Mode::Default && let Some(p) = r.explicit_pivot {
        // REFERENCE §2: in C the named conventions overwrite -pivot; we honour the user
        pivot = p;
    }
    let [beam, fdet, sdet, odet, twotheta_axis, polar_vector, spindle] =
        convention_vectors(r.convention).unwrap_or([r.beam, r.fdet, r.sdet, r.odet, r.twotheta_axis, r.polar_vector, r.spindle]);
    Basis {
        convention: r.convention, pivot, beam, fdet, sdet, odet, twotheta_axis, polar_vector, spindle,
        xbeam, ybeam, fbeam, sbeam, xclose, yclose, fclose, sclose,
    }
}

/// Unit basis; an `odet` whose length is not exactly 1 is replaced by f × s (as C does).
pub fn straighten(b: &mut Basis, warnings: &mut Vec<Warning>) {
    b.beam = unitize(b.beam).0;
    b.fdet = unitize(b.fdet).0;
    b.sdet = unitize(b.sdet).0;
    let (o, len) = unitize(b.odet);
    b.odet = o;
    if len != 1.0 {
        warnings.push(Warning::warn("auto-generating odet_vector"));
        b.odet = unitize(cross(b.fdet, b.sdet)).0;
    }
    b.polar_vector = unitize(b.polar_vector).0;
    b.spindle = unitize(b.spindle).0;
}

/// The placed detector.
pub struct Placement {
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub pix0: V3,
    pub distance: f64,
    pub close_distance: f64,
    pub fclose: f64,
    pub sclose: f64,
    pub fbeam: f64,
    pub sbeam: f64,
    pub orgx: f64,
    pub orgy: f64,
    pub dials_origin: V3,
}

pub struct PlaceInput<'a> {
    pub basis: &'a Basis,
    pub rot: V3,
    pub twotheta: f64,
    pub distance: f64,
    pub close_distance: f64,
    pub pixel: f64,
    /// user detector origin before rotations (default mode only)
    pub pix0: Option<V3>,
}

/// How the distance along the beam and the close distance relate: the beam · the detector
/// normal after the detector rotations (`distance = close_distance / ratio`), DBL_MIN where
/// they are perpendicular, as nanoBragg.c and nonBragg.c take it.
pub fn beam_ratio(beam: V3, odet: V3, rot: V3) -> f64 {
    let ratio = dot(beam, rotate_xyz(odet, rot));
    if ratio == 0.0 { f64::MIN_POSITIVE } else { ratio }
}

/// Rotate the detector and locate its origin, keeping the beam spot (BEAM pivot) or the near
/// point (SAMPLE pivot) fixed.
pub fn place(p: &PlaceInput) -> Placement {
    let b = p.basis;
    let ratio = beam_ratio(b.beam, b.odet, p.rot);
    let close_distance = if p.close_distance.is_nan() { (ratio * p.distance).abs() } else { p.close_distance };
    let distance = close_distance / ratio;
    let swing = |v: V3| rotate_axis(rotate_xyz(v, p.rot), b.twotheta_axis, p.twotheta);
    let mut pix0 = [0.0; 3];
    if let Some(user) = p.pix0 {
        pix0 = swing(user);
    } else if b.pivot == Pivot::Sample {
        pix0 = swing(lin3(-b.fclose, b.fdet, -b.sclose, b.sdet, close_distance, b.odet));
    }
    let (fdet, sdet, odet) = (swing(b.fdet), swing(b.sdet), swing(b.odet));
    if p.pix0.is_none() && b.pivot == Pivot::Beam {
        pix0 = lin3(-b.fbeam, fdet, -b.sbeam, sdet, distance, b.beam);
    }
    let fclose = -dot(pix0, fdet);
    let sclose = -dot(pix0, sdet);
    let close_distance = dot(pix0, odet);
    let to_beam = [
        close_distance / ratio * b.beam[0] - pix0[0],
        close_distance / ratio * b.beam[1] - pix0[1],
        close_distance / ratio * b.beam[2] - pix0[2],
    ];
    Placement {
        fdet,
        sdet,
        odet,
        pix0,
        distance: close_distance / ratio,
        close_distance,
        fclose,
        sclose,
        fbeam: dot(fdet, to_beam),
        sbeam: dot(sdet, to_beam),
        orgx: fclose / p.pixel + 0.5,
        orgy: sclose / p.pixel + 0.5,
        dials_origin: [
            1000.0 * dot(pix0, [0.0, 0.0, 1.0]),
            1000.0 * dot(pix0, [0.0, 1.0, 0.0]),
            1000.0 * dot(pix0, [-1.0, 0.0, 0.0]),
        ],
    }
}

/// s1·v1 + s2·v2 + s3·v3, summed left to right per component as C writes it.
fn lin3(s1: f64, v1: V3, s2: f64, v2: V3, s3: f64, v3: V3) -> V3 {
    [s1 * v1[0] + s2 * v2[0] + s3 * v3[0], s1 * v1[1] + s2 * v2[1] + s3 * v3[1], s1 * v1[2] + s2 * v2[2] + s3 * v3[2]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ExperimentParams;

    #[test]
    fn mosflm_pix0_for_centred_beam() {
        // AT-GEO: MOSFLM, 1024 pixels of 0.1 mm, 100 mm: pix0 = [0.1, 0.05125, -0.05125] m
        let mut r = ExperimentParams::c_initial(Mode::Default, -1);
        (r.xbeam, r.ybeam) = (0.0512, 0.0512);
        let mut b = convention_basis(&r, 0.1024, 0.1024, 1e-4);
        straighten(&mut b, &mut Vec::new());
        let p = place(&PlaceInput { basis: &b, rot: [0.0; 3], twotheta: 0.0, distance: 0.1, close_distance: f64::NAN, pixel: 1e-4, pix0: None });
        let want = [0.1, 0.05125, -0.05125];
        for (got, want) in p.pix0.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{:?}", p.pix0);
        }
    }

    #[test]
    fn explicit_pivot_wins_only_in_default_mode() {
        let mut r = ExperimentParams::c_initial(Mode::Default, -1);
        r.explicit_pivot = Some(Pivot::Sample);
        assert_eq!(convention_basis(&r, 0.1, 0.1, 1e-4).pivot, Pivot::Sample);
        r.mode = Mode::CParity;
        assert_eq!(convention_basis(&r, 0.1, 0.1, 1e-4).pivot, Pivot::Beam);
    }
}

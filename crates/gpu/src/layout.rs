//! Host mirrors of the structs the kernel reads and writes. Each layout is defined once here
//! and once in `shaders/render.wgsl` / `shaders/physics.wgsl`: keep them in sync (the tests
//! below compare every size and field offset with what naga computes for the WGSL).
//!
//! A `Wide` is 8 bytes holding one W value of the kernel: the f64 bits for the native-f64
//! shader variant, or an f32 (hi, lo) pair for the double-float variant.

use super::shader::Precision;
use nanobragg_core::engine::plan::{Interpolation, Plan};
use crate::physics::V3;
use bytemuck::{Pod, Zeroable};

pub type Wide = u64;

/// One W value for the given shader variant.
pub fn wide(v: f64, precision: Precision) -> Wide {
    match precision {
        Precision::F64 => v.to_bits(),
        Precision::DoubleFloat => {
            let hi = v as f32;
            let lo = (v - hi as f64) as f32;
            // vec2<f32>: x (hi) at the lower address, little-endian
            hi.to_bits() as u64 | (lo.to_bits() as u64) << 32
        }
    }
}

pub fn wide3(v: V3, precision: Precision) -> [Wide; 3] {
    v.map(|x| wide(x, precision))
}

/// Reverses `wide` (used for trace values, which the kernel stores as hi/lo pairs).
pub fn from_parts(hi: f32, lo: f32) -> f64 {
    hi as f64 + lo as f64
}

/// A `W3` in the uniform `Params`: three wide values and the padding to 32 bytes that the
/// uniform layout rules (WGSL `@align(16)`) put after it.
pub type PaddedW3 = [Wide; 4];

pub fn padded_wide3(v: V3, precision: Precision) -> PaddedW3 {
    let [x, y, z] = wide3(v, precision);
    [x, y, z, 0]
}

/// Constants of one render (WGSL `Params`, a uniform buffer).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuParams {
    pub beam: PaddedW3,
    pub polar_axis: PaddedW3,
    pub a_star: PaddedW3,
    pub b_star: PaddedW3,
    pub c_star: PaddedW3,
    pub subpixel_size: Wide,
    pub pixel_size: Wide,
    pub distance: Wide,
    pub thickstep: Wide,
    pub mu: Wide,
    pub dmin: Wide,
    pub scale: Wide,
    pub i_bg: Wide,
    pub kahn: f32,
    pub fudge: f32,
    pub default_f: f32,
    pub fpixels: u32,
    /// rows of each panel (the image's rows are the panels' stacked)
    pub panel_rows: u32,
    pub oversample: u32,
    pub thicksteps: u32,
    pub source_count: u32,
    pub phisteps: u32,
    pub domains: u32,
    pub grid_min_h: i32,
    pub grid_min_k: i32,
    pub grid_min_l: i32,
    pub grid_count_h: i32,
    pub grid_count_k: i32,
    pub grid_count_l: i32,
    pub grid_split: u32,
    pub first_pixel: u32,
    pub first_layer: u32,
    pub first_sub: u32,
    pub first_source: u32,
    /// always 0: the kernel's runtime-opaque zero (wide_df.wgsl)
    pub zero: u32,
    /// to `incident0`'s 16-byte alignment
    pub pad0: [u32; 2],
    /// the one source (ONE_SOURCE) and lattice (ONE_TERM), also read from here
    pub incident0: PaddedW3,
    pub lambda0: Wide,
    pub weight0: f32,
    pub pad1: u32,
    pub lattice0_a: PaddedW3,
    pub lattice0_b: PaddedW3,
    pub lattice0_c: PaddedW3,
}

/// The kernel's pipeline-overridable constants for this plan (WGSL `override`s of the same
/// names): the features the experiment uses, compiled in or out per render.
pub fn overrides(plan: &Plan, tracing: bool) -> Vec<(&'static str, f64)> {
    let on = |b: bool| if b { 1.0 } else { 0.0 };
    // the kernel's SHAPE_* constants are generated from the same codes (shader::prelude)
    let shape = f64::from(plan.shape.code());
    vec![
        ("CURVED", on(plan.curved)),
        ("POINT_PIXEL", on(plan.point_pixel)),
        ("OVERSAMPLE_THICK", on(plan.oversample_thick)),
        ("OVERSAMPLE_POLAR", on(plan.oversample_polar)),
        ("OVERSAMPLE_OMEGA", on(plan.oversample_omega)),
        ("NOPOLAR", on(plan.nopolar)),
        ("WATER", on(plan.has_water)),
        ("COMPOUND", on(plan.compound_factors)),
        ("INTERPOLATE", on(plan.interpolation != Interpolation::Nearest)),
        ("ONE_SHOT", on(plan.interpolation == Interpolation::OneShotSwitch)),
        ("GRID", on(plan.grid.is_some())),
        ("THICK", on(plan.thick != 0.0)),
        ("FIRST_TERM", on(plan.first_term.is_some())),
        ("SHAPE", shape),
        ("N_A", plan.n[0]),
        ("N_B", plan.n[1]),
        ("N_C", plan.n[2]),
        ("DMIN", on(plan.dmin > 0.0)),
        ("TRACE", on(tracing)),
        ("MASK", on(plan.mask.is_some() && !tracing)),
        ("ONE_SOURCE", on(plan.sources.len() == 1)),
        ("ONE_TERM", on(plan.phisteps * plan.domains == 1 && plan.first_term.is_none())),
    ]
}

/// What one dispatch renders (WGSL `Dispatch`, a uniform: 32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GpuDispatch {
    pub x0: u32,
    pub y0: u32,
    pub width: u32,
    pub start: u32,
    pub count: u32,
    /// pixels with a smaller image index are left at zero (c-parity second pass)
    pub first_index: u32,
    /// image index of the traced pixel, or `NO_TRACE`
    pub trace_pixel: u32,
    pub bits: u32,
}

pub const NO_TRACE: u32 = u32::MAX;
/// `GpuDispatch::bits` (WGSL `JOB_*`).
pub const JOB_INTERPOLATE: u32 = 1;

/// One term's lattice, real-space a, b, c (m), as the kernel stores it (WGSL `LatticeWords` of
/// the wide file, unpacked into a `Lattice` by `lattice_from_words`): f64,
/// each vector in a 4-wide word (w zero); double-float, the nine pairs back to back, padded to
/// a whole 16-byte word.
pub fn lattice_words(abc: &[V3; 3], precision: Precision) -> Vec<Wide> {
    match precision {
        Precision::F64 => abc.iter().flat_map(|v| [wide(v[0], precision), wide(v[1], precision), wide(v[2], precision), 0]).collect(),
        Precision::DoubleFloat => abc.iter().flatten().map(|&x| wide(x, precision)).chain([0]).collect(),
    }
}

/// WGSL `Source`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuSource {
    pub incident: [Wide; 3],
    pub lambda: Wide,
    pub weight: f32,
    pub pad: u32,
}

/// WGSL `Panel`: one panel's pixel grid (corner, axes, the panel's first pixel on it) and
/// plane distance (`PlanPanel`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuPanel {
    pub pix0: [Wide; 3],
    pub fdet: [Wide; 3],
    pub sdet: [Wide; 3],
    pub odet: [Wide; 3],
    pub close_distance: Wide,
    pub first_fast: i32,
    pub first_slow: i32,
}

/// What the kernel writes per pixel (WGSL `PixelOut`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GpuPixelOut {
    pub value: f32,
    pub omega_sum: f32,
    pub left_grid: u32,
}

/// One traced value (WGSL `TraceSlot`); `written` is 0 where the CPU tracer would say nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GpuTraceSlot {
    pub hi: f32,
    pub lo: f32,
    pub written: u32,
}

/// The kernel's buffer bindings (render.wgsl `@group(0) @binding(n)`), in binding order. Keep
/// in sync with the WGSL declarations (`bindings_match_the_wgsl` below checks every number
/// against the parsed shader) and with the binding types in context.rs `bind_group_layout`.
pub mod binding {
    /// uniform `params_in`: `GpuParams`
    pub const PARAMS: usize = 0;
    /// uniform `job_in`: `GpuDispatch`, rewritten for every dispatch
    pub const DISPATCH: usize = 1;
    /// storage `lattices`: `lattice_words` per φ step × domain (then the c-parity first-term set)
    pub const LATTICES: usize = 2;
    /// storage `sources`: `GpuSource`
    pub const SOURCES: usize = 3;
    /// storage `grid_lo`, `grid_hi`: the structure-factor grid as f32, split at `grid_split`
    pub const GRID_LO: usize = 4;
    pub const GRID_HI: usize = 5;
    /// storage `mask_bits`: one bit per pixel
    pub const MASK: usize = 6;
    /// storage, written: `pixels_out` (`GpuPixelOut`) and `trace` (`GpuTraceSlot`)
    pub const PIXELS: usize = 7;
    pub const TRACE: usize = 8;
    /// storage `panels`: `GpuPanel` per panel of the detector
    pub const PANELS: usize = 9;
    /// how many bindings there are
    pub const COUNT: usize = 10;
    /// (WGSL variable name, binding) of each, for the layout test
    #[cfg(test)]
    pub const NAMES: [(&str, usize); COUNT] = [
        ("params_in", PARAMS),
        ("job_in", DISPATCH),
        ("lattices", LATTICES),
        ("sources", SOURCES),
        ("grid_lo", GRID_LO),
        ("grid_hi", GRID_HI),
        ("mask_bits", MASK),
        ("pixels_out", PIXELS),
        ("trace", TRACE),
        ("panels", PANELS),
    ];
}

/// Trace slot numbers (WGSL `T_*`); vectors take three consecutive slots.
pub mod slot {
    pub const PIXEL_POS: usize = 0;
    pub const R_DISTANCE: usize = 3;
    pub const OMEGA_FIRST: usize = 4;
    pub const DIFFRACTED: usize = 5;
    pub const SCATTERING: usize = 8;
    pub const ROT_A: usize = 11;
    pub const ROT_B: usize = 14;
    pub const ROT_C: usize = 17;
    pub const HKL_FRAC: usize = 20;
    pub const HKL_ROUNDED: usize = 23;
    pub const F_LATT_AXES: usize = 26;
    pub const F_LATT: usize = 29;
    pub const F_CELL: usize = 30;
    pub const I_BEFORE_SCALING: usize = 31;
    pub const POLAR: usize = 32;
    pub const CAPTURE: usize = 33;
    pub const OMEGA: usize = 34;
    pub const I_FINAL: usize = 35;
    /// then k, F_latt_b, F_latt for each φ step
    pub const PHI_STEPS: usize = 36;
}

#[cfg(test)]
mod tests {
    use super::super::shader::{Fetch, Precision, kernel_source};
    use super::*;
    use crate::params::XtalShape;
    use std::mem::{offset_of, size_of};

    /// (size, [(member name, offset)]) of a WGSL struct, as naga lays it out.
    fn wgsl_layout(module: &naga::Module, name: &str) -> (usize, Vec<(String, usize)>) {
        let ty = module.types.iter().find(|(_, t)| t.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no struct {name}")).1;
        match &ty.inner {
            naga::TypeInner::Struct { members, span } => {
                (*span as usize, members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect())
            }
            other => panic!("{name} is not a struct: {other:?}"),
        }
    }

    /// The host packs as many bytes per term as the kernel's `LatticeWords` spans, in both
    /// precisions (the order of the values is checked on the device by the golden tests).
    #[test]
    fn lattice_words_match_the_wgsl() {
        for p in [Precision::F64, Precision::DoubleFloat] {
            let m = naga::front::wgsl::parse_str(&kernel_source(p, Fetch::Plain)).expect("kernel parses");
            let words = m.types.iter().find(|(_, t)| t.name.as_deref() == Some("LatticeWords")).map(|(h, _)| h);
            let mut layouter = naga::proc::Layouter::default();
            layouter.update(m.to_ctx()).expect("layout");
            let bytes = layouter[words.expect("LatticeWords is declared")].size as usize;
            let abc = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
            assert_eq!(lattice_words(&abc, p).len() * size_of::<Wide>(), bytes, "{}", p.name());
        }
    }

    /// Every binding the host fills is the one the kernel declares under that name, and the
    /// kernel declares no other.
    #[test]
    fn bindings_match_the_wgsl() {
        for m in modules() {
            let mut declared: Vec<(String, usize)> = m
                .global_variables
                .iter()
                .filter_map(|(_, g)| g.binding.as_ref().map(|b| (g.name.clone().unwrap_or_default(), (b.group, b.binding))))
                .map(|(name, (group, b))| {
                    assert_eq!(group, 0, "{name}: one bind group");
                    (name, b as usize)
                })
                .collect();
            declared.sort_by_key(|&(_, b)| b);
            let host: Vec<(String, usize)> = binding::NAMES.iter().map(|&(n, b)| (n.to_string(), b)).collect();
            assert_eq!(declared, host);
        }
    }

    fn modules() -> Vec<naga::Module> {
        [Precision::F64, Precision::DoubleFloat]
            .into_iter()
            .map(|p| naga::front::wgsl::parse_str(&kernel_source(p, Fetch::Subgroup)).expect("kernel parses"))
            .collect()
    }

    macro_rules! check_layout {
        ($module:expr, $wgsl:literal, $rust:ty, [$($field:ident),* $(,)?]) => {{
            let (span, members) = wgsl_layout($module, $wgsl);
            assert_eq!(span, size_of::<$rust>(), "size of {}", $wgsl);
            let rust: Vec<(String, usize)> = vec![$((stringify!($field).to_string(), offset_of!($rust, $field))),*];
            assert_eq!(members, rust, "fields of {}", $wgsl);
        }};
    }

    #[test]
    fn host_structs_match_the_wgsl_layouts() {
        for m in &modules() {
            let w3 = wgsl_layout(m, "W3");
            assert_eq!(w3, (size_of::<[Wide; 3]>(), vec![("x".into(), 0), ("y".into(), 8), ("z".into(), 16)]));
            check_layout!(
                m,
                "Params",
                GpuParams,
                [
                    beam,
                    polar_axis,
                    a_star,
                    b_star,
                    c_star,
                    subpixel_size,
                    pixel_size,
                    distance,
                    thickstep,
                    mu,
                    dmin,
                    scale,
                    i_bg,
                    kahn,
                    fudge,
                    default_f,
                    fpixels,
                    panel_rows,
                    oversample,
                    thicksteps,
                    source_count,
                    phisteps,
                    domains,
                    grid_min_h,
                    grid_min_k,
                    grid_min_l,
                    grid_count_h,
                    grid_count_k,
                    grid_count_l,
                    grid_split,
                    first_pixel,
                    first_layer,
                    first_sub,
                    first_source,
                    zero,
                    incident0,
                    lambda0,
                    weight0,
                    lattice0_a,
                    lattice0_b,
                    lattice0_c
                ]
            );
            check_layout!(m, "Dispatch", GpuDispatch, [x0, y0, width, start, count, first_index, trace_pixel, bits]);
            check_layout!(m, "Source", GpuSource, [incident, lambda, weight, pad]);
            check_layout!(m, "Panel", GpuPanel, [pix0, fdet, sdet, odet, close_distance, first_fast, first_slow]);
            check_layout!(m, "PixelOut", GpuPixelOut, [value, omega_sum, left_grid]);
            check_layout!(m, "TraceSlot", GpuTraceSlot, [hi, lo, written]);
        }
    }

    /// Every named constant shared with the kernel has the same value on both sides.
    #[test]
    fn constants_match_the_wgsl() {
        let src = kernel_source(Precision::F64, Fetch::Plain);
        let value = |name: &str| -> u64 {
            let line = src.lines().find(|l| l.starts_with(&format!("const {name}:"))).unwrap_or_else(|| panic!("no const {name}"));
            let v = line.split('=').nth(1).unwrap().trim().trim_end_matches(';').trim_end_matches('u');
            v.parse().unwrap()
        };
        let pairs: &[(&str, usize)] = &[
            ("JOB_INTERPOLATE", JOB_INTERPOLATE as usize),
            ("T_PIXEL_POS", slot::PIXEL_POS),
            ("T_R_DISTANCE", slot::R_DISTANCE),
            ("T_OMEGA_FIRST", slot::OMEGA_FIRST),
            ("T_DIFFRACTED", slot::DIFFRACTED),
            ("T_SCATTERING", slot::SCATTERING),
            ("T_ROT_A", slot::ROT_A),
            ("T_ROT_B", slot::ROT_B),
            ("T_ROT_C", slot::ROT_C),
            ("T_HKL_FRAC", slot::HKL_FRAC),
            ("T_HKL_ROUNDED", slot::HKL_ROUNDED),
            ("T_F_LATT_AXES", slot::F_LATT_AXES),
            ("T_F_LATT", slot::F_LATT),
            ("T_F_CELL", slot::F_CELL),
            ("T_I_BEFORE_SCALING", slot::I_BEFORE_SCALING),
            ("T_POLAR", slot::POLAR),
            ("T_CAPTURE", slot::CAPTURE),
            ("T_OMEGA", slot::OMEGA),
            ("T_I_FINAL", slot::I_FINAL),
            ("T_PHI_STEPS", slot::PHI_STEPS),
        ];
        for (name, host) in pairs {
            assert_eq!(value(name), *host as u64, "{name}");
        }
        // the shape codes of `overrides`, generated into the kernel's prelude
        for shape in XtalShape::ALL {
            assert_eq!(value(&format!("SHAPE_{}", shape.upper_name())), u64::from(shape.code()), "{shape:?}");
        }
    }

    /// The kernel's `lattice_factor` switches on SHAPE with one case for every shape code the
    /// host sends, no other, and a default (which gives NaN: the device test
    /// `unknown_shape_code_renders_nan`), so a new shape cannot fall through to another's
    /// factor.
    #[test]
    fn every_shape_has_its_own_case_in_the_kernel() {
        for m in &modules() {
            let (_, f) = m.functions.iter().find(|(_, f)| f.name.as_deref() == Some("lattice_factor")).expect("lattice_factor");
            let switches: Vec<&Vec<naga::SwitchCase>> = f.body.iter().filter_map(|s| if let naga::Statement::Switch { cases, .. } = s { Some(cases) } else { None }).collect();
            assert_eq!(switches.len(), 1, "one switch on SHAPE");
            let mut codes: Vec<u32> = switches[0]
                .iter()
                .filter_map(|c| match c.value {
                    naga::SwitchValue::U32(v) => Some(v),
                    naga::SwitchValue::I32(v) => Some(v as u32),
                    naga::SwitchValue::Default => None,
                })
                .collect();
            codes.sort();
            let host: Vec<u32> = XtalShape::ALL.iter().map(|s| s.code()).collect();
            assert_eq!(codes, host);
            assert!(switches[0].iter().any(|c| c.value == naga::SwitchValue::Default), "a default case");
            assert!(switches[0].iter().all(|c| !c.fall_through), "no case falls through");
        }
    }

    /// The host sets exactly the kernel's overridable constants.
    #[test]
    fn overrides_match_the_wgsl() {
        let module = &modules()[0];
        let mut wgsl: Vec<String> = module.overrides.iter().filter_map(|(_, o)| o.name.clone()).collect();
        let plan = crate::tests::tiny_plan();
        let mut host: Vec<String> = overrides(&plan, false).iter().map(|(n, _)| n.to_string()).collect();
        wgsl.sort();
        host.sort();
        assert_eq!(wgsl, host);
    }

    #[test]
    fn wide_values_round_trip() {
        let v = 1.234_567_890_123_456_7e-10;
        assert_eq!(f64::from_bits(wide(v, Precision::F64)), v);
        let packed = wide(v, Precision::DoubleFloat);
        let (hi, lo) = (f32::from_bits(packed as u32), f32::from_bits((packed >> 32) as u32));
        assert!(((from_parts(hi, lo) - v) / v).abs() < 1e-14);
        assert!(lo.abs() <= hi.abs() * f32::EPSILON);
    }
}

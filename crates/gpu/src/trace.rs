//! Turning the kernel's trace slots into the CPU tracer's calls, in the CPU's order; a slot the
//! kernel did not write (a term skipped by `-dmin` or by F_latt = 0) is not reported, as on
//! the CPU. The kernel writes one block of slots per (layer, sub-pixel), in visiting order,
//! because the CPU (and C) repeat the per-sub-pixel lines for each; the closing per-pixel
//! values are in block 0.

use super::layout::{GpuTraceSlot, from_parts, slot};
use nanobragg_core::engine::cpu::Tracer;
use nanobragg_core::engine::plan::Plan;

/// Slots of one (layer, sub-pixel) block (WGSL `trace_block_slots`).
fn block_slots(plan: &Plan) -> usize {
    slot::PHI_STEPS + 3 * plan.phisteps
}

fn blocks(plan: &Plan) -> usize {
    plan.thicksteps.max(1) * plan.oversample * plan.oversample
}

pub fn slots(plan: &Plan) -> usize {
    blocks(plan) * block_slots(plan)
}

struct Slots<'a>(&'a [GpuTraceSlot]);

impl Slots<'_> {
    fn get(&self, i: usize) -> Option<f64> {
        let s = self.0[i];
        (s.written != 0).then(|| from_parts(s.hi, s.lo))
    }
    fn value(&self, t: &mut dyn Tracer, name: &str, i: usize) {
        if let Some(v) = self.get(i) {
            t.value(name, v);
        }
    }
    fn vector(&self, t: &mut dyn Tracer, name: &str, i: usize) {
        if let (Some(x), Some(y), Some(z)) = (self.get(i), self.get(i + 1), self.get(i + 2)) {
            t.vector(name, [x, y, z]);
        }
    }
    fn phi_step(&self, t: &mut dyn Tracer, plan: &Plan, tic: usize) {
        let base = slot::PHI_STEPS + 3 * tic;
        if let (Some(k), Some(f_latt_b), Some(f_latt)) = (self.get(base), self.get(base + 1), self.get(base + 2)) {
            t.phi_step(tic, plan.phi_deg[tic], k, f_latt_b, f_latt);
        }
    }
}

pub fn emit(plan: &Plan, raw: &[GpuTraceSlot], t: &mut dyn Tracer) {
    for block in raw.chunks(block_slots(plan)) {
        emit_sub_pixel(plan, &Slots(block), t);
    }
    let s = Slots(&raw[..block_slots(plan)]);
    s.value(t, "I_before_scaling", slot::I_BEFORE_SCALING);
    t.value("steps", plan.steps as f64);
    s.value(t, "capture_fraction", slot::CAPTURE);
    s.value(t, "polar", slot::POLAR);
    s.value(t, "omega_pixel", slot::OMEGA);
    s.value(t, "I_pixel_final", slot::I_FINAL);
}

/// The lines of one (layer, sub-pixel): position, solid angle, direction, then the first
/// source's terms.
fn emit_sub_pixel(plan: &Plan, s: &Slots, t: &mut dyn Tracer) {
    s.vector(t, "pixel_pos_meters", slot::PIXEL_POS);
    s.value(t, "R_distance_meters", slot::R_DISTANCE);
    s.value(t, "omega_pixel_sr", slot::OMEGA_FIRST);
    s.vector(t, "diffracted_vec", slot::DIFFRACTED);
    s.vector(t, "scattering_vec_A_inv", slot::SCATTERING);
    s.vector(t, "rot_a_angstroms", slot::ROT_A);
    s.vector(t, "rot_b_angstroms", slot::ROT_B);
    s.vector(t, "rot_c_angstroms", slot::ROT_C);
    s.vector(t, "hkl_frac", slot::HKL_FRAC);
    s.vector(t, "hkl_rounded", slot::HKL_ROUNDED);
    s.value(t, "F_latt_a", slot::F_LATT_AXES);
    s.value(t, "F_latt_b", slot::F_LATT_AXES + 1);
    s.value(t, "F_latt_c", slot::F_LATT_AXES + 2);
    s.value(t, "F_latt", slot::F_LATT);
    for tic in 0..plan.phisteps {
        s.phi_step(t, plan, tic);
        if tic == 0 {
            s.value(t, "F_cell", slot::F_CELL);
        }
    }
}

//! `-trace_pixel slow fast`: the quantities of one pixel's computation, printed with the names,
//! units, order and `%.15g` formatting of nanoBragg.c's `TRACE_C:` lines, under a prefix that
//! names the engine (`TRACE_CPU:`, `TRACE_GPU:`), so that `nanobragg trace-diff` can line a
//! run up against the C program's log and name the first quantity that departs.
//!
//! Protocol between an engine and the [`Recorder`] (names as C prints them):
//! * per sub-pixel and detector layer: `pixel_pos_meters`, `R_distance_meters`,
//!   `omega_pixel_sr`, `diffracted_vec`;
//! * then, for source 0, mosaic domain 0 and φ step 0: `scattering_vec_A_inv`,
//!   `rot_a_angstroms`, `rot_b_angstroms`, `rot_c_angstroms`, `hkl_frac`, `hkl_rounded`,
//!   `F_latt_a`, `F_latt_b`, `F_latt_c`, `F_latt`, one `phi_step` per φ step, `F_cell` (when
//!   the term is not skipped);
//! * at the end of the pixel: `I_before_scaling`, `steps`, `capture_fraction`, `polar`,
//!   `omega_pixel`, `I_pixel_final` (the f64 value before it is stored as f32).
//!
//! The recorder adds what is constant for the run (detector vectors, source 0, the unrotated
//! reciprocal cell, r_e, fluence, the oversample switches) where C prints it, so engines only
//! report what they compute.

pub mod diff;

use crate::cli::raw::XtalShape;
use crate::compare::pixel_context;
use crate::engine::cpu::{self, Tracer};
use crate::engine::plan::Plan;
use crate::physics::constants::R_E_SQR;
use crate::engine::{EngineUsed, Rendered};
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g_precision;
use crate::model::Experiment;
use crate::physics::{V3, dot, unitize};

/// One line of a trace.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceLine {
    Quantity { name: String, values: Vec<f64> },
    /// lattice factor at one φ step (source 0, mosaic domain 0)
    Phi { tic: usize, phi_deg: f64, k_frac: f64, f_latt_b: f64, f_latt: f64 },
}

/// Quantities C prints with `%d`.
const INTEGER_QUANTITIES: &[&str] = &["hkl_rounded", "steps", "oversample_thick", "oversample_polar", "oversample_omega"];

/// Quantities C prints only for the parallelepiped (`-square_xtal`) lattice factor.
const SQUARE_ONLY: &[&str] = &["F_latt_a", "F_latt_b", "F_latt_c", "F_latt"];

/// Collects an engine's trace calls and lays them out as nanoBragg.c prints them.
pub struct Recorder<'a> {
    plan: &'a Plan,
    fluence: f64,
    fast: usize,
    slow: usize,
    lines: Vec<TraceLine>,
    /// the latest R_distance_meters, for the obliquity factor C prints after it
    airpath: f64,
}

impl<'a> Recorder<'a> {
    pub fn new(plan: &'a Plan, fluence: f64, fast: usize, slow: usize) -> Self {
        Recorder { plan, fluence, fast, slow, lines: Vec::new(), airpath: f64::NAN }
    }

    pub fn lines(&self) -> &[TraceLine] {
        &self.lines
    }

    fn push(&mut self, name: &str, values: Vec<f64>) {
        self.lines.push(TraceLine::Quantity { name: name.to_string(), values });
    }

    fn record(&mut self, name: &str, values: Vec<f64>) {
        if self.plan.shape != XtalShape::Square && SQUARE_ONLY.contains(&name) {
            return;
        }
        if name == "R_distance_meters" {
            self.airpath = values[0];
        }
        for (n, v) in self.constants_before(name) {
            self.push(n, v);
        }
        self.push(name, values);
        for (n, v) in self.constants_after(name) {
            self.push(n, v);
        }
    }

    /// Run constants C prints just before `name`.
    fn constants_before(&self, name: &str) -> Vec<(&'static str, Vec<f64>)> {
        // the traced pixel's panel (nanoBragg.c's one panel)
        let p = &self.plan.panels[self.plan.panel_of(self.slow).0];
        match name {
            "pixel_pos_meters" => vec![("pix0_vector_meters", p.pix0.to_vec()), ("fdet_vec", p.fdet.to_vec()), ("sdet_vec", p.sdet.to_vec())],
            "diffracted_vec" => vec![
                ("close_distance_meters", vec![p.close_distance]),
                ("obliquity_factor", vec![p.close_distance / self.airpath]),
            ],
            _ => Vec::new(),
        }
    }

    /// Run constants C prints just after `name`.
    fn constants_after(&self, name: &str) -> Vec<(&'static str, Vec<f64>)> {
        let p = self.plan;
        let flag = |on: bool| vec![if on { 1.0 } else { 0.0 }];
        match name {
            "diffracted_vec" => match p.sources.first() {
                Some(src) => vec![
                    ("incident_vec", src.incident.to_vec()),
                    ("lambda_meters", vec![src.lambda]),
                    ("lambda_angstroms", vec![src.lambda * 1e10]),
                ],
                None => Vec::new(),
            },
            // C prints the reciprocal cell as set up, not rotated (see ../shared/traces/README.md)
            "rot_c_angstroms" => vec![
                ("rot_a_star_A_inv", p.a_star.to_vec()),
                ("rot_b_star_A_inv", p.b_star.to_vec()),
                ("rot_c_star_A_inv", p.c_star.to_vec()),
            ],
            "I_before_scaling" => vec![
                ("r_e_meters", vec![R_E_SQR.sqrt()]),
                ("r_e_sqr", vec![R_E_SQR]),
                ("fluence_photons_per_m2", vec![self.fluence]),
            ],
            "steps" => vec![
                ("oversample_thick", flag(p.oversample_thick)),
                ("oversample_polar", flag(p.oversample_polar)),
                ("oversample_omega", flag(p.oversample_omega)),
            ],
            "omega_pixel" => vec![("cos_2theta", vec![self.final_cos_2theta()])],
            _ => Vec::new(),
        }
    }

    /// C prints `incident · diffracted` with the values its loops left behind: the last
    /// source and the last sub-pixel of the last layer.
    fn final_cos_2theta(&self) -> f64 {
        let p = self.plan;
        let os = p.oversample;
        let pos = p.subpixel_position(self.fast, self.slow, os - 1, os - 1, p.thicksteps.saturating_sub(1));
        p.sources.last().map_or(f64::NAN, |src| dot(src.incident, unitize(pos).0))
    }
}

impl Tracer for Recorder<'_> {
    fn value(&mut self, name: &str, v: f64) {
        self.record(name, vec![v]);
    }
    fn vector(&mut self, name: &str, v: V3) {
        self.record(name, v.to_vec());
    }
    fn phi_step(&mut self, tic: usize, phi_deg: f64, k_frac: f64, f_latt_b: f64, f_latt: f64) {
        if self.plan.shape == XtalShape::Square {
            self.lines.push(TraceLine::Phi { tic, phi_deg, k_frac, f_latt_b, f_latt });
        }
    }
}

/// `%.15g`, as every C trace value.
fn g15(x: f64) -> String {
    fmt_g_precision(x, 15)
}

/// The trace as text: a `TRACE_CONFIG` line naming the pixel, then one line per quantity under
/// `TRACE_<engine>:` and φ lines under `TRACE_<engine>_PHI`.
pub fn format_trace(engine: &str, slow: usize, fast: usize, lines: &[TraceLine]) -> String {
    let mut out = format!("TRACE_CONFIG: tracing pixel (spixel={slow}, fpixel={fast})\n");
    for line in lines {
        match line {
            TraceLine::Quantity { name, values } => {
                let integer = INTEGER_QUANTITIES.contains(&name.as_str());
                let text: Vec<String> = values.iter().map(|&v| if integer { format!("{}", v as i64) } else { g15(v) }).collect();
                out.push_str(&format!("TRACE_{engine}: {name} {}\n", text.join(" ")));
            }
            TraceLine::Phi { tic, phi_deg, k_frac, f_latt_b, f_latt } => out.push_str(&format!(
                "TRACE_{engine}_PHI phi_tic={tic} phi_deg={} k_frac={} F_latt_b={} F_latt={}\n",
                g15(*phi_deg),
                g15(*k_frac),
                g15(*f_latt_b),
                g15(*f_latt)
            )),
        }
    }
    out
}

/// `-trace_pixel` must name a pixel the run renders; checked before the render.
pub fn check_pixel(plan: &Plan, slow: usize, fast: usize) -> Result<()> {
    if fast >= plan.fpixels || slow >= plan.spixels {
        return Err(Error::Usage(format!(
            "-trace_pixel: pixel (slow {slow}, fast {fast}) is outside the {}x{} detector",
            plan.fpixels, plan.spixels
        )));
    }
    if !plan.renders(fast, slow) {
        return Err(Error::Usage(format!("-trace_pixel: pixel (slow {slow}, fast {fast}) is not rendered (outside -roi or masked)")));
    }
    Ok(())
}

/// Trace pixel (slow, fast) on the engine that produced `rendered` (on the GPU: the shared
/// device of the run's options `gpu`, the one that rendered); returns the text to print.
pub fn trace_rendered(exp: &Experiment, plan: &Plan, rendered: &Rendered, slow: usize, fast: usize, gpu: &crate::engine::gpu::GpuOptions) -> Result<String> {
    let idx = slow * plan.fpixels + fast;
    let mut recorder = Recorder::new(plan, exp.beam.fluence, fast, slow);
    let engine = match rendered.engine {
        EngineUsed::Cpu => {
            cpu::render_pixel(plan, fast, slow, pixel_context(plan, rendered.interpolation_switched_at, idx), Some(&mut recorder));
            "CPU"
        }
        EngineUsed::Gpu { .. } => {
            trace_on_gpu(plan, fast, slow, gpu, &mut recorder)?;
            "GPU"
        }
    };
    recorder.push("floatimage_accumulated", vec![rendered.image[idx] as f64]);
    Ok(format_trace(engine, slow, fast, recorder.lines()))
}

/// The GPU engine's pixel trace (a debug buffer written by the traced pixel only).
fn trace_on_gpu(plan: &Plan, fast: usize, slow: usize, gpu: &crate::engine::gpu::GpuOptions, tracer: &mut dyn Tracer) -> Result<()> {
    crate::engine::gpu::trace_pixel_with(plan, fast, slow, gpu, tracer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Resolve;
    use crate::cli::parse::{Command, parse};
    use crate::engine::cpu::PixelContext;

    fn plan_for(extra: &[&str]) -> (Experiment, Plan) {
        let mut args: Vec<String> = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-detpixels", "16", "-lambda", "6.2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let Ok(Command::Run(mut raw)) = parse(&args, -1) else { panic!("flags parse") };
        // a structure-factor cache is looked for in an empty directory, never the process's
        // working directory (a stray ./Fdump.bin once changed F_cell here)
        let empty = tempfile::tempdir().unwrap();
        raw.fdump = empty.path().join("Fdump.bin");
        let exp = raw.resolve().unwrap().0;
        let plan = Plan::new(&exp);
        (exp, plan)
    }

    fn traced(extra: &[&str]) -> String {
        let (exp, plan) = plan_for(extra);
        let mut r = Recorder::new(&plan, exp.beam.fluence, 8, 8);
        cpu::render_pixel(&plan, 8, 8, PixelContext { interpolate: false }, Some(&mut r));
        format_trace("CPU", 8, 8, r.lines())
    }

    #[test]
    fn integers_print_like_c_percent_d() {
        let lines = [TraceLine::Quantity { name: "hkl_rounded".into(), values: vec![-0.0, 2.0, -3.0] }];
        assert!(format_trace("GPU", 1, 2, &lines).ends_with("TRACE_GPU: hkl_rounded 0 2 -3\n"));
        let lines = [TraceLine::Quantity { name: "F_cell".into(), values: vec![-0.0] }];
        assert!(format_trace("GPU", 1, 2, &lines).ends_with("TRACE_GPU: F_cell -0\n"));
    }

    #[test]
    fn square_crystal_traces_carry_lattice_factors_and_phi_lines() {
        let t = traced(&["-phisteps", "3", "-osc", "3"]);
        assert!(t.starts_with("TRACE_CONFIG: tracing pixel (spixel=8, fpixel=8)\n"), "{t}");
        assert_eq!(t.matches("TRACE_CPU_PHI phi_tic=").count(), 3, "{t}");
        assert!(t.contains("TRACE_CPU: F_latt_b ") && t.contains("TRACE_CPU: steps 3\n"), "{t}");
        assert!(t.contains("TRACE_CPU: fluence_photons_per_m2 1.25932015286227e+29\n"), "{t}");
    }

    #[test]
    fn other_crystal_shapes_omit_what_c_prints_only_for_square() {
        let t = traced(&["-round_xtal"]);
        assert!(!t.contains("F_latt") && !t.contains("_PHI"), "{t}");
        assert!(t.contains("TRACE_CPU: F_cell 100\n"), "{t}");
    }

    #[test]
    fn a_stray_cache_in_the_cache_directory_is_not_read_in_default_mode() {
        let dir = tempfile::tempdir().unwrap();
        let sf = crate::io::hkl::StructureFactors { h_min: 0, h_max: 0, k_min: 0, k_max: 0, l_min: 0, l_max: 0, values: vec![7.0] };
        crate::io::fdump::write_fdump(&dir.path().join("Fdump.bin"), &sf).unwrap();
        let args: Vec<String> = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-detpixels", "16"].map(String::from).to_vec();
        let Ok(Command::Run(mut raw)) = parse(&args, -1) else { panic!("flags parse") };
        raw.fdump = dir.path().join("Fdump.bin");
        assert!(raw.resolve().unwrap().0.crystal.structure_factors.is_none());
        raw.mode = crate::cli::raw::Mode::CParity;
        assert_eq!(raw.resolve().unwrap().0.crystal.structure_factors.as_deref(), Some(&sf));
    }

    #[test]
    fn geometry_repeats_per_sub_pixel() {
        let t = traced(&["-oversample", "3"]);
        assert_eq!(t.matches("TRACE_CPU: pixel_pos_meters ").count(), 9);
        assert_eq!(t.matches("TRACE_CPU: pix0_vector_meters ").count(), 9);
        assert_eq!(t.matches("TRACE_CPU: I_pixel_final ").count(), 1);
    }

}

//! The builder and the command line are two faces of one set of parameters: the flag table
//! parses text and calls the builder methods of `nanobragg_core::params`, so an experiment
//! built in code is the experiment of the same command line, bit for bit — its parameters, its
//! resolved `Experiment` and its CPU image. Each case here writes the experiment both ways
//! (the builder calls in the flags' order, since some flags set the pivot as C's do).

use nanobragg::cli::Resolve;
use nanobragg::cli::parse::{Command, parse};
use nanobragg::cli::raw::RawArgs;
use nanobragg_core::control::RenderControl;
use nanobragg_core::engine::{plan::Plan, render_on_cpu};
use nanobragg_core::model::{Experiment, Inputs, resolve};
use nanobragg_core::params::{Convention, ExperimentParams, Mode, ParamError, Pivot, XtalShape};
use nanobragg_core::response::psf::PsfShape;
use nanobragg_core::structure::GridRanges;
use std::sync::Arc;

/// The command line `line`, parsed as the program parses it (with the library's fixed seeds
/// for the clock's: `ExperimentParams::default()` is `-seed 1 -misset_seed 1`).
fn argv(line: &str) -> RawArgs {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    match parse(&words, -1).unwrap_or_else(|e| panic!("{line}: {e}")) {
        Command::Run(raw) => *raw,
        Command::Help => panic!("{line}: help"),
    }
}

/// Parameters from nanoBragg.c's initial values in `mode`, through the builder only.
fn built(mode: Mode, build: impl FnOnce(&mut ExperimentParams) -> Result<(), ParamError>) -> ExperimentParams {
    let mut p = ExperimentParams::default();
    p.mode(mode);
    build(&mut p).expect("the builder takes these values");
    p
}

/// The experiment of `params` with `inputs`, and its CPU image.
fn render(params: &ExperimentParams, inputs: &Inputs) -> (Experiment, Vec<u32>) {
    let exp = resolve(params, inputs, &Default::default(), &mut Vec::new()).expect("the experiment resolves");
    let image = render_on_cpu(&Plan::new(&exp), &RenderControl::default()).unwrap().image;
    (exp, image.iter().map(|v| v.to_bits()).collect())
}

/// The same parameters (every field, NaN markers included: `Debug` writes each f64 so that it
/// reads back to the same bits), the same experiment and the same image, bit for bit.
fn same(line: &str, params: &ExperimentParams, inputs: &Inputs) {
    let typed = argv(line);
    assert_eq!(format!("{:?}", typed.params), format!("{params:?}"), "{line}: parameters differ");
    let (exp_typed, image_typed) = render(&typed.params, inputs);
    let (exp_built, image_built) = render(params, inputs);
    assert_eq!(format!("{exp_typed:?}"), format!("{exp_built:?}"), "{line}: experiments differ");
    assert!(image_typed.iter().any(|&v| f32::from_bits(v) > 0.0), "{line}: a blank image proves nothing");
    assert!(image_typed == image_built, "{line}: images differ");
}

const SMALL: &str = "-lambda 1.2 -distance 80 -detpixels 40 -pixel 0.25 -oversample 1";

fn small(p: &mut ExperimentParams) -> Result<&mut ExperimentParams, ParamError> {
    p.lambda(1.2)?.distance(80.0)?.detpixels(40)?.pixel(0.25)?.oversample(1);
    Ok(p)
}

#[test]
fn triclinic_cell_with_misset_and_mosaic() {
    let line = format!("-cell 70 80 90 75 85 95 -N 3 -misset 10 -20 30 -mosaic 0.5 -mosaic_domains 3 -mosaic_seed 7 -default_F 100 {SMALL}");
    let p = built(Mode::Default, |p| {
        p.cell([70.0, 80.0, 90.0, 75.0, 85.0, 95.0])?.n_cells(3)?.misset([10.0, -20.0, 30.0])?.mosaic(0.5)?.mosaic_domains(3)?;
        p.mosaic_seed(7).default_f(100.0)?;
        small(p)?;
        Ok(())
    });
    same(&line, &p, &Inputs::default());
}

#[test]
fn crystal_shapes_sizes_and_random_misset() {
    let line = format!("-cell 40 50 60 90 90 90 -Na 2 -Nb 3 -Nc 4 -round_xtal -fudge 0.8 -misset random -misset_seed 5 -default_F 30 -sample_thick 0.001 {SMALL}");
    let p = built(Mode::Default, |p| {
        p.cell([40.0, 50.0, 60.0, 90.0, 90.0, 90.0])?.na(2)?.nb(3)?.nc(4)?.xtal_shape(XtalShape::Round).fudge(0.8)?;
        p.misset_random().misset_seed(5).default_f(30.0)?.sample_thick(0.001)?;
        small(p)?;
        Ok(())
    });
    same(&line, &p, &Inputs::default());
}

#[test]
fn detector_conventions_pivots_and_twotheta() {
    for (word, convention) in [("-xds", Convention::Xds), ("-dials", Convention::Dials), ("-adxv", Convention::Adxv), ("-denzo", Convention::Denzo), ("-mosflm", Convention::Mosflm)] {
        let line = format!(
            "-cell 60 60 60 90 90 90 -N 2 -default_F 50 {word} -twotheta 15 -pivot beam -detector_rotx 2 -detector_roty -3 -detector_rotz 4 \
             -Xbeam 4 -Ybeam 6 {SMALL} -detector_thick 100 -detector_abs 300 -detector_thicksteps 3"
        );
        let p = built(Mode::Default, |p| {
            p.cell([60.0, 60.0, 60.0, 90.0, 90.0, 90.0])?.n_cells(2)?.default_f(50.0)?;
            p.convention(convention).twotheta(15.0)?.pivot(Pivot::Beam).detector_rotx(2.0)?.detector_roty(-3.0)?.detector_rotz(4.0)?;
            p.xbeam(4.0)?.ybeam(6.0)?;
            small(p)?.detector_thick(100.0)?.detector_abs(300.0)?.detector_thicksteps(3)?;
            Ok(())
        });
        same(&line, &p, &Inputs::default());
    }
}

#[test]
fn custom_vectors_and_near_point() {
    let line = "-cell 50 50 50 90 90 90 -N 3 -default_F 20 -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 \
                -beam_vector 1 0 0 -polar_vector 0 0 1 -spindle_axis 0 1 0 -twotheta_axis 0 0 -1 -twotheta 5 \
                -close_distance 90 -Xclose 5 -Yclose 4 -detpixels_f 40 -detpixels_s 32 -pixel 0.25 -lambda 1 -oversample 1 -curved_det";
    let p = built(Mode::Default, |p| {
        p.cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0])?.n_cells(3)?.default_f(20.0)?;
        p.fdet_vector([0.0, 0.0, 1.0])?.sdet_vector([0.0, -1.0, 0.0])?.odet_vector([1.0, 0.0, 0.0])?;
        p.beam_vector([1.0, 0.0, 0.0])?.polar_vector([0.0, 0.0, 1.0])?.spindle_axis([0.0, 1.0, 0.0])?.twotheta_axis([0.0, 0.0, -1.0])?.twotheta(5.0)?;
        p.close_distance(90.0)?.xclose(5.0)?.yclose(4.0)?.detpixels_f(40)?.detpixels_s(32)?.pixel(0.25)?.lambda(1.0)?.oversample(1).curved_det(true);
        Ok(())
    });
    same(line, &p, &Inputs::default());
}

#[test]
fn divergence_dispersion_and_beam() {
    let line = "-cell 50 60 70 90 90 90 -N 4 -default_F 10 -energy 9500 -divergence 0.4 -divsteps 3 -hdivrange 0.6 -vdivstep 0.15 \
                -square_div -dispersion 0.3 -dispsteps 3 -polar 0.9 -flux 1e12 -exposure 0.5 -beamsize 0.05 -distance 100 \
                -detsize 10 -pixel 0.25 -oversample 2 -oversample_omega -phi 10 -osc 2 -phisteps 2 -dmin 3";
    let p = built(Mode::Default, |p| {
        p.cell([50.0, 60.0, 70.0, 90.0, 90.0, 90.0])?.n_cells(4)?.default_f(10.0)?.energy(9500.0)?;
        p.divergence(0.4)?.divsteps(3)?.hdivrange(0.6)?.vdivstep(0.15)?.round_div(false).dispersion(0.3)?.dispsteps(3)?;
        p.polar(0.9)?.flux(1e12)?.exposure(0.5)?.beamsize(0.05)?.distance(100.0)?.detsize(10.0)?.pixel(0.25)?;
        p.oversample(2).oversample_omega(true).phi(10.0)?.osc(2.0)?.phisteps(2)?.dmin(3.0)?;
        Ok(())
    });
    same(line, &p, &Inputs::default());
}

#[test]
fn c_parity_with_a_short_cell() {
    // nanoBragg.c's reading of a short -cell (b, c copy a; angles 90) and of -curved_det as
    // the last argument (ignored) stay with the command line's shape; the builder gets the
    // values it reads
    let line = format!("-c_parity -cell 50 -N 3 -default_F 40 -nopolar -point_pixel -gauss_xtal -water 5 -seed 3 {SMALL} -curved_det");
    let p = built(Mode::CParity, |p| {
        p.cell_leading(&[50.0])?.n_cells(3)?.default_f(40.0)?.nopolar(true).point_pixel(true).xtal_shape(XtalShape::Gauss).water(5.0)?;
        p.seed(3);
        small(p)?;
        Ok(())
    });
    same(&line, &p, &Inputs::default());
}

#[test]
fn detector_model_and_region() {
    let line = format!(
        "-cell 50 50 50 90 90 90 -N 3 -default_F 40 {SMALL} -roi 5 30 2 35 -adc 10 -psf fiber -psf_fwhm 60 -psf_radius 3 \
         -readout_noise 2 -flicker 0.01 -calibration 0.02 -calib_seed 9 -gain 2 -bits 32"
    );
    let p = built(Mode::Default, |p| {
        p.cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0])?.n_cells(3)?.default_f(40.0)?;
        small(p)?.roi([5, 30, 2, 35])?.adc(10.0)?.psf(PsfShape::Fiber)?.psf_fwhm(60.0)?.psf_radius(3)?;
        p.readout_noise(2.0)?.flicker(0.01)?.calibration(0.02)?.calib_seed(9)?.gain(2.0)?.bits(32)?;
        Ok(())
    });
    same(&line, &p, &Inputs::default());
}

/// Structure factors from arrays (`Inputs`) against the same reflections in an HKL file read
/// through `-hkl`: the same grid, the same experiment, the same image.
#[test]
fn structure_factors_from_arrays_or_from_a_file() {
    let f = |h: i32, k: i32, l: i32| 5.0 + f64::from((3 * h + 7 * k + 11 * l).rem_euclid(13)) * 1.25;
    let ranges = GridRanges { h: (-3, 3), k: (-3, 3), l: (-3, 3) };
    let mut values = Vec::new();
    let mut text = String::new();
    // l fastest, as the grid stores them
    for h in -3..=3 {
        for k in -3..=3 {
            for l in -3..=3 {
                values.push(f(h, k, l));
                text.push_str(&format!("{h} {k} {l} {}\n", f(h, k, l)));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let hkl = dir.path().join("p1.hkl");
    std::fs::write(&hkl, text).unwrap();
    let inputs = Inputs { structure_factors: Some(Arc::new(ranges.with_values(values))), reflections: 7 * 7 * 7, ..Inputs::default() };
    for (mode, flag) in [(Mode::Default, ""), (Mode::CParity, "-c_parity")] {
        let line = format!("{flag} -hkl {} -nofdump -cell 30 30 30 90 90 90 -N 2 -misset 5 5 5 {SMALL}", hkl.display());
        let p = built(mode, |p| {
            p.cell([30.0, 30.0, 30.0, 90.0, 90.0, 90.0])?.n_cells(2)?.misset([5.0, 5.0, 5.0])?;
            small(p)?;
            Ok(())
        });
        let typed = argv(&line);
        let (exp_read, inputs_read) = typed.resolve().unwrap();
        assert_eq!(inputs_read.structure_factors, inputs.structure_factors, "{line}: the file's grid is the arrays'");
        assert_eq!(inputs_read.reflections, inputs.reflections);
        let (exp_built, image_built) = render(&p, &inputs);
        assert_eq!(format!("{exp_read:?}"), format!("{exp_built:?}"), "{line}: experiments differ");
        assert!(exp_built.crystal.interpolate, "N = 2 interpolates: the grid is read between its points");
        same(&line, &p, &inputs);
        let (_, image_read) = render(&typed.params, &inputs_read);
        assert!(image_read == image_built, "{line}: images differ");
    }
}

/// A value the builder refuses reads, on the command line, as the flag's own message: the
/// builder's reason with the flag in front; and the builder names its method.
#[test]
fn refusals_are_the_builders_with_the_flag_in_front() {
    let refused = |line: &str| {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        match parse(&words, -1) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{line} was accepted"),
        }
    };
    let mut p = ExperimentParams::default();
    for (line, e) in [
        ("-distance -5", p.distance(-5.0).unwrap_err()),
        ("-cell 10 10 10 90 90 190", p.cell([10.0, 10.0, 10.0, 90.0, 90.0, 190.0]).unwrap_err()),
        ("-N -2", p.n_cells(-2).unwrap_err()),
        ("-detpixels 0", p.detpixels(0).unwrap_err()),
        ("-mosaic -1", p.mosaic(-1.0).unwrap_err()),
        ("-detector_abs -3", p.detector_abs(-3.0).unwrap_err()),
        ("-roi 1 -2 3 4", p.roi([1, -2, 3, 4]).unwrap_err()),
        ("-calib_seed 3000000000", p.calib_seed(3_000_000_000).unwrap_err()),
    ] {
        let flag = line.split_whitespace().next().unwrap();
        assert_eq!(refused(line), format!("{flag}: {}", e.reason));
        assert!(!e.reason.contains(flag) && e.to_string().starts_with(&format!("{}: ", e.param)), "{e}");
    }
    assert_eq!(refused("-distance -5"), "-distance: value -5 must be greater than zero");
    // nothing was changed by a refused value
    assert_eq!(format!("{p:?}"), format!("{:?}", ExperimentParams::default()));
    // the detector model is refused in c-parity mode, which the builder takes from the params
    let mut c = ExperimentParams::default();
    c.mode(Mode::CParity);
    let e = c.gain(2.0).unwrap_err();
    assert_eq!(refused("-c_parity -gain 2"), format!("-gain: {}", e.reason));
    assert!(e.reason.contains("nanoBragg.c has no detector model"), "{e}");
}

/// What the parameters alone make impossible is refused before any input file is read
/// (`model::preflight`): here the `-hkl` file does not exist, and the refusal is the command
/// line's, with the words `resolve` would have used.
#[test]
fn a_bad_command_line_is_refused_before_any_input_is_read() {
    let base = format!("-hkl /nonexistent/structure-factors.hkl -cell 30 30 30 90 90 90 {SMALL}");
    let e = argv(&base).resolve().unwrap_err().to_string();
    assert!(e.contains("no such file"), "{e}");
    for (flags, says) in [
        ("-roi 0 50 0 10", "-roi 0 50 0 10: the region leaves the detector"),
        ("-fdet_vector 0 0 0", "-fdet_vector 0 0 0: the vector has no length"),
        ("-mosaic 1 -mosaic_domains 100000000", "-mosaic_domains: 100000000 entries are more than the limit"),
        ("-fluence -1", "-fluence -1: the fluence must not be negative"),
        ("-cell 10 10 10 120 120 120", "has no volume"),
    ] {
        let raw = argv(&format!("{base} {flags}"));
        let e = raw.resolve().unwrap_err().to_string();
        assert!(e.contains(says), "{flags}: {e}");
        // the same refusal as the whole resolve gives once the inputs are there
        let full = resolve(&raw.params, &Inputs::default(), &Default::default(), &mut Vec::new()).unwrap_err().to_string();
        assert_eq!(e, full, "{flags}");
    }
}

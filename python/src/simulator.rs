//! `nanobragg.Simulator`: one experiment, built from keyword arguments (`keywords`) or from a
//! command line (`from_args`, the program's flag table), rendering frame after frame on the
//! library's `Simulator`, which keeps the plan, and on a GPU the device with its pipelines,
//! pooled buffers and this simulator's structure factors, from one render to the next.
//!
//! Renders run on a worker thread with the GIL released, the calling thread waiting for it and
//! checking for signals: Ctrl-C in Python cancels the render through the core's
//! `RenderControl` (the engines stop at their next pixel), the call raises `KeyboardInterrupt`,
//! and the simulator is as usable as before. The simulator's state sits behind a lock that only
//! that worker takes, so renders of one simulator from two Python threads run one after the
//! other; the calling threads never hold the GIL while they wait.

use crate::keywords::{self, OBJECT_KEYWORDS};
use crate::recorded::{Headers, Recorded, Stats, array, shape};
use crate::{error, refuse, say};
use nanobragg_args::parse::{Command, parse, with_input_flag};
use nanobragg_args::raw::Said;
use nanobragg_core::budget::Budget;
use nanobragg_core::control::RenderControl;
use nanobragg_core::engine::Rendered;
use nanobragg_core::error::{Error as CoreError, Result as CoreResult};
use nanobragg_core::model::{self, Experiment, Inputs, InputsToLoad, Mask};
use nanobragg_core::params::{ExperimentParams, Mode, RTD};
use nanobragg_core::response::record::Recorded as CoreRecorded;
use nanobragg_core::structure::StructureFactors;
use nanobragg_gpu::{AdapterChoice, EngineChoice, Frame, GpuDevice, GpuOptions, Precision, WeakGpuDevice};
use nanobragg_io::inputs::{GivenStructureFactors, InputFiles};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How often the calling thread looks for a signal while a render runs.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The GPU devices this process's simulators hold, by the options they were opened with: a new
/// simulator takes the device an alive one holds (its pipelines compiled, its buffer pool), and
/// a device is freed with the last simulator holding it (the handles here do not keep it).
static DEVICES: Mutex<Vec<(GpuOptions, WeakGpuDevice)>> = Mutex::new(Vec::new());

/// The device for `opts`: one a simulator holds, else a new one. `hardware_only`: `engine="auto"`,
/// which declines a software adapter (lavapipe, WARP) for the CPU engine, as `-engine auto` does.
fn device_for(opts: &GpuOptions, hardware_only: bool) -> CoreResult<GpuDevice> {
    let mut devices = lock(&DEVICES);
    devices.retain(|(_, d)| d.upgrade().is_some());
    if let Some(device) = devices.iter().find(|(o, _)| o == opts).and_then(|(_, d)| d.upgrade()) {
        if hardware_only && device.is_software() {
            return Err(CoreError::Gpu(format!(
                "only a software adapter ({}) is available, slower than the CPU engine (engine=\"gpu\" uses it anyway)",
                device.adapter_name()
            )));
        }
        return Ok(device);
    }
    let device = if hardware_only { GpuDevice::open_if(opts, &nanobragg_gpu::hardware_only)? } else { GpuDevice::open(opts)? };
    devices.push((opts.clone(), device.downgrade()));
    Ok(device)
}

/// The GPU devices this process holds now, each as (adapter, backend, precision variant): a
/// device is freed with the last `Simulator` that renders on it.
#[pyfunction]
pub fn gpu_devices() -> Vec<(String, String, String)> {
    let mut devices = lock(&DEVICES);
    devices.retain(|(_, d)| d.upgrade().is_some());
    devices.iter().filter_map(|(_, d)| d.upgrade()).map(|d| (d.adapter_name().to_string(), d.backend_name(), d.variant().to_string())).collect()
}

/// The library's simulator for `exp` on the engine asked for, and the device it holds.
fn simulator_for(exp: Experiment, engine: EngineChoice, gpu: &GpuOptions) -> CoreResult<(nanobragg_gpu::Simulator, Option<GpuDevice>)> {
    use nanobragg_gpu::Simulator as Sim;
    Ok(match engine {
        EngineChoice::Cpu => (Sim::new(exp, EngineChoice::Cpu, gpu.clone()), None),
        EngineChoice::Gpu => {
            let device = device_for(gpu, false)?;
            (Sim::with_device(exp, EngineChoice::Gpu, device.clone()), Some(device))
        }
        EngineChoice::Auto => match device_for(gpu, true) {
            Ok(device) => (Sim::with_device(exp, EngineChoice::Auto, device.clone()), Some(device)),
            Err(e) => {
                log::info!(target: "nanobragg", "{e}; using the CPU engine");
                (Sim::new(exp, EngineChoice::Cpu, gpu.clone()), None)
            }
        },
    })
}

/// What a render hands back from the worker thread.
enum Out {
    Image(Rendered),
    Recorded(CoreRecorded, Headers),
}

/// Everything a render touches, behind the simulator's lock.
struct State {
    sim: nanobragg_gpu::Simulator,
    /// the parameters of the simulator's experiment (`set` and shots start from them)
    params: ExperimentParams,
    /// the inputs, read once: the structure factors are shared, never copied
    inputs: Inputs,
    budget: Budget,
    /// the structure factors came from an input (a file, arrays, a table): `default_F`, which
    /// filled their grid when it was read, cannot change afterwards
    structure_factors_given: bool,
    /// the experiment as built or `set`; `sim` is at a shot's when `at_base` is false
    base: Experiment,
    at_base: bool,
}

impl State {
    /// The frame of a single render: number 1, the experiment's φ and seed (the command line's
    /// one image).
    fn base_frame(&self) -> Frame {
        Frame { number: 1, phi0: self.base.sampling.phi0, phi_start_deg: self.params.phi_deg, seed: self.base.response.seed, noise_counter: 1 }
    }

    fn to_base(&mut self) {
        if !self.at_base {
            self.sim.set_experiment(self.base.clone(), 1);
            self.at_base = true;
        }
    }

    /// Renders `frame`; with `noise`, records it as the detector does (a noise image always).
    /// `series`: a rotation series' frame, whose integer image the default mode scales by one
    /// count per photon unless `scale=` says otherwise (as `-frames`, docs/datasets.md).
    fn render(&mut self, frame: &Frame, noise: bool, series: bool, control: &RenderControl) -> CoreResult<Out> {
        let rendered = self.sim.render(frame, control)?;
        if let Some(why) = non_finite(self.sim.experiment().detector.fpixels, &rendered.image) {
            return Err(CoreError::Usage(format!("{why}: check the beam, detector and crystal values and the inputs")));
        }
        if !noise {
            return Ok(Out::Image(rendered.rendered));
        }
        let shared_scale = series && self.sim.experiment().mode == Mode::Default;
        let response = self.sim.response().with_settings(|r| {
            r.calculate_noise = true;
            if shared_scale && r.intfile_scale <= 0.0 {
                r.intfile_scale = 1.0;
            }
        });
        let recorded = response.record(rendered, frame)?;
        Ok(Out::Recorded(recorded, Headers::of(self.sim.experiment())))
    }
}

/// The command line's last guard: an image with pixels that are not finite numbers is refused.
fn non_finite(fpixels: usize, image: &[f32]) -> Option<String> {
    let first = image.iter().position(|v| !v.is_finite())?;
    let count = image.iter().filter(|v| !v.is_finite()).count();
    Some(format!("the rendered image has {count} pixel(s) that are not finite numbers (first: fast {} slow {} = {})", first % fpixels, first / fpixels, image[first]))
}

/// What the simulator reports without taking the state's lock (a render may hold it).
#[derive(Clone)]
struct Info {
    shape: (usize, usize),
    last: Option<Stats>,
    mode: Mode,
    geometry: Geometry,
}

#[derive(Clone, Copy)]
struct Geometry {
    pixel_size_mm: f64,
    distance_mm: f64,
    wavelength_a: f64,
    beam_center_mm: (f64, f64),
    phi_deg: f64,
    osc_deg: f64,
    cell: [f64; 6],
}

impl Info {
    fn of(exp: &Experiment) -> Info {
        let d = &exp.detector;
        let c = &exp.crystal;
        let geometry = Geometry {
            pixel_size_mm: d.pixel_size * 1e3,
            distance_mm: d.distance * 1e3,
            wavelength_a: exp.beam.lambda0 * 1e10,
            beam_center_mm: (d.xbeam * 1e3, d.ybeam * 1e3),
            phi_deg: exp.sampling.phi0 * RTD,
            osc_deg: exp.sampling.osc * RTD,
            cell: c.cell,
        };
        Info { shape: shape(exp), last: None, mode: exp.mode, geometry }
    }
}

/// A diffraction experiment, rendered frame after frame: the structure factors, the plan and
/// (on a GPU) the device with its compiled pipelines and buffers are set up once, here, and
/// kept until the simulator is deleted.
///
/// Build it from keyword arguments named as nanoBragg.c's flags, in the flags' units
/// (`nanobragg.keywords()` lists them, `nanobragg.help()` is the command line's help)::
///
///     sim = nanobragg.Simulator(cell=(100, 100, 100, 90, 90, 90), default_F=100, N=5,
///                               lambda_=1.0, distance=100, detpixels=512, misset=(10, 20, 30))
///
/// or from a command line: `Simulator.from_args(["-cell", "100", ...])`. Besides the
/// parameters: `engine` ("auto", "cpu", "gpu"), `backend`, `gpu_precision`, `gpu_index`,
/// `c_parity` (nanoBragg.c's behaviour exactly), and the inputs: `hkl` (a file: HKL text, MTZ or
/// an Fdump.bin cache; an (n, 3) integer array with `F`, an (n,) array; or a table: a
/// gemmi.Mtz, a reciprocalspaceship DataSet, a pandas DataFrame with H, K, L columns, a dict),
/// `column`/`mtz_column` (the amplitudes' column of an MTZ file or table), `mat` (a MOSFLM
/// matrix file) or `matrix` (its 3×3 numbers), `orientation` (a 3×3 rotation, applied as
/// `misset`), `sourcefile`, `stol` (an F(sin θ/λ) table file for the amorphous background),
/// `mask` (an array of the detector's shape; 0 = not rendered).
#[pyclass(frozen, module = "nanobragg")]
pub struct Simulator {
    state: Mutex<State>,
    info: Mutex<Info>,
    engine: EngineChoice,
    device: Option<GpuDevice>,
    /// `-frames` and `-first_frame` of a command line: what `series()` renders by default
    frames: Option<u64>,
    first_frame: Option<u64>,
}

/// Where the simulator's objects come from before the experiment is resolved.
#[derive(Default)]
struct Objects {
    engine: Option<EngineChoice>,
    backend: Option<String>,
    precision: Option<Precision>,
    adapter: Option<AdapterChoice>,
    hkl: Option<Py<PyAny>>,
    f: Option<Py<PyAny>>,
    column: Option<String>,
    mat: Option<PathBuf>,
    matrix: Option<[[f64; 3]; 3]>,
    sourcefile: Option<PathBuf>,
    stol: Option<PathBuf>,
    mask: Option<Mask>,
}

fn text(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    value.extract::<String>().map_err(|_| refuse(format!("{name}: expects a string, got {}", value.repr().map(|r| r.to_string()).unwrap_or_default())))
}

fn path(name: &str, value: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    value.extract::<PathBuf>().map_err(|_| refuse(format!("{name}: expects a file path, got {}", value.repr().map(|r| r.to_string()).unwrap_or_default())))
}

/// The package's Python helpers (`nanobragg/_convert.py`): array and table conversions.
fn convert<'py>(py: Python<'py>, function: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyResult<Bound<'py, PyAny>> {
    py.import("nanobragg._convert")?.getattr(function)?.call1(args)
}

/// A 3×3 matrix of numbers, rows as given.
fn matrix3(py: Python<'_>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<[[f64; 3]; 3]> {
    let a = convert(py, "matrix3", (name, value))?;
    let a: PyReadonlyArray2<'_, f64> = a.extract()?;
    let a = a.as_array();
    Ok([[a[[0, 0]], a[[0, 1]], a[[0, 2]]], [a[[1, 0]], a[[1, 1]], a[[1, 2]]], [a[[2, 0]], a[[2, 1]], a[[2, 2]]]])
}

/// `orientation=`: a rotation of the crystal, applied as the `misset` angles that make it.
fn orientation(py: Python<'_>, p: &mut ExperimentParams, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let u = matrix3(py, "orientation", value)?;
    let flat = [u[0][0], u[0][1], u[0][2], u[1][0], u[1][1], u[1][2], u[2][0], u[2][1], u[2][2]];
    // a rotation: orthonormal rows, determinant +1
    for i in 0..3 {
        for j in 0..3 {
            let dot: f64 = (0..3).map(|k| u[i][k] * u[j][k]).sum();
            let expected = if i == j { 1.0 } else { 0.0 };
            if (dot - expected).abs() > 1e-6 {
                return Err(refuse("orientation: not a rotation matrix (its rows must be orthonormal)"));
            }
        }
    }
    let det = u[0][0] * (u[1][1] * u[2][2] - u[1][2] * u[2][1]) - u[0][1] * (u[1][0] * u[2][2] - u[1][2] * u[2][0]) + u[0][2] * (u[1][0] * u[2][1] - u[1][1] * u[2][0]);
    if det < 0.0 {
        return Err(refuse("orientation: not a rotation matrix (its determinant is -1: a reflection)"));
    }
    let degrees = nanobragg_core::physics::xyz_angles(&flat).map(|a| a * RTD);
    p.misset(degrees).map(drop).map_err(|e| refuse(format!("orientation: {}", e.reason)))
}

/// `matrix=`: the first three lines of a MOSFLM matrix file as numbers (line i is a*_i b*_i
/// c*_i: the reciprocal cell × λ as columns), as `-mat` reads them.
fn mosflm_matrix(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<[[f64; 3]; 3]> {
    let m = matrix3(py, "matrix", value)?;
    let vectors = [[m[0][0], m[1][0], m[2][0]], [m[0][1], m[1][1], m[2][1]], [m[0][2], m[1][2], m[2][2]]];
    nanobragg_io::mat::check_not_singular(&vectors).map_err(|why| refuse(format!("matrix: {why}")))?;
    Ok(vectors)
}

fn engine_choice(value: &Bound<'_, PyAny>) -> PyResult<EngineChoice> {
    match text("engine", value)?.as_str() {
        "auto" => Ok(EngineChoice::Auto),
        "cpu" => Ok(EngineChoice::Cpu),
        "gpu" => Ok(EngineChoice::Gpu),
        other => Err(refuse(format!("engine: value '{other}' must be cpu, gpu or auto"))),
    }
}

/// The keyword arguments `kwargs`, in order, into `p` and `objects`; `allowed`: which of the
/// simulator's own keywords may appear (all of them at construction; `set` and shots take only
/// the orientation's and the parameters).
fn apply_keywords(py: Python<'_>, p: &mut ExperimentParams, objects: &mut Objects, kwargs: Option<&Bound<'_, PyDict>>, allowed: &[&str], context: &str) -> PyResult<()> {
    let Some(kwargs) = kwargs else { return Ok(()) };
    if let Some(v) = kwargs.get_item("c_parity")? {
        if !allowed.contains(&"c_parity") {
            return Err(refuse(format!("{context}c_parity applies to the whole simulator: make a new Simulator")));
        }
        p.mode(keywords::mode_of(&v).map_err(refuse)?);
    }
    for (key, value) in kwargs.iter() {
        let key = key.cast::<PyString>()?.to_string();
        if key == "c_parity" {
            continue;
        }
        if let Some(k) = keywords::find(&key) {
            k.apply(p, &value).map_err(|m| refuse(format!("{context}{m}")))?;
            continue;
        }
        if !OBJECT_KEYWORDS.contains(&key.as_str()) {
            return Err(refuse(format!("{context}{}", keywords::unknown(&key))));
        }
        if !allowed.contains(&key.as_str()) {
            return Err(refuse(format!("{context}{key}= is set when the simulator is made (it names an input read once, or the engine): make a new Simulator")));
        }
        match key.as_str() {
            "engine" => objects.engine = Some(engine_choice(&value)?),
            "backend" => {
                let b = text("backend", &value)?;
                if !["vulkan", "metal", "dx12", "gl", "auto"].contains(&b.as_str()) {
                    return Err(refuse(format!("backend: value '{b}' must be vulkan, metal, dx12, gl or auto")));
                }
                objects.backend = Some(b);
            }
            "gpu_precision" => {
                objects.precision = match text("gpu_precision", &value)?.as_str() {
                    "auto" => None,
                    "f64" => Some(Precision::F64),
                    "df" => Some(Precision::DoubleFloat),
                    other => return Err(refuse(format!("gpu_precision: value '{other}' must be auto, f64 or df"))),
                }
            }
            "gpu_index" => {
                objects.adapter = Some(match value.extract::<usize>() {
                    Ok(i) => AdapterChoice::Index(i),
                    Err(_) if value.extract::<String>().is_ok_and(|s| s == "auto") => {
                        let (rank, _) = nanobragg_args::shard::local_rank(&nanobragg_args::shard::process_env).map_err(error)?;
                        AdapterChoice::LocalRank(rank)
                    }
                    Err(_) => return Err(refuse("gpu_index: expects an adapter number (0, 1, ...) or 'auto'")),
                })
            }
            "hkl" => objects.hkl = Some(value.unbind()),
            "F" => objects.f = Some(value.unbind()),
            "column" | "mtz_column" => objects.column = Some(text(&key, &value)?),
            "mat" => objects.mat = Some(path("mat", &value)?),
            "matrix" => objects.matrix = Some(mosflm_matrix(py, &value)?),
            "orientation" => orientation(py, p, &value).map_err(|e| refuse(format!("{context}{}", e.value(py))))?,
            "sourcefile" => objects.sourcefile = Some(path("sourcefile", &value)?),
            "stol" => objects.stol = Some(path("stol", &value)?),
            "mask" => {
                let m = convert(py, "mask", (&value,))?;
                let m: PyReadonlyArray2<'_, u16> = m.extract()?;
                let (height, width) = (m.shape()[0], m.shape()[1]);
                objects.mask = Some(Mask { name: "mask=".into(), width, height, pixels: m.as_array().iter().copied().collect() });
            }
            _ => unreachable!("every object keyword is handled"),
        }
    }
    Ok(())
}

/// Where the structure factors come from.
enum StructureFactorsFrom {
    None,
    File(PathBuf),
    Given(GivenStructureFactors),
}

/// `hkl=` (and `F=`, `column=`) as a file or as values.
fn structure_factors_from(py: Python<'_>, objects: &Objects, default_f: f64) -> PyResult<StructureFactorsFrom> {
    let Some(hkl) = &objects.hkl else {
        if objects.f.is_some() {
            return Err(refuse("F: the amplitudes of hkl=; give hkl= (an (n, 3) array of Miller indices) too"));
        }
        return Ok(StructureFactorsFrom::None);
    };
    let hkl = hkl.bind(py);
    if let Ok(file) = hkl.extract::<PathBuf>() {
        if objects.f.is_some() {
            return Err(refuse("F: hkl= names a file, which holds the amplitudes itself"));
        }
        return Ok(StructureFactorsFrom::File(file));
    }
    let f = objects.f.as_ref().map(|f| f.bind(py).clone());
    let table = convert(py, "reflections", (hkl, f, objects.column.clone()))?;
    let (indices, amplitudes, cell): (PyReadonlyArray2<'_, i32>, PyReadonlyArray1<'_, f64>, Option<[f64; 6]>) = table.extract()?;
    let indices = indices.as_array();
    let reflections: Vec<([i32; 3], f64)> = indices.rows().into_iter().zip(amplitudes.as_array().iter()).map(|(r, &f)| ([r[0], r[1], r[2]], f)).collect();
    let grid = StructureFactors::from_reflections(&reflections, default_f).map_err(|why| refuse(format!("hkl: {why}")))?;
    Ok(StructureFactorsFrom::Given(GivenStructureFactors { grid: Arc::new(grid), reflections: reflections.len(), cell }))
}

/// The result of setting up an experiment, with what it said on the way.
struct Built {
    exp: Experiment,
    inputs: Inputs,
    said: Said,
}

impl Simulator {
    fn new_simulator(
        py: Python<'_>,
        params: ExperimentParams,
        built: Result<Built, (CoreError, Said)>,
        engine: EngineChoice,
        gpu: GpuOptions,
        budget: Budget,
        structure_factors_given: bool,
        frames: (Option<u64>, Option<u64>),
    ) -> PyResult<Simulator> {
        let built = match built {
            Ok(b) => b,
            Err((e, said)) => {
                say::setup(py, &said.notes, &said.warnings)?;
                return Err(error(e));
            }
        };
        say::setup(py, &built.said.notes, &built.said.warnings)?;
        let Built { exp, inputs, .. } = built;
        let base = exp.clone();
        let info = Info::of(&exp);
        let (sim, device) = py.detach(|| simulator_for(exp, engine, &gpu)).map_err(error)?;
        say::flush(py)?;
        let state = State { sim, params, inputs, budget, structure_factors_given, base, at_base: true };
        Ok(Simulator { state: Mutex::new(state), info: Mutex::new(info), engine, device, frames: frames.0, first_frame: frames.1 })
    }

    /// Runs `work` on the simulator's state on a worker thread, the GIL released, looking for
    /// signals meanwhile (`KeyboardInterrupt` cancels the work and is raised when it stopped).
    fn run<T: Send>(&self, py: Python<'_>, work: impl FnOnce(&mut State, &RenderControl) -> CoreResult<T> + Send) -> PyResult<T> {
        let control = RenderControl::default();
        let done: (Mutex<Option<CoreResult<T>>>, Condvar) = (Mutex::new(None), Condvar::new());
        let outcome = std::thread::scope(|scope| {
            scope.spawn(|| {
                let result = {
                    let mut state = lock(&self.state);
                    work(&mut state, &control)
                };
                *lock(&done.0) = Some(result);
                done.1.notify_all();
            });
            let mut interrupt = None;
            loop {
                let finished = py.detach(|| {
                    let guard = lock(&done.0);
                    let (guard, _) = done.1.wait_timeout_while(guard, SIGNAL_CHECK, |r| r.is_none()).unwrap_or_else(|p| p.into_inner());
                    guard.is_some()
                });
                if finished {
                    break;
                }
                if interrupt.is_none()
                    && let Err(e) = py.check_signals()
                {
                    // the engines stop at their next pixel; the render's outcome is dropped
                    control.cancel();
                    interrupt = Some(e);
                }
            }
            let result = lock(&done.0).take().expect("the worker left its result");
            match interrupt {
                Some(e) => Err(e),
                None => result.map_err(error),
            }
        });
        say::flush(py)?;
        outcome
    }

    fn set_info(&self, update: impl FnOnce(&mut Info)) {
        update(&mut lock(&self.info));
    }

    /// A render's result as Python gets it.
    fn deliver(&self, py: Python<'_>, out: Out, number: u64, shape: Option<(usize, usize)>) -> PyResult<Py<PyAny>> {
        let shape = shape.unwrap_or_else(|| lock(&self.info).shape);
        match out {
            Out::Image(rendered) => {
                self.set_info(|i| i.last = Some(Stats::of(&rendered, shape.1)));
                Ok(array(py, rendered.image, shape)?.into_any().unbind())
            }
            Out::Recorded(recorded, headers) => {
                self.set_info(|i| i.last = Some(Stats::of(&recorded.photons, shape.1)));
                Ok(Py::new(py, Recorded::new(py, recorded, headers, number, shape)?)?.into_any())
            }
        }
    }

    /// The parameters `kwargs` change, resolved with the simulator's inputs (a new `matrix`
    /// among them): for `set` and a shot.
    fn changed(&self, py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>, context: &str) -> PyResult<(ExperimentParams, Inputs, Experiment)> {
        let (mut params, mut inputs, budget, given) = {
            let state = py.detach(|| {
                let s = lock(&self.state);
                (s.params.clone(), s.inputs.clone(), s.budget, s.structure_factors_given)
            });
            state
        };
        let default_f = params.default_f;
        let mut objects = Objects::default();
        apply_keywords(py, &mut params, &mut objects, kwargs, &["matrix", "orientation"], context)?;
        if given && params.default_f != default_f {
            return Err(refuse(format!("{context}default_F fills the structure factors of hkl=, read once: make a new Simulator")));
        }
        if let Some(m) = objects.matrix {
            inputs.matrix = Some(m);
        }
        let mut warnings = Vec::new();
        let exp = model::resolve(&params, &inputs, &budget, &mut warnings);
        say::setup(py, &[], &warnings)?;
        let exp = exp.map_err(|e| refuse(format!("{context}{e}")))?;
        Ok((params, inputs, exp))
    }
}

#[pymethods]
impl Simulator {
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn py_new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Simulator> {
        let mut p = ExperimentParams::default();
        let mut objects = Objects::default();
        let all: Vec<&str> = std::iter::once("c_parity").chain(OBJECT_KEYWORDS.iter().copied()).collect();
        apply_keywords(py, &mut p, &mut objects, kwargs, &all, "")?;
        let engine = objects.engine.unwrap_or(EngineChoice::Auto);
        let gpu = GpuOptions { precision: objects.precision, adapter: objects.adapter, ..nanobragg_args::gpu_env::for_backend(objects.backend.as_deref()) };
        let budget = nanobragg_args::limits::budget(engine);
        let from = structure_factors_from(py, &objects, p.default_f)?;
        if matches!(from, StructureFactorsFrom::None) && p.default_f == 0.0 && !(p.mode == Mode::Default && objects.stol.is_some()) {
            return Err(refuse("no structure factors: give hkl= (a file, an (n, 3) array of Miller indices with F=, or a table) or default_F="));
        }
        if objects.column.is_some() && !matches!(from, StructureFactorsFrom::File(_) | StructureFactorsFrom::Given(_)) {
            return Err(refuse("column: the amplitudes' column of hkl= (an MTZ file or a table); give hkl= too"));
        }
        let given = !matches!(from, StructureFactorsFrom::None);
        let files = InputFiles {
            hkl: match &from {
                StructureFactorsFrom::File(f) => Some(f.clone()),
                _ => None,
            },
            mtz_column: match &from {
                StructureFactorsFrom::File(_) => objects.column.clone(),
                _ => None,
            },
            mat: objects.mat.clone(),
            sourcefile: objects.sourcefile.clone(),
            stol: objects.stol.clone().map(|s| (s, nanobragg_core::model::amorphous::StolUnit::Stol)),
            // no cache is read unless hkl= names one: an empty path exists nowhere (the command
            // line's -c_parity reads ./Fdump.bin without -hkl, a library call does not)
            fdump: PathBuf::new(),
        };
        if objects.mat.is_some() && objects.matrix.is_some() {
            return Err(refuse("matrix: mat= names a matrix file already; give one of them"));
        }
        let given_grid = match from {
            StructureFactorsFrom::Given(g) => Some(g),
            _ => None,
        };
        let (matrix, mask) = (objects.matrix, objects.mask.clone());
        let to_load = InputsToLoad { sources: files.sourcefile.is_some(), stol: files.stol.is_some(), panels: false };
        let params = p.clone();
        let built = py.detach(move || {
            let mut said = Said::default();
            let mut warnings = Vec::new();
            if let Err(e) = model::preflight(&p, to_load, &budget, &mut warnings) {
                said.warnings = warnings;
                return Err((e, said));
            }
            let (mut inputs, notes) = nanobragg_io::inputs::load_given(&files, &p, given_grid).map_err(|e| (e, Said::default()))?;
            said.notes = notes;
            if matrix.is_some() {
                inputs.matrix = matrix;
            }
            inputs.mask = mask;
            match model::resolve(&p, &inputs, &budget, &mut said.warnings) {
                Ok(exp) => Ok(Built { exp, inputs, said }),
                Err(e) => Err((e, said)),
            }
        });
        Simulator::new_simulator(py, params, built, engine, gpu, budget, given, (None, None))
    }

    /// A simulator from a nanoBragg.c command line (without the program's name), through the
    /// command line's own flag table and parser: the same values refused with the same
    /// messages, the same files read (`-hkl`, `-mat`, `-img` and `-mask` headers, ...; with
    /// `-c_parity` and no `-hkl`, ./Fdump.bin as nanoBragg.c). Flags naming output files are
    /// accepted and not used (`render` returns arrays; `Recorded` writes files). As on the
    /// command line the noise seed comes from the clock unless `-seed` is given.
    #[staticmethod]
    fn from_args(py: Python<'_>, args: Vec<String>) -> PyResult<Simulator> {
        let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1);
        let raw = match parse(&args, -clock) {
            Ok(Command::Run(raw)) => *raw,
            Ok(Command::Help) => return Err(refuse("from_args: -h asks for the help text, which nanobragg.help() returns")),
            Err(e) => {
                say::flush(py)?;
                return Err(error(e));
            }
        };
        say::flush(py)?;
        let budget = raw.budget();
        let gpu = raw.gpu_options();
        let engine = raw.engine;
        let given = raw.hkl.is_some() || (raw.mode == Mode::CParity && raw.fdump.exists());
        let frames = (raw.frames, raw.first_frame);
        let params = raw.params.clone();
        let built = py.detach(|| {
            let mut said = Said::default();
            match raw.load_and_resolve(&budget, &mut said) {
                Ok((exp, inputs)) => Ok(Built { exp, inputs, said }),
                Err(e) => Err((with_input_flag(&raw, e), said)),
            }
        });
        Simulator::new_simulator(py, params, built, engine, gpu, budget, given, frames)
    }

    /// Renders the experiment: a float32 numpy array of the photons per pixel, (slow, fast)
    /// (a detector of several panels, `-detector`, gives them stacked as the command line writes
    /// them: (panels × slow, fast)). `phi`: the crystal's φ at
    /// the start of the frame (degrees) instead of the experiment's. With `noise=True`, the
    /// frame as the detector records it: a `Recorded` (photons, integer image, noise image,
    /// counts). The render's statistics are `stats` afterwards.
    #[pyo3(signature = (*, phi = None, noise = false))]
    fn render(&self, py: Python<'_>, phi: Option<f64>, noise: bool) -> PyResult<Py<PyAny>> {
        if let Some(deg) = phi
            && !deg.is_finite()
        {
            return Err(refuse(format!("phi: value {deg} is not a finite number")));
        }
        let out = self.run(py, move |state, control| {
            state.to_base();
            let mut frame = state.base_frame();
            if let Some(deg) = phi {
                frame = frame.with_phi_deg(deg);
            }
            state.render(&frame, noise, false, control)
        })?;
        self.deliver(py, out, 1, None)
    }

    /// Changes parameters (keywords as the constructor's, and `matrix`/`orientation`) for every
    /// later render, keeping the structure factors, the device and its pipelines: a parameter
    /// scan without setting up again.
    #[pyo3(signature = (**kwargs))]
    fn set(&self, py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let (params, inputs, exp) = self.changed(py, kwargs, "")?;
        let info = Info::of(&exp);
        self.run(py, move |state, _| {
            state.sim.set_experiment(exp.clone(), 1);
            state.base = exp;
            state.at_base = true;
            state.params = params;
            state.inputs = inputs;
            Ok(())
        })?;
        self.set_info(|i| *i = Info { last: i.last.clone(), ..info });
        Ok(())
    }

    /// A rotation series as an iterator: frame k (from `first_frame`, default 1) starts at
    /// φ = phi + (k − first_frame)·osc, as `-frames`; each item is the frame's image (or, with
    /// `noise=True`, its `Recorded`; the default mode's integer images then have one scale,
    /// 1 count per photon unless `scale=` was given). `osc` and `phi` change the simulator's
    /// parameters as `set` does. Frames not given: the command line's `-frames`.
    #[pyo3(signature = (frames = None, osc = None, *, phi = None, first_frame = None, noise = false))]
    fn series(slf: &Bound<'_, Self>, frames: Option<u64>, osc: Option<&Bound<'_, PyAny>>, phi: Option<&Bound<'_, PyAny>>, first_frame: Option<u64>, noise: bool) -> PyResult<Series> {
        let py = slf.py();
        let this = slf.get();
        if osc.is_some() || phi.is_some() {
            let kwargs = PyDict::new(py);
            if let Some(phi) = phi {
                kwargs.set_item("phi", phi)?;
            }
            if let Some(osc) = osc {
                kwargs.set_item("osc", osc)?;
            }
            this.set(py, Some(&kwargs))?;
        }
        let count = frames.or(this.frames).ok_or_else(|| refuse("series: give frames= (the number of frames)"))?;
        let first = first_frame.or(this.first_frame).unwrap_or(1);
        let max = nanobragg_args::MAX_FRAME_NUMBER;
        if count == 0 || first.checked_add(count - 1).is_none_or(|last| last > max) {
            return Err(refuse(format!("series: frames {first} to {first}+{count}-1 must be from 0 to {max}, at least one")));
        }
        let (phi_deg, osc_deg, phi0, seed) = py.detach(|| {
            let s = lock(&this.state);
            let osc = s.base.sampling.osc;
            // the oscillation as typed when the sampling rules kept it, so that frame k's start
            // is computed from the numbers a run typed with `-phi <start>` is (`dataset::series`)
            let osc_deg = s.params.osc_deg.filter(|d| d / RTD == osc).unwrap_or(osc * RTD);
            (s.params.phi_deg, osc_deg, s.base.sampling.phi0, s.base.response.seed)
        });
        Ok(Series { sim: slf.clone().unbind(), first, last: first + count - 1, next: first, phi_deg, osc_deg, phi0, seed, noise })
    }

    /// Still shots as an iterator: each item of `shots` is a dict of keyword arguments (the
    /// constructor's parameters, `matrix`, `orientation`) applied to the simulator's parameters
    /// for that shot alone; each item yielded is the shot's image (or `Recorded` with
    /// `noise=True`). Shot k is numbered k (from 1): its noise is drawn as frame k's.
    #[pyo3(signature = (shots, *, noise = false))]
    fn shots(slf: &Bound<'_, Self>, shots: &Bound<'_, PyAny>, noise: bool) -> PyResult<Shots> {
        Ok(Shots { sim: slf.clone().unbind(), shots: shots.try_iter()?.into_any().unbind(), number: 0, noise })
    }

    /// Opens a NeXus/NXmx file for `frames` frames of this simulator's detector and beam
    /// (`-nexusfile`): append each `Recorded` frame, then `close()` (or use `with`).
    #[pyo3(signature = (path, frames, *, float = false))]
    fn nexus(&self, py: Python<'_>, path: PathBuf, frames: usize, float: bool) -> PyResult<crate::recorded::NexusWriter> {
        if frames == 0 {
            return Err(refuse("nexus: frames must be at least 1"));
        }
        let exp = py.detach(|| lock(&self.state).base.clone());
        crate::recorded::NexusWriter::create(path, &exp, frames, float)
    }

    /// The image's shape, (slow, fast).
    #[getter]
    fn shape(&self) -> (usize, usize) {
        lock(&self.info).shape
    }

    /// The engine asked for: "auto", "cpu" or "gpu".
    #[getter]
    fn engine(&self) -> &'static str {
        match self.engine {
            EngineChoice::Auto => "auto",
            EngineChoice::Cpu => "cpu",
            EngineChoice::Gpu => "gpu",
        }
    }

    /// The engine the last render ran on ("cpu" or "gpu"); None before the first render.
    #[getter]
    fn engine_used(&self) -> Option<String> {
        lock(&self.info).last.as_ref().map(|s| s.engine.clone())
    }

    /// The GPU adapter the simulator holds (None on the CPU engine).
    #[getter]
    fn adapter(&self) -> Option<String> {
        self.device.as_ref().map(|d| d.adapter_name().to_string())
    }

    /// The GPU's API (Vulkan, Metal, DX12, GL), None on the CPU engine.
    #[getter]
    fn backend(&self) -> Option<String> {
        self.device.as_ref().map(|d| d.backend_name())
    }

    /// The GPU kernel's arithmetic ("f64" or "double-float") and why it was chosen; None on
    /// the CPU engine.
    #[getter]
    fn precision(&self) -> Option<String> {
        self.device.as_ref().map(|d| d.variant().to_string())
    }

    /// The statistics of the last render (None before the first).
    #[getter]
    fn stats(&self) -> Option<Stats> {
        lock(&self.info).last.clone()
    }

    /// "default" or "c_parity".
    #[getter]
    fn mode(&self) -> &'static str {
        match lock(&self.info).mode {
            Mode::Default => "default",
            Mode::CParity => "c_parity",
        }
    }

    /// The experiment's geometry as resolved: pixel size and distance (mm), wavelength (Å),
    /// the direct beam's position (Xbeam, Ybeam in mm), φ and the oscillation (degrees), the
    /// unit cell (Å, degrees).
    #[getter]
    fn geometry<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let g = lock(&self.info).geometry;
        let d = PyDict::new(py);
        d.set_item("pixel_size", g.pixel_size_mm)?;
        d.set_item("distance", g.distance_mm)?;
        d.set_item("wavelength", g.wavelength_a)?;
        d.set_item("beam_center", g.beam_center_mm)?;
        d.set_item("phi", g.phi_deg)?;
        d.set_item("osc", g.osc_deg)?;
        d.set_item("cell", g.cell.to_vec())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let info = lock(&self.info);
        format!("Simulator(shape={:?}, mode='{}', engine='{}')", info.shape, self.mode(), self.engine())
    }
}

/// A rotation series being rendered (`Simulator.series`).
#[pyclass(module = "nanobragg")]
pub struct Series {
    sim: Py<Simulator>,
    first: u64,
    last: u64,
    next: u64,
    phi_deg: f64,
    osc_deg: f64,
    /// the series' first frame's φ as resolved (radians)
    phi0: f64,
    seed: i64,
    noise: bool,
}

impl Series {
    /// Frame `number` as the command line's series has it (`dataset::series::Series::frame`).
    fn frame(&self, number: u64) -> Frame {
        let start_deg = if number == self.first { self.phi_deg } else { self.phi_deg + (number - self.first) as f64 * self.osc_deg };
        let phi0 = if number == self.first { self.phi0 } else { start_deg / RTD };
        Frame { number, phi0, phi_start_deg: start_deg, seed: self.seed, noise_counter: number }
    }
}

#[pymethods]
impl Series {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if self.next > self.last {
            return Ok(None);
        }
        let number = self.next;
        let frame = self.frame(number);
        let noise = self.noise;
        let sim = self.sim.bind(py).get();
        let out = sim.run(py, move |state, control| {
            state.to_base();
            state.render(&frame, noise, true, control)
        })?;
        self.next += 1;
        sim.deliver(py, out, number, None).map(Some)
    }

    /// The number of frames of the series.
    fn __len__(&self) -> usize {
        (self.last - self.first + 1) as usize
    }
}

/// Still shots being rendered (`Simulator.shots`).
#[pyclass(module = "nanobragg")]
pub struct Shots {
    sim: Py<Simulator>,
    shots: Py<PyAny>,
    number: u64,
    noise: bool,
}

#[pymethods]
impl Shots {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(item) = self.shots.bind(py).call_method0("__next__").map(Some).or_else(|e| if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) { Ok(None) } else { Err(e) })? else {
            return Ok(None);
        };
        let number = self.number + 1;
        let context = format!("shot {number}: ");
        let dict = item.cast::<PyDict>().map_err(|_| refuse(format!("{context}a shot is a dict of keyword arguments, got {}", item.repr().map(|r| r.to_string()).unwrap_or_default())))?;
        let sim = self.sim.bind(py).get();
        let (_, _, exp) = sim.changed(py, Some(dict), &context)?;
        let shot_shape = shape(&exp);
        let noise = self.noise;
        let out = sim.run(py, move |state, control| {
            state.sim.set_experiment(exp, number);
            state.at_base = false;
            let frame = Frame { noise_counter: number, ..state.sim.frame() };
            state.render(&frame, noise, false, control)
        })?;
        self.number = number;
        sim.deliver(py, out, number, Some(shot_shape)).map(Some)
    }
}

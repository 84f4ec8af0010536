//! What a render gives Python: the statistics nanoBragg.c prints (`Stats`), a frame as the
//! detector records it (`Recorded`: photons, integer image, noise image, counts) with the
//! command line's writers, and the NeXus file of many frames (`NexusWriter`). The writers are
//! the io crate's, so a file written here is the file the command line writes for the frame.

use crate::refuse;
use nanobragg_core::engine::{EngineUsed, Rendered};
use nanobragg_core::model::Experiment;
use nanobragg_core::response::record::{NoisePixels, Recorded as CoreRecorded};
use nanobragg_io::cbf::{self, CbfHeader};
use nanobragg_io::nexus::{FramePixels, NexusHeader};
use nanobragg_io::smv::{SmvHeader, encode_smv, encode_smv_u32};
use numpy::ndarray::Array2;
use numpy::{PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Mutex;

/// The image's shape as numpy has it: (slow, fast). A detector of several panels (`-detector`)
/// gives its panels stacked as the command line writes them: (panels × slow, fast).
pub fn shape(exp: &Experiment) -> (usize, usize) {
    (exp.detector.image_rows(), exp.detector.fpixels)
}

/// `pixels` (fast-major, `fast` wide) as a (slow, fast) numpy array, the vector handed over
/// to numpy as its buffer: no copy.
pub fn array<'py, T: numpy::Element>(py: Python<'py>, pixels: Vec<T>, (slow, fast): (usize, usize)) -> PyResult<Bound<'py, PyArray2<T>>> {
    let a = Array2::from_shape_vec((slow, fast), pixels).map_err(|e| refuse(format!("an image of the wrong size: {e}")))?;
    Ok(PyArray2::from_owned_array(py, a))
}

/// A render's statistics, as nanoBragg.c prints them (`max_I`, `mean`, `rms`, `rmsd`), and the
/// engine that rendered it.
#[pyclass(frozen, get_all, module = "nanobragg")]
#[derive(Clone)]
pub struct Stats {
    /// the brightest pixel's photons
    pub max: f64,
    /// where it is: (slow, fast)
    pub max_at: (usize, usize),
    pub mean: f64,
    pub rms: f64,
    pub rmsd: f64,
    /// the detector's solid angle summed over every sub-pixel and sensor layer (sr)
    pub omega_sum: f64,
    /// "cpu" or "gpu"
    pub engine: String,
    /// the GPU adapter (None on the CPU engine)
    pub adapter: Option<String>,
    /// the GPU backend and precision variant (None on the CPU engine)
    pub backend: Option<String>,
    /// the GPU kernel's own time, where the adapter times it (seconds)
    pub kernel_seconds: Option<f64>,
}

impl Stats {
    pub fn of(r: &Rendered, fast: usize) -> Stats {
        let s = &r.stats;
        let (engine, adapter, backend) = match &r.engine {
            EngineUsed::Cpu => ("cpu", None, None),
            EngineUsed::Gpu { adapter, backend } => ("gpu", Some(adapter.clone()), Some(backend.clone())),
        };
        Stats {
            max: s.max_i,
            max_at: (s.max_at / fast.max(1), s.max_at % fast.max(1)),
            mean: s.mean,
            rms: s.rms,
            rmsd: s.rmsd,
            omega_sum: s.omega_sum,
            engine: engine.into(),
            adapter,
            backend,
            kernel_seconds: r.kernel_seconds,
        }
    }
}

#[pymethods]
impl Stats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(max={}, max_at={:?}, mean={}, rms={}, rmsd={}, engine='{}')",
            self.max, self.max_at, self.mean, self.rms, self.rmsd, self.engine
        )
    }
}

/// What the headers of a frame's files say: the command line's, of the frame's experiment.
#[derive(Clone)]
pub struct Headers {
    pub smv: SmvHeader,
    pub cbf: CbfHeader,
    /// φ at the frame's start (degrees), for the NeXus file
    pub phi_start_deg: f64,
}

impl Headers {
    pub fn of(exp: &Experiment) -> Headers {
        Headers { smv: SmvHeader::from_experiment(exp), cbf: CbfHeader::from_experiment(exp, run_time()), phi_start_deg: exp.sampling.phi0.to_degrees() }
    }
}

/// The time CBF headers carry: `SOURCE_DATE_EPOCH` (seconds since 1970), else the epoch itself,
/// as the command line writes them (so the bytes are the command line's for the same frame).
fn run_time() -> std::time::SystemTime {
    let seconds = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

/// One frame as the detector records it (`render(noise=True)`): the photons, the integer image
/// the command line writes with `-intfile`, the noise image of `-noisefile` and the photons
/// counted, with the frame's statistics; and writers for the command line's file formats.
#[pyclass(frozen, module = "nanobragg")]
pub struct Recorded {
    /// float32 (slow, fast): the photons per pixel, as `render()` returns them
    #[pyo3(get)]
    photons: Py<PyArray2<f32>>,
    /// uint16 (slow, fast): photons × int_scale + adc, as `-intfile`
    #[pyo3(get)]
    int_image: Py<PyArray2<u16>>,
    /// uint16 or uint32 (`bits=32`) (slow, fast): as `-noisefile`
    #[pyo3(get)]
    noise_image: Option<Py<PyAny>>,
    /// float32 (slow, fast): the photons counted in each pixel (after the PSF), what a
    /// photon-counting detector records and `-cbffile` writes
    #[pyo3(get)]
    counts: Py<PyArray2<f32>>,
    /// the integer image's scale: `scale=`, else 55000 / the brightest pixel (a rotation
    /// series of the default mode: 1 count per photon)
    #[pyo3(get)]
    int_scale: f64,
    /// noise-image pixels clamped at the largest value
    #[pyo3(get)]
    overloads: u64,
    #[pyo3(get)]
    stats: Py<Stats>,
    /// the frame's number (a series' frame k, a shot's number; 1 for a single render)
    #[pyo3(get)]
    number: u64,
    /// φ at the frame's start (degrees)
    #[pyo3(get)]
    phi: f64,
    headers: Headers,
}

impl Recorded {
    pub fn new(py: Python<'_>, r: CoreRecorded, headers: Headers, number: u64, shape: (usize, usize)) -> PyResult<Recorded> {
        let CoreRecorded { photons, int_scale, int_image, noise } = r;
        let stats = Py::new(py, Stats::of(&photons, shape.1))?;
        let photons_array = array(py, photons.image, shape)?;
        let int_image = array(py, int_image, shape)?.unbind();
        let (noise_image, counts, overloads) = match noise {
            Some(n) => {
                let image = match n.pixels {
                    NoisePixels::Bits16(p) => array(py, p, shape)?.into_any().unbind(),
                    NoisePixels::Bits32(p) => array(py, p, shape)?.into_any().unbind(),
                };
                (Some(image), array(py, n.counts, shape)?.unbind(), n.overloads)
            }
            // without a noise image the photons are what is counted (`Recorded::counts`)
            None => (None, photons_array.clone().unbind(), 0),
        };
        Ok(Recorded { photons: photons_array.unbind(), int_image, noise_image, counts, int_scale, overloads, stats, number, phi: headers.phi_start_deg, headers })
    }
}

/// The pixels of a 2-D array of the image's shape, in memory order (a copy only where numpy
/// holds them in another order).
fn pixels<T: numpy::Element + Copy>(a: &Bound<'_, PyArray2<T>>, shape: (usize, usize)) -> PyResult<Vec<T>> {
    let dims = a.shape();
    if (dims[0], dims[1]) != shape {
        return Err(refuse(format!("the image is {}x{}, the frame's detector {}x{} (slow, fast)", dims[0], dims[1], shape.0, shape.1)));
    }
    Ok(a.readonly().as_array().iter().copied().collect())
}

fn write(path: PathBuf, bytes: &[u8]) -> PyResult<()> {
    nanobragg_io::write_atomic(&path, bytes).map_err(crate::error)
}

#[pymethods]
impl Recorded {
    /// The raw float32 image, as `-floatfile` writes it.
    fn write_float(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let photons = pixels(self.photons.bind(py), (self.headers.smv.spixels, self.headers.smv.fpixels))?;
        write(path, &nanobragg_io::rawfloat::encode_float_image(&photons))
    }

    /// The SMV image of the integer image, as `-intfile` writes it; with `noise=True` the noise
    /// image's, as `-noisefile`.
    #[pyo3(signature = (path, noise = false))]
    fn write_smv(&self, py: Python<'_>, path: PathBuf, noise: bool) -> PyResult<()> {
        let shape = (self.headers.smv.spixels, self.headers.smv.fpixels);
        let bytes = if !noise {
            encode_smv(&self.headers.smv, &pixels(self.int_image.bind(py), shape)?)
        } else {
            let image = self.noise_image.as_ref().ok_or_else(|| refuse("write_smv(noise=True): this frame has no noise image"))?.bind(py);
            if let Ok(a) = image.cast::<PyArray2<u16>>() {
                encode_smv(&self.headers.smv, &pixels(a, shape)?)
            } else {
                let a = image.cast::<PyArray2<u32>>().map_err(|_| refuse("the noise image is neither uint16 nor uint32"))?;
                encode_smv_u32(&self.headers.smv, &pixels(a, shape)?)
            }
        };
        write(path, &bytes)
    }

    /// The miniCBF image of the counts (32-bit), as `-cbffile` writes it.
    fn write_cbf(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let counts = pixels(self.counts.bind(py), (self.headers.smv.spixels, self.headers.smv.fpixels))?;
        write(path, &cbf::encode_cbf(&self.headers.cbf, &cbf::photon_counts(&counts)))
    }

    fn __repr__(&self) -> String {
        format!("Recorded(number={}, phi={}, int_scale={}, overloads={})", self.number, self.phi, self.int_scale, self.overloads)
    }
}

/// A NeXus/NXmx file of many frames (`-nexusfile`): photon counts (32-bit) as `-cbffile`, or
/// the float photons with `float=True`. Made for the simulator's detector and beam, written as
/// a temporary and put in place by `close()` (or the end of a `with` block) once every frame
/// went in.
#[pyclass(module = "nanobragg")]
pub struct NexusWriter {
    writer: Mutex<Option<nanobragg_io::nexus::NexusWriter>>,
    frames: usize,
    written: usize,
}

impl NexusWriter {
    pub fn create(path: PathBuf, exp: &Experiment, frames: usize, float: bool) -> PyResult<NexusWriter> {
        if let Some(why) = nanobragg_io::nexus::refuse_name(&path) {
            return Err(refuse(format!("NexusWriter {}: {why}", path.display())));
        }
        let writer = nanobragg_io::nexus::NexusWriter::create(&path, NexusHeader::from_experiment(exp, frames, float)).map_err(crate::error)?;
        Ok(NexusWriter { writer: Mutex::new(Some(writer)), frames, written: 0 })
    }
}

#[pymethods]
impl NexusWriter {
    /// Adds a recorded frame (`render(noise=True)`, a series' frame).
    fn append(&mut self, py: Python<'_>, frame: &Recorded) -> PyResult<()> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = guard.as_mut().ok_or_else(|| refuse("NexusWriter.append: the file is closed"))?;
        if self.written == self.frames {
            return Err(refuse(format!("NexusWriter.append: the file holds {} frames, all written", self.frames)));
        }
        let shape = (frame.headers.smv.spixels, frame.headers.smv.fpixels);
        let outcome = if writer.float() {
            writer.append(frame.headers.phi_start_deg, FramePixels::Photons(&pixels(frame.photons.bind(py), shape)?))
        } else {
            // the same counts as the CBF image: a photon-counting detector's
            let counts = cbf::photon_counts(&pixels(frame.counts.bind(py), shape)?);
            writer.append(frame.headers.phi_start_deg, FramePixels::Counts(&counts))
        };
        outcome.map_err(crate::error)?;
        self.written += 1;
        Ok(())
    }

    /// Puts the file in place; every frame it was made for must have been appended.
    fn close(&mut self) -> PyResult<()> {
        let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() else { return Ok(()) };
        if self.written < self.frames {
            return Err(refuse(format!("NexusWriter.close: {} of {} frames were appended; the file is not written", self.written, self.frames)));
        }
        writer.finish().map_err(crate::error)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&mut self, exc_type: Option<Bound<'_, PyAny>>, _exc: Option<Bound<'_, PyAny>>, _tb: Option<Bound<'_, PyAny>>) -> PyResult<bool> {
        if exc_type.is_some() {
            // an exception left the block: the temporary is dropped, nothing is put in place
            self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
            return Ok(false);
        }
        self.close()?;
        Ok(false)
    }
}

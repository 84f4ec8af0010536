//! NeXus/NXmx files (`-nexusfile`): one HDF5 file holding every frame of a run, laid out as
//! the NXmx application definition describes a macromolecular-crystallography data set, so
//! that DIALS (through its `nxmx` reader and dxtbx) reads the geometry, the beam and the
//! rotation scan from the file itself.
//!
//! The file is made in three steps, so that memory stays constant in the number of frames:
//! `NexusWriter::create` before the first frame (every group, the geometry and an empty
//! `[frames, slow, fast]` data set chunked one frame a chunk), `append` for each frame as the
//! writer thread receives it (that frame's chunk, deflated, and its goniometer angles), and
//! `finish` at the end (end time, close, rename). Everything goes to a temporary beside the
//! output (`io::TempFile`), renamed into place by `finish`: a run that fails or is stopped
//! leaves no partial file.
//!
//! Vectors are written in the NeXus (McStas) frame: z along the beam, y up, x to make a
//! right-handed set. nanoBragg's lab frame depends on the convention (MOSFLM's beam runs
//! along +x, XDS's along +z; custom vectors anywhere), so the mapping is a rotation built
//! from the run's own beam vector (`McStasFrame`). A rotation keeps every angle and distance,
//! so what processing programs derive (beam centre, distances, scattering angles, the spindle
//! relative to the beam) is the same in either frame.

use super::TempFile;
use super::cfmt::tidy;
use crate::error::{Error, Result};
use nanobragg_core::model::Experiment;
use nanobragg_core::physics::{V3, cross, dot, unitize};
use rust_hdf5::format::messages::datatype::DatatypeMessage;
use rust_hdf5::types::VarLenUnicode;
use rust_hdf5::{H5Dataset, H5File, H5Group, H5Type, Hdf5Error};
use std::path::{Path, PathBuf};

/// deflate level (after the shuffle filter): on a 1024² noise image 4 is 5 % larger than 6
/// and 10 % larger than 9, which took 4.5 times as long (docs/formats.md)
const DEFLATE_LEVEL: u32 = 4;

/// Where the writer puts the detector's chain of transformations (NXmx `depends_on`).
const DETECTOR_Z: &str = "/entry/instrument/detector/transformations/det_z";
const MODULE_OFFSET: &str = "/entry/instrument/detector/module/module_offset";
const OMEGA: &str = "/entry/sample/transformations/omega";

/// nanoBragg's lab frame → the McStas frame: the rows are McStas x, y and z written in lab
/// coordinates. z is the beam's direction of travel; y is the lab y axis made perpendicular
/// to the beam (the vertical in MOSFLM's and XDS's frames; the lab z axis instead when the
/// beam runs along y); x = y × z.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct McStasFrame {
    pub rows: [V3; 3],
}

impl McStasFrame {
    pub fn for_beam(beam: V3) -> McStasFrame {
        let z = unitize(beam).0;
        let up_hint = if cross([0.0, 1.0, 0.0], z).iter().map(|c| c * c).sum::<f64>() > 1e-12 { [0.0, 1.0, 0.0] } else { [0.0, 0.0, 1.0] };
        let x = unitize(cross(up_hint, z)).0;
        let y = cross(z, x);
        McStasFrame { rows: [x, y, z] }
    }

    /// `v` (lab frame) in McStas coordinates.
    pub fn map(&self, v: V3) -> V3 {
        [dot(self.rows[0], v), dot(self.rows[1], v), dot(self.rows[2], v)]
    }
}

/// What the file says about the run, in SI units and the McStas frame.
#[derive(Clone, Debug, PartialEq)]
pub struct NexusHeader {
    pub frames: usize,
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_size_m: f64,
    /// the spectrum: (wavelength Å, summed weight), one entry per distinct wavelength, in
    /// increasing wavelength
    pub spectrum: Vec<(f64, f64)>,
    /// the outer corner of the first pixel, from the sample (m, McStas)
    pub origin_m: V3,
    pub fast: V3,
    pub slow: V3,
    pub normal: V3,
    /// sample to the beam's point on the detector, along the beam (m)
    pub distance_m: f64,
    /// the beam's point on the detector, in pixels along fast and slow from the first pixel's
    /// outer corner
    pub beam_center_px: (f64, f64),
    /// 0 when no sensor thickness is modelled
    pub sensor_thickness_m: f64,
    pub exposure_s: f64,
    /// the rotation axis (McStas), right-handed as nanoBragg turns the crystal by φ
    pub spindle: V3,
    pub osc_deg: f64,
    /// float32 photons (`-nexus_float`) instead of int32 counts
    pub float: bool,
    /// ISO 8601, UTC, `Z` suffix
    pub start_time: String,
}

impl NexusHeader {
    /// The header of a run of `frames` frames of `e`.
    pub fn from_experiment(e: &Experiment, frames: usize, float: bool) -> NexusHeader {
        let d = &e.detector;
        let frame = McStasFrame::for_beam(e.beam.direction);
        // the typed values `tidy`, without their conversions' binary round-off (as the CBF
        // header prints them)
        NexusHeader {
            frames,
            fpixels: d.fpixels,
            // the image's rows: a detector of panels is one image of its panels stacked
            // (docs/detectors.md), panel 0 described
            spixels: d.image_rows(),
            pixel_size_m: tidy(d.pixel_size),
            spectrum: spectrum(e.beam.sources.iter().map(|s| (tidy(s.lambda * 1e10), s.weight)), tidy(e.beam.lambda0 * 1e10)),
            origin_m: frame.map(d.pix0),
            fast: frame.map(d.fdet),
            slow: frame.map(d.sdet),
            normal: frame.map(d.odet),
            distance_m: tidy(d.distance),
            beam_center_px: (tidy(d.fbeam / d.pixel_size), tidy(d.sbeam / d.pixel_size)),
            sensor_thickness_m: tidy(d.thick),
            exposure_s: tidy(e.beam.exposure),
            spindle: frame.map(e.crystal.spindle),
            osc_deg: tidy(e.sampling.osc.to_degrees()),
            float,
            start_time: format!("{}Z", super::cbf::timestamp(std::time::SystemTime::now())),
        }
    }

    /// A still (no rotation during the exposure): the sample carries no goniometer
    /// (`depends_on = "."`), as NXmx describes serial and XFEL shots.
    pub fn is_still(&self) -> bool {
        self.osc_deg == 0.0
    }
}

/// The sources' wavelengths with their weights summed per distinct wavelength (divergence
/// repeats each wavelength once per direction), in increasing wavelength. No source (cannot
/// happen after resolve) gives the nominal wavelength alone.
fn spectrum(sources: impl Iterator<Item = (f64, f64)>, nominal: f64) -> Vec<(f64, f64)> {
    let mut lines: Vec<(f64, f64)> = Vec::new();
    for (lambda, weight) in sources {
        match lines.iter_mut().find(|(l, _)| *l == lambda) {
            Some(line) => line.1 += weight,
            None => lines.push((lambda, weight)),
        }
    }
    if lines.is_empty() {
        lines.push((nominal, 1.0));
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines
}

/// One frame's pixels as the file stores them (fast index first).
pub enum FramePixels<'a> {
    Counts(&'a [i32]),
    Photons(&'a [f32]),
}

/// An NXmx file being written: created before the first frame, one `append` per frame,
/// `finish` after the last. Dropped unfinished, it removes its temporary.
pub struct NexusWriter {
    /// the output's name as typed (for messages) and the file the temporary replaces
    path: PathBuf,
    target: PathBuf,
    file: Option<H5File>,
    /// the `[frames, slow, fast]` data set, and for a rotation the per-frame start and end
    /// angles, kept open so that `append` finds them without a lookup
    frames: H5Dataset,
    omega: Option<(H5Dataset, H5Dataset)>,
    /// declared after every HDF5 handle: fields drop in order, so an unfinished file is
    /// closed before its temporary is removed
    temp: TempFile,
    header: NexusHeader,
    written: usize,
}

/// An HDF5 writer error as this file's I/O error.
fn h5(path: &Path) -> impl Fn(Hdf5Error) -> Error + '_ {
    move |e| Error::io(path, std::io::Error::other(format!("HDF5: {e}")))
}

impl NexusWriter {
    /// Creates the temporary file with every group and the empty frame data set.
    pub fn create(path: &Path, header: NexusHeader) -> Result<NexusWriter> {
        let (target, mode) = match super::output_target(path) {
            Ok(super::OutputTarget::Replace { file, mode }) => (file, mode),
            Ok(super::OutputTarget::WriteThrough(_)) => return Err(Error::io(path, std::io::Error::other(NOT_A_REGULAR_FILE))),
            Err(why) => return Err(Error::io(path, std::io::Error::other(why))),
        };
        let temp = TempFile::beside(&target, mode).map_err(|e| Error::io(path, e))?;
        let file = H5File::create(temp.path()).map_err(h5(path))?;
        let (frames, omega) = layout(&file, &header).map_err(h5(path))?;
        Ok(NexusWriter { path: path.to_path_buf(), target, file: Some(file), frames, omega, temp, header, written: 0 })
    }

    /// Whether frames go in as float photons (`-nexus_float`) rather than counts.
    pub fn float(&self) -> bool {
        self.header.float
    }

    /// Writes the next frame: its pixels (one chunk) and, for a rotation, its start and end
    /// angle. `phi_start_deg`: where the frame's rotation starts.
    pub fn append(&mut self, phi_start_deg: f64, pixels: FramePixels) -> Result<()> {
        let h = &self.header;
        let at = self.written;
        let path = self.path.clone();
        if at >= h.frames {
            return Err(Error::io(&path, std::io::Error::other(format!("more frames than the {} the file was made for", h.frames))));
        }
        if self.file.is_none() {
            return Err(Error::io(&path, std::io::Error::other("the file is already closed")));
        }
        // one frame is one chunk: its bytes go through the data set's shuffle and deflate
        // (the stored type is little-endian, as is every host the HDF5 writer builds for)
        let (bytes, len): (&[u8], usize) = match pixels {
            FramePixels::Counts(p) => (bytemuck::cast_slice(p), p.len()),
            FramePixels::Photons(p) => (bytemuck::cast_slice(p), p.len()),
        };
        if len != h.spixels * h.fpixels {
            let msg = format!("frame of the wrong size: {len} pixels for a {} × {} detector", h.fpixels, h.spixels);
            return Err(Error::io(&path, std::io::Error::other(msg)));
        }
        self.frames.write_chunk(at, bytes).map_err(h5(&path))?;
        if let Some((start, end)) = &self.omega {
            start.write_slice(&[at], &[1], &[tidy(phi_start_deg)]).map_err(h5(&path))?;
            end.write_slice(&[at], &[1], &[tidy(phi_start_deg + h.osc_deg)]).map_err(h5(&path))?;
        }
        self.written += 1;
        Ok(())
    }

    /// Records the end time, closes the file (flushing it) and renames it into place; refuses
    /// a file that did not get every frame it was made for.
    pub fn finish(mut self) -> Result<()> {
        let path = self.path.clone();
        if self.written != self.header.frames {
            let msg = format!("only {} of {} frames were written; the file is not kept", self.written, self.header.frames);
            return Err(Error::io(&path, std::io::Error::other(msg)));
        }
        if let Some(file) = self.file.take() {
            let end = format!("{}Z", super::cbf::timestamp(std::time::SystemTime::now()));
            let entry = file.root_group().group("entry").map_err(h5(&path))?;
            string_dataset(&entry, "end_time", &end).map_err(h5(&path))?;
            // close writes the metadata and syncs the file to disk
            file.close().map_err(h5(&path))?;
        }
        self.temp.rename_to(&self.target).map_err(|e| Error::io(&path, e))
    }
}

const NOT_A_REGULAR_FILE: &str = "an HDF5 file is written in place, not streamed: name a regular file, not a device or pipe";

/// Why a `-nexusfile` name cannot be used, checked before the render (`None`: it can).
pub fn refuse_name(path: &Path) -> Option<String> {
    if path.as_os_str().to_string_lossy().contains('#') {
        return Some("one NeXus file holds every frame of the run: the name may not contain '#'".into());
    }
    match super::output_target(path) {
        Ok(super::OutputTarget::WriteThrough(_)) => Some(NOT_A_REGULAR_FILE.into()),
        Ok(super::OutputTarget::Replace { .. }) => None,
        Err(why) => Some(why),
    }
}

type H5Result<T> = std::result::Result<T, Hdf5Error>;

/// What carries attributes: the file (its root group), groups and data sets. Strings are
/// variable-length UTF-8 scalars, which h5py reads as `str`.
trait Attributes {
    fn string_attr(&self, name: &str, value: &str) -> H5Result<()>;
}

impl Attributes for H5File {
    fn string_attr(&self, name: &str, value: &str) -> H5Result<()> {
        self.set_attr_string(name, value)
    }
}

impl Attributes for H5Group {
    fn string_attr(&self, name: &str, value: &str) -> H5Result<()> {
        self.set_attr_string(name, value)
    }
}

impl Attributes for H5Dataset {
    fn string_attr(&self, name: &str, value: &str) -> H5Result<()> {
        self.new_attr::<VarLenUnicode>().shape(()).create(name)?.write_string(value)
    }
}

fn string_attr(location: &impl Attributes, name: &str, value: &str) -> H5Result<()> {
    location.string_attr(name, value)
}

fn vector_attr(d: &H5Dataset, name: &str, value: V3) -> H5Result<()> {
    d.new_attr::<f64>().shape([3]).create(name)?.write_array(&value[..])
}

fn group(parent: &H5Group, name: &str, class: &str) -> H5Result<H5Group> {
    let g = parent.create_group(name)?;
    string_attr(&g, "NX_class", class)?;
    Ok(g)
}

/// A scalar string field: fixed-length UTF-8, the form NeXus writers commonly use for
/// fields (h5py reads it as bytes, as it does a variable-length scalar).
fn string_dataset(parent: &H5Group, name: &str, value: &str) -> H5Result<H5Dataset> {
    // a zero-length HDF5 string type does not exist; our fields are never empty, but one
    // byte of padding keeps an empty one valid
    let size = value.len().max(1);
    let mut bytes = value.as_bytes().to_vec();
    bytes.resize(size, 0);
    let d = parent.new_dataset::<u8>().datatype(DatatypeMessage::fixed_string_utf8(size as u32)).scalar().create(name)?;
    d.write_raw_bytes(&bytes)?;
    Ok(d)
}

fn number<T: H5Type>(parent: &H5Group, name: &str, value: T, units: Option<&str>) -> H5Result<H5Dataset> {
    let d = parent.new_dataset::<T>().scalar().create(name)?;
    d.write_raw(&[value])?;
    if let Some(u) = units {
        string_attr(&d, "units", u)?;
    }
    Ok(d)
}

/// A one-dimensional data set of `values`.
fn list<T: H5Type>(parent: &H5Group, name: &str, values: &[T]) -> H5Result<H5Dataset> {
    let d = parent.new_dataset::<T>().shape([values.len()]).create(name)?;
    d.write_raw(values)?;
    Ok(d)
}

/// An NXtransformations axis: a one-value (or, for `values`, per-frame) data set with its
/// type, direction, offset and the axis it depends on.
struct Axis<'a> {
    name: &'a str,
    values: &'a [f64],
    units: &'a str,
    kind: &'a str,
    vector: V3,
    offset_m: V3,
    depends_on: &'a str,
}

fn axis(parent: &H5Group, a: &Axis) -> H5Result<H5Dataset> {
    let d = list(parent, a.name, a.values)?;
    string_attr(&d, "units", a.units)?;
    string_attr(&d, "transformation_type", a.kind)?;
    vector_attr(&d, "vector", a.vector)?;
    vector_attr(&d, "offset", a.offset_m)?;
    string_attr(&d, "offset_units", "m")?;
    string_attr(&d, "depends_on", a.depends_on)?;
    Ok(d)
}

/// Every group and field, and the empty data sets the frames fill: returns the frame data
/// set and, for a rotation, the start and end angle data sets.
type FrameDatasets = (H5Dataset, Option<(H5Dataset, H5Dataset)>);
fn layout(file: &H5File, h: &NexusHeader) -> H5Result<FrameDatasets> {
    string_attr(file, "default", "entry")?;
    string_attr(file, "creator", &format!("nanobragg {}", env!("CARGO_PKG_VERSION")))?;
    let entry = group(&file.root_group(), "entry", "NXentry")?;
    string_attr(&entry, "default", "data")?;
    string_dataset(&entry, "definition", "NXmx")?;
    string_dataset(&entry, "start_time", &h.start_time)?;

    let source = group(&entry, "source", "NXsource")?;
    string_dataset(&source, "name", "nanobragg simulation")?;

    let instrument = group(&entry, "instrument", "NXinstrument")?;
    string_dataset(&instrument, "name", "nanobragg simulation")?;

    let beam = group(&instrument, "beam", "NXbeam")?;
    if let [(lambda, _)] = h.spectrum[..] {
        number(&beam, "incident_wavelength", lambda, Some("angstrom"))?;
    } else {
        let lambdas: Vec<f64> = h.spectrum.iter().map(|s| s.0).collect();
        let weights: Vec<f64> = h.spectrum.iter().map(|s| s.1).collect();
        let d = list(&beam, "incident_wavelength", &lambdas)?;
        string_attr(&d, "units", "angstrom")?;
        list(&beam, "incident_wavelength_weights", &weights)?;
    }

    let detector = group(&instrument, "detector", "NXdetector")?;
    string_dataset(&detector, "description", "nanobragg simulated pixel-array detector")?;
    string_dataset(&detector, "depends_on", DETECTOR_Z)?;
    string_dataset(&detector, "sensor_material", "Si")?;
    number(&detector, "sensor_thickness", h.sensor_thickness_m, Some("m"))?;
    number(&detector, "saturation_value", i32::MAX, None)?;
    number(&detector, "bit_depth_image", 32i32, None)?;
    number(&detector, "beam_center_x", h.beam_center_px.0, Some("pixel"))?;
    number(&detector, "beam_center_y", h.beam_center_px.1, Some("pixel"))?;
    number(&detector, "distance", h.distance_m, Some("m"))?;
    number(&detector, "x_pixel_size", h.pixel_size_m, Some("m"))?;
    number(&detector, "y_pixel_size", h.pixel_size_m, Some("m"))?;
    number(&detector, "count_time", h.exposure_s, Some("s"))?;

    // The detector plane sits at its perpendicular distance along its normal (det_z); the
    // module's offset moves from the plane's foot to the first pixel's outer corner.
    let perpendicular = dot(h.origin_m, h.normal);
    let in_plane = [0, 1, 2].map(|i| h.origin_m[i] - perpendicular * h.normal[i]);
    let transformations = group(&detector, "transformations", "NXtransformations")?;
    let det_z = Axis { name: "det_z", values: &[perpendicular], units: "m", kind: "translation", vector: h.normal, offset_m: [0.0; 3], depends_on: "." };
    axis(&transformations, &det_z)?;
    let module = group(&detector, "module", "NXdetector_module")?;
    list(&module, "data_origin", &[0i32, 0])?;
    list(&module, "data_size", &[h.spixels as i32, h.fpixels as i32])?;
    list(&module, "data_stride", &[1i32, 1])?;
    let offset = Axis { name: "module_offset", values: &[0.0], units: "m", kind: "translation", vector: h.fast, offset_m: in_plane, depends_on: DETECTOR_Z };
    axis(&module, &offset)?;
    let pixel = [h.pixel_size_m];
    axis(&module, &Axis { name: "fast_pixel_direction", values: &pixel, units: "m", kind: "translation", vector: h.fast, offset_m: [0.0; 3], depends_on: MODULE_OFFSET })?;
    axis(&module, &Axis { name: "slow_pixel_direction", values: &pixel, units: "m", kind: "translation", vector: h.slow, offset_m: [0.0; 3], depends_on: MODULE_OFFSET })?;

    let sample = group(&entry, "sample", "NXsample")?;
    string_dataset(&sample, "name", "simulated crystal")?;
    let omega = if h.is_still() {
        string_dataset(&sample, "depends_on", ".")?;
        None
    } else {
        string_dataset(&sample, "depends_on", OMEGA)?;
        let goniometer = group(&sample, "transformations", "NXtransformations")?;
        // the angles are filled frame by frame (`append`)
        let zeros = vec![0.0; h.frames];
        let start = axis(&goniometer, &Axis { name: "omega", values: &zeros, units: "deg", kind: "rotation", vector: h.spindle, offset_m: [0.0; 3], depends_on: "." })?;
        let end = list(&goniometer, "omega_end", &zeros)?;
        string_attr(&end, "units", "deg")?;
        number(&goniometer, "omega_increment_set", h.osc_deg, Some("deg"))?;
        Some((start, end))
    };

    let data = group(&entry, "data", "NXdata")?;
    string_attr(&data, "signal", "data")?;
    let shape = [h.frames, h.spixels, h.fpixels];
    let chunk = [1, h.spixels, h.fpixels];
    let frames = if h.float {
        data.new_dataset::<f32>().shape(shape).chunk(&chunk).shuffle_deflate(DEFLATE_LEVEL).create("data")?
    } else {
        data.new_dataset::<i32>().shape(shape).chunk(&chunk).shuffle_deflate(DEFLATE_LEVEL).create("data")?
    };
    string_attr(&frames, "units", if h.float { "photons" } else { "counts" })?;
    // NXmx has the frames in the detector group; NXdata names the same data set (a hard
    // link: one object with two names)
    detector.link("data", "/entry/data/data")?;
    Ok((frames, omega))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: V3, b: V3) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() < 1e-12)
    }

    #[test]
    fn mosflm_frame_maps_beam_to_z_and_spindle_to_minus_x() {
        // MOSFLM: beam +x, spindle +z, y vertical; McStas: beam +z, y up; the spindle then
        // runs along -x, as in beamline NXmx files whose omega axis is (-1, 0, 0)
        let f = McStasFrame::for_beam([1.0, 0.0, 0.0]);
        assert!(close(f.map([1.0, 0.0, 0.0]), [0.0, 0.0, 1.0]));
        assert!(close(f.map([0.0, 1.0, 0.0]), [0.0, 1.0, 0.0]));
        assert!(close(f.map([0.0, 0.0, 1.0]), [-1.0, 0.0, 0.0]));
    }

    #[test]
    fn frame_is_a_proper_rotation_for_any_beam() {
        for beam in [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.3, -0.2, 0.9], [-1.0, 0.0, 0.0]] {
            let f = McStasFrame::for_beam(beam);
            let [x, y, z] = f.rows;
            assert!(close(z, unitize(beam).0), "{beam:?}");
            for (a, b) in [(x, y), (y, z), (z, x)] {
                assert!(dot(a, b).abs() < 1e-12, "{beam:?}");
            }
            assert!(close(cross(x, y), z), "right-handed for {beam:?}");
            assert!(close(f.map(beam), [0.0, 0.0, unitize(beam).1]), "{beam:?}");
        }
        // the XDS/DIALS conventions' frame (beam +z, y vertical) is McStas already
        assert_eq!(McStasFrame::for_beam([0.0, 0.0, 1.0]).rows, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }

    #[test]
    fn spectrum_sums_weights_of_each_wavelength() {
        let s = spectrum([(1.1, 1.0), (1.0, 2.0), (1.1, 0.5), (1.0, 1.0)].into_iter(), 9.0);
        assert_eq!(s, vec![(1.0, 3.0), (1.1, 1.5)]);
        assert_eq!(spectrum(std::iter::empty(), 1.5), vec![(1.5, 1.0)]);
    }

    #[test]
    fn names_with_hash_or_devices_are_refused() {
        assert!(refuse_name(Path::new("run_###.h5")).unwrap().contains('#'));
        assert!(refuse_name(Path::new("/dev/null")).unwrap().contains("regular file"));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(refuse_name(&dir.path().join("run.h5")), None);
    }

    #[test]
    fn unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run.h5");
        let header = NexusHeader {
            frames: 2,
            fpixels: 3,
            spixels: 2,
            pixel_size_m: 1e-4,
            spectrum: vec![(1.0, 1.0)],
            origin_m: [0.0, 0.0, 0.1],
            fast: [1.0, 0.0, 0.0],
            slow: [0.0, 1.0, 0.0],
            normal: [0.0, 0.0, 1.0],
            distance_m: 0.1,
            beam_center_px: (1.5, 1.0),
            sensor_thickness_m: 0.0,
            exposure_s: 1.0,
            spindle: [-1.0, 0.0, 0.0],
            osc_deg: 1.0,
            float: false,
            start_time: "2026-01-01T00:00:00.000Z".into(),
        };
        let mut w = NexusWriter::create(&target, header.clone()).unwrap();
        w.append(0.0, FramePixels::Counts(&[1, 2, 3, 4, 5, 6])).unwrap();
        assert!(w.append(1.0, FramePixels::Counts(&[1, 2, 3])).is_err(), "a frame of the wrong size is refused");
        let err = w.finish().unwrap_err().to_string();
        assert!(err.contains("only 1 of 2 frames"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");

        let mut w = NexusWriter::create(&target, header).unwrap();
        w.append(0.0, FramePixels::Counts(&[1, 2, 3, 4, 5, 6])).unwrap();
        w.append(1.0, FramePixels::Counts(&[7, 8, 9, 10, 11, 12])).unwrap();
        w.finish().unwrap();
        assert!(target.is_file());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

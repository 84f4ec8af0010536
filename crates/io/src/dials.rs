//! DIALS experiment lists (`.expt`, JSON; dxtbx's `ExperimentList` serialisation) as a
//! detector of panels (`-detector FILE`, docs/detectors.md).
//!
//! dxtbx's lab frame: +z towards the source (the beam travels along −z), +y up, +x = y × z.
//! nanoBragg.c's (MOSFLM) frame, the core's: +x along the beam, +y up, +z = x × y. So a
//! dxtbx vector (x, y, z) is (−z, y, x) here, exactly (a permutation and a sign). A panel's
//! `origin` is the outer corner of its first pixel, in mm from the sample; `fast_axis` and
//! `slow_axis` are directions; `pixel_size` is mm (fast, slow); `image_size` is (fast, slow)
//! pixels; `thickness` mm; `mu` 1/mm. The beam's `direction` points from the sample towards
//! the source (dxtbx), so the beam travels along its negative; `wavelength` is Å.
//! A panel's `mask` is dxtbx's list of rectangles [f0, s0, f1, s1], the pixels
//! f0 ≤ fast < f1, s0 ≤ slow < s1 not rendered.
//!
//! Only the first detector of the list is read; keys the reader does not know inside a
//! panel, the detector or the beam are refused by name, so a misspelt key is never ignored.

use crate::error::{Error, Result};
use nanobragg_core::model::{PanelLayout, PanelSpec};
use nanobragg_core::physics::V3;
use serde_json::{Map, Value};
use std::path::Path;

/// What an experiment list says about the detector and the beam, in the core's frame and SI.
#[derive(Clone, Debug, PartialEq)]
pub struct DialsGeometry {
    pub layout: PanelLayout,
    /// the direction the X-rays travel (unit), when the list has a beam
    pub beam: Option<V3>,
    /// Å (as typed after `-lambda`), when the list has a beam with a wavelength
    pub wavelength: Option<f64>,
    /// the sensor of the first panel: thickness (m) and attenuation (1/m), when not 0
    pub thickness: Option<f64>,
    pub mu: Option<f64>,
}

const PANEL_KEYS: [&str; 20] = [
    "name",
    "type",
    "fast_axis",
    "slow_axis",
    "origin",
    "raw_image_offset",
    "image_size",
    "pixel_size",
    "trusted_range",
    "thickness",
    "material",
    "mu",
    "identifier",
    "mask",
    "gain",
    "pedestal",
    "px_mm_strategy",
    "projection_2d",
    "parallax_correction",
    "qe",
];
const DETECTOR_KEYS: [&str; 3] = ["panels", "hierarchy", "__id__"];
const BEAM_KEYS: [&str; 16] = [
    "__id__",
    "direction",
    "wavelength",
    "divergence",
    "sigma_divergence",
    "polarization_normal",
    "polarization_fraction",
    "flux",
    "transmission",
    "probe",
    "sample_to_source_distance",
    "wavelength_range",
    "spectrum",
    "spectrum_energies",
    "spectrum_weights",
    "spectrum_weighted_wavelength",
];

/// Reads the experiment list at `path`.
pub fn read_expt(path: &Path) -> Result<DialsGeometry> {
    let bytes = crate::read_limited(path, 256 << 20).map_err(|e| with_flag(e))?;
    parse_expt(&bytes, path)
}

fn with_flag(e: Error) -> Error {
    match e {
        Error::Io { path, source, .. } => Error::Io { flag: Some("-detector"), path, source },
        Error::Parse { path, location, message, .. } => Error::Parse { flag: Some("-detector"), path, location, message },
        other => other,
    }
}

fn bad(path: &Path, location: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Parse { flag: Some("-detector"), path: path.to_path_buf(), location: location.into(), message: message.into() }
}

/// dxtbx's frame to the core's: (x, y, z) → (−z, y, x).
pub fn from_dxtbx(v: V3) -> V3 {
    [-v[2], v[1], v[0]]
}

/// The core's frame to dxtbx's: (x, y, z) → (z, y, −x).
pub fn to_dxtbx(v: V3) -> V3 {
    [v[2], v[1], -v[0]]
}

/// Reads an experiment list from its bytes (`path` names it in messages).
pub fn parse_expt(bytes: &[u8], path: &Path) -> Result<DialsGeometry> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| bad(path, format!("line {}", e.line()), format!("not a DIALS experiment list (JSON): {e}")))?;
    let root = root.as_object().ok_or_else(|| bad(path, "top level", "not a DIALS experiment list: a JSON object with a \"detector\" list was expected"))?;
    let detector = root
        .get("detector")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(Value::as_object)
        .ok_or_else(|| bad(path, "top level", "missing field \"detector\" (a list of detectors)"))?;
    unknown_keys(path, "detector 0", detector, &DETECTOR_KEYS)?;
    let panels = detector.get("panels").and_then(Value::as_array).ok_or_else(|| bad(path, "detector 0", "missing field \"panels\""))?;
    let mut specs = Vec::with_capacity(panels.len());
    let (mut thickness, mut mu) = (None, None);
    for (i, panel) in panels.iter().enumerate() {
        let p = panel.as_object().ok_or_else(|| bad(path, format!("panel {i}"), "not a JSON object"))?;
        let name = match p.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => i.to_string(),
        };
        let at = format!("panel {}", name);
        unknown_keys(path, &at, p, &PANEL_KEYS)?;
        let fast = numbers::<3>(path, &at, p, "fast_axis")?;
        let slow = numbers::<3>(path, &at, p, "slow_axis")?;
        let origin = numbers::<3>(path, &at, p, "origin")?;
        let size = numbers::<2>(path, &at, p, "image_size")?;
        let pixel = numbers::<2>(path, &at, p, "pixel_size")?;
        if size.iter().any(|&n| !(n >= 1.0 && n.fract() == 0.0 && n <= 1e9)) {
            return Err(bad(path, &at, format!("\"image_size\" [{}, {}] is not two whole numbers of pixels", size[0], size[1])));
        }
        let (fpixels, spixels) = (size[0] as usize, size[1] as usize);
        let mask = match p.get("mask").and_then(Value::as_array) {
            Some(rects) if !rects.is_empty() => {
                let mut mask = vec![1u16; fpixels * spixels];
                for (k, r) in rects.iter().enumerate() {
                    let r: Vec<f64> = r.as_array().map(|r| r.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
                    if r.len() != 4 || r.iter().any(|v| v.fract() != 0.0 || *v < 0.0) {
                        return Err(bad(path, &at, format!("\"mask\" rectangle {k} is not four whole numbers [f0, s0, f1, s1]")));
                    }
                    let [f0, s0, f1, s1] = [r[0], r[1], r[2], r[3]].map(|v| v as usize);
                    for s in s0.min(spixels)..s1.min(spixels) {
                        for f in f0.min(fpixels)..f1.min(fpixels) {
                            mask[s * fpixels + f] = 0;
                        }
                    }
                }
                Some(mask)
            }
            _ => None,
        };
        if i == 0 {
            let t = p.get("thickness").and_then(Value::as_f64).unwrap_or(0.0);
            let m = p.get("mu").and_then(Value::as_f64).unwrap_or(0.0);
            (thickness, mu) = ((t > 0.0).then_some(t * 1e-3), (m > 0.0).then_some(m * 1e3));
        }
        specs.push(PanelSpec {
            name,
            fpixels,
            spixels,
            pixel_size: pixel.map(|v| v / 1000.0),
            origin: from_dxtbx(origin.map(|v| v / 1000.0)),
            fast: from_dxtbx(fast),
            slow: from_dxtbx(slow),
            mask,
        });
    }
    let (mut beam, mut wavelength) = (None, None);
    if let Some(b) = root.get("beam").and_then(Value::as_array).and_then(|b| b.first()) {
        let b = b.as_object().ok_or_else(|| bad(path, "beam 0", "not a JSON object"))?;
        unknown_keys(path, "beam 0", b, &BEAM_KEYS)?;
        if b.contains_key("direction") {
            let d = numbers::<3>(path, "beam 0", b, "direction")?;
            let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            if !(len > 0.0) {
                return Err(bad(path, "beam 0", "\"direction\" has no length"));
            }
            // towards the source in dxtbx: the X-rays travel the other way
            beam = Some(from_dxtbx(d.map(|v| -v / len)));
        }
        if let Some(w) = b.get("wavelength") {
            let w = w.as_f64().filter(|w| *w > 0.0 && w.is_finite()).ok_or_else(|| bad(path, "beam 0", "\"wavelength\" is not a positive number of Å"))?;
            wavelength = Some(w);
        }
    }
    Ok(DialsGeometry { layout: PanelLayout { source: path.display().to_string(), panels: specs }, beam, wavelength, thickness, mu })
}

fn unknown_keys(path: &Path, at: &str, object: &Map<String, Value>, known: &[&str]) -> Result<()> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(bad(path, at, format!("unknown key \"{k}\" (known: {})", known.join(", ")))),
        None => Ok(()),
    }
}

fn numbers<const N: usize>(path: &Path, at: &str, object: &Map<String, Value>, key: &str) -> Result<[f64; N]> {
    let v = object.get(key).ok_or_else(|| bad(path, at, format!("missing field \"{key}\"")))?;
    let list: Vec<f64> = v.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    if list.len() != N || v.as_array().map(Vec::len) != Some(N) || list.iter().any(|x| !x.is_finite()) {
        return Err(bad(path, at, format!("\"{key}\" is not a list of {N} numbers")));
    }
    Ok(std::array::from_fn(|i| list[i]))
}

/// An experiment list of one detector of `panels` (the core's frame, SI) and a beam along
/// `beam` (the direction the X-rays travel) of `wavelength` Å: what `parse_expt` reads back.
pub fn write_expt(panels: &[PanelSpec], beam: V3, wavelength: f64) -> String {
    let v = |x: V3| Value::from(x.to_vec());
    let panels: Vec<Value> = panels
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "type": "SENSOR_PAD",
                "fast_axis": v(to_dxtbx(p.fast)),
                "slow_axis": v(to_dxtbx(p.slow)),
                "origin": v(to_dxtbx(p.origin).map(|x| x * 1000.0)),
                "image_size": [p.fpixels, p.spixels],
                "pixel_size": [p.pixel_size[0] * 1000.0, p.pixel_size[1] * 1000.0],
                "trusted_range": [-1.0, 1.0e9],
                "thickness": 0.0,
                "material": "",
                "mu": 0.0,
                "mask": [],
            })
        })
        .collect();
    let towards_source = to_dxtbx(beam.map(|x| -x));
    let doc = serde_json::json!({
        "__id__": "ExperimentList",
        "experiment": [{"__id__": "Experiment", "beam": 0, "detector": 0}],
        "beam": [{"__id__": "monochromatic", "direction": v(towards_source), "wavelength": wavelength}],
        "detector": [{"panels": panels}],
    });
    serde_json::to_string_pretty(&doc).expect("JSON of numbers and strings")
}

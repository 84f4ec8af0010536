//! The library example (`examples/series.rs`) run as a test: its own code, included here,
//! writes the series into a temporary directory, and the files are read back with the io
//! crate's readers.

#[allow(dead_code)]
#[path = "../examples/series.rs"]
mod series;

use nanobragg_io::cbf::read_cbf;
use nanobragg_io::smv::{header_value, read_smv};

/// The ADC offset every noise pixel carries (nanoBragg.c's default `-adc 40`).
const ADC: u16 = 40;

#[test]
fn the_library_example_writes_a_noisy_rotation_series() {
    let dir = tempfile::tempdir().unwrap();
    let files = series::write_series(dir.path()).unwrap();
    let frames = series::FRAMES as usize;
    let names: Vec<String> = (1..=frames).flat_map(|k| [format!("frame_{k:05}.img"), format!("frame_{k:05}.cbf")]).collect();
    assert_eq!(files, names.iter().map(|n| dir.path().join(n)).collect::<Vec<_>>());
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    on_disk.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(on_disk, sorted, "the files it says, and no temporaries");
    let mut noise_images = Vec::new();
    for k in 1..=frames {
        let smv = read_smv(&dir.path().join(format!("frame_{k:05}.img"))).unwrap();
        assert_eq!((smv.width, smv.height), (256, 256));
        let start = (k - 1) as f64 * series::OSC_DEG;
        assert_eq!(header_value(&smv.header, "OSC_START"), Some(start), "frame {k}: {}", smv.header);
        assert_eq!(header_value(&smv.header, "OSC_RANGE"), Some(series::OSC_DEG));
        assert_eq!(header_value(&smv.header, "DISTANCE"), Some(100.0));
        assert_eq!(header_value(&smv.header, "PIXEL_SIZE"), Some(0.1));
        // water scatters into every pixel and the Bragg spots stand above it: counts above the
        // offset everywhere, far above it somewhere, never clipped
        assert!(smv.data.iter().all(|&v| v >= ADC), "frame {k}: a pixel below the ADC offset");
        let mean = smv.data.iter().map(|&v| f64::from(v - ADC)).sum::<f64>() / smv.data.len() as f64;
        let max = *smv.data.iter().max().unwrap();
        assert!(mean > 0.01 && mean < 1000.0, "frame {k}: mean {mean} photons per pixel");
        assert!(f64::from(max - ADC) > 10.0 * mean.max(1.0), "frame {k}: no spot (max {max}, mean {mean})");
        assert!(max < 65535, "frame {k}: overloaded");
        // the CBF holds the same counts, without the offset
        let cbf = read_cbf(&dir.path().join(format!("frame_{k:05}.cbf"))).unwrap();
        assert_eq!((cbf.fpixels, cbf.spixels), (256, 256));
        assert!(cbf.header_text.contains(&format!("# Start_angle {start} deg.")), "{}", cbf.header_text);
        assert!(cbf.pixels.iter().zip(&smv.data).all(|(&c, &s)| c == i32::from(s - ADC)), "frame {k}: CBF counts differ from the SMV noise image");
        noise_images.push(smv.data);
    }
    // each frame its own orientation and its own noise
    assert!(noise_images.windows(2).all(|w| w[0] != w[1]));
}

//! nanoBragg.c's rules for turning "range / step / number of steps" triples into a sampling
//! (φ, divergence, dispersion, sensor layers, mosaic domains), including its sanity resets.

use super::Warning;

/// Divergence and dispersion share one rule set: returns (range, step, steps).
pub fn range_steps(mut range: f64, mut step: f64, mut steps: i64) -> (f64, f64, i64) {
    if steps <= 0 {
        if range < 0.0 {
            if step <= 0.0 {
                (steps, range, step) = (1, 0.0, 0.0);
            } else {
                (range, steps) = (step, 2);
            }
        } else if step <= 0.0 {
            (step, steps) = (range, 2);
        } else {
            steps = (range / step).ceil() as i64;
        }
    } else if range < 0.0 {
        if step <= 0.0 {
            range = 1.0;
            step = range / steps as f64;
        } else {
            (range, steps) = (step, 2);
        }
    } else if step <= 0.0 {
        if steps <= 1 {
            steps = 2;
        }
        step = range / (steps - 1) as f64;
    }
    // sanity reset: anything degenerate becomes a single sample
    if range <= 0.0 || step <= 0.0 || steps <= 0 {
        return (0.0, 0.0, 1);
    }
    (range, step, steps)
}

/// φ sampling: returns (osc, phistep, phisteps).
pub fn phi_steps(mut osc: f64, mut phistep: f64, mut phisteps: i64) -> (f64, f64, i64) {
    let one_degree = 1.0 / crate::physics::constants::RTD;
    if phisteps < 0 {
        if osc < 0.0 {
            if phistep <= 0.0 {
                (phisteps, osc, phistep) = (1, 0.0, 0.0);
            } else {
                (osc, phisteps) = (phistep, 2);
            }
        } else if phistep <= 0.0 {
            phisteps = 2;
            phistep = osc / 2.0;
        } else {
            phisteps = (osc / phistep).ceil() as i64;
        }
    } else {
        if phisteps == 0 {
            phisteps = 1;
        }
        if osc < 0.0 {
            if phistep <= 0.0 {
                osc = one_degree;
                phistep = osc / phisteps as f64;
            } else {
                (osc, phisteps) = (phistep, 2);
            }
        } else if phistep < 0.0 {
            phistep = osc / phisteps as f64;
        }
    }
    (osc, phistep, phisteps.max(1))
}

/// Sensor layers: returns (thick, thickstep, thicksteps, mu). A thickness without an
/// attenuation length gets mu = 1/thickness (C prints it as a "depth").
pub fn thickness_steps(mut thick: f64, mut thicksteps: i64, mut mu: f64, warnings: &mut Vec<Warning>) -> (f64, f64, i64, f64) {
    let thickstep;
    if thicksteps <= 0 {
        if thick < 0.0 {
            (thicksteps, thick, thickstep) = (1, 0.0, 0.0);
        } else {
            thicksteps = 2;
            thickstep = thick / thicksteps as f64;
        }
    } else if thick < 0.0 {
        thick = 0.5e-6;
        thickstep = thick / thicksteps as f64;
    } else {
        if thicksteps <= 1 {
            thicksteps = 2;
        }
        thickstep = thick / (thicksteps - 1) as f64;
    }
    if thick > 0.0 && mu < 0.0 {
        mu = 1.0 / thick;
        warnings.push(Warning::warn(format!("setting detector attenuation depth to {mu} m")));
    }
    if thick <= 0.0 || thickstep <= 0.0 || thicksteps <= 0 {
        return (0.0, 0.0, 1, mu);
    }
    (thick, thickstep, thicksteps, mu)
}

/// Mosaic domains: returns (spread, domains).
pub fn mosaic_domains(spread: f64, domains: i64, warnings: &mut Vec<Warning>) -> (f64, i64) {
    if domains <= 0 {
        if spread < 0.0 {
            (0.0, 1)
        } else if spread == 0.0 {
            (spread, 1)
        } else {
            warnings.push(Warning::warn("finite mosaicity with only one domain! upping to 10 mosaic domains"));
            (spread, 10)
        }
    } else if spread < 0.0 {
        warnings.push(Warning::warn("no mosaic spread specified.  setting mosaic_domains = 1"));
        (0.0, 1)
    } else if spread == 0.0 {
        warnings.push(Warning::warn("zero mosaic spread specified.  setting mosaic_domains = 1"));
        (spread, 1)
    } else {
        (spread, domains)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_rules_from_reference() {
        // -osc 0 ⇒ 2 steps of 0
        assert_eq!(phi_steps(0.0, -1.0, -1), (0.0, 0.0, 2));
        // -phistep with -osc ⇒ ceil(osc/phistep)
        let (_, _, n) = phi_steps(30.0, 7.5, -1);
        assert_eq!(n, 4);
        // only -phisteps ⇒ osc = 1 degree
        let (osc, _, n) = phi_steps(-1.0, -1.0, 9);
        assert!((osc.to_degrees() - 1.0).abs() < 1e-12);
        assert_eq!(n, 9);
    }

    #[test]
    fn divergence_rules() {
        // range and steps ⇒ step = range/(steps-1)
        let (r, s, n) = range_steps(0.002, -1.0, 3);
        assert_eq!((r, n), (0.002, 3));
        assert!((s - 0.001).abs() < 1e-15);
        // nothing given ⇒ one sample
        assert_eq!(range_steps(-1.0, -1.0, -1), (0.0, 0.0, 1));
    }

    #[test]
    fn thicksteps_alone_does_nothing() {
        // REFERENCE §6: thickness default 0 makes the 0.5 µm branch unreachable (a68)
        let mut warnings = Vec::new();
        assert_eq!(thickness_steps(0.0, 4, -1.0, &mut warnings).2, 1);
        assert!(warnings.is_empty());
        let (t, step, n, mu) = thickness_steps(100e-6, -1, -1.0, &mut warnings);
        assert_eq!((t, n), (100e-6, 2));
        assert!((step - 50e-6).abs() < 1e-18);
        assert!((mu - 1e4).abs() < 1e-9);
        // C's words for the coefficient it chose (1/m, not a depth); here a value the caller reports
        assert_eq!(warnings, [Warning::warn("setting detector attenuation depth to 10000 m")]);
    }

    #[test]
    fn mosaic_rules() {
        let mut warnings = Vec::new();
        assert_eq!(mosaic_domains(-1.0, -1, &mut warnings), (0.0, 1));
        assert!(warnings.is_empty());
        assert_eq!(mosaic_domains(0.01, -1, &mut warnings), (0.01, 10));
        assert_eq!(mosaic_domains(0.0, 5, &mut warnings), (0.0, 1));
        let said: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(said, ["finite mosaicity with only one domain! upping to 10 mosaic domains", "zero mosaic spread specified.  setting mosaic_domains = 1"]);
    }
}

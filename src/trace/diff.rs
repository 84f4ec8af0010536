//! Reading pixel traces back and lining two of them up: `nanobragg trace-diff`.
//!
//! Any engine prefix is accepted (`TRACE_C:`, `TRACE_CPU:`, `TRACE_GPU:`). A line
//! `TRACE_<engine>: name v…` (or C's setup form `TRACE_<engine>:name=v…`) is one quantity;
//! `TRACE_<engine>_PHI key=v …` gives one scalar per key, named after its φ step; other
//! sub-streams such as C's `TRACE_C_SOURCE2:` keep their stream in the name. `TRACE_CONFIG`
//! lines, C's untagged `TRACE:` lines and lines with non-numeric values are skipped.

use crate::io::cfmt::fmt_g;
use std::collections::HashMap;

/// One numeric quantity of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    pub name: String,
    pub values: Vec<f64>,
    /// 1-based line number in the log
    pub line: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedTrace {
    /// engine tags seen, in order of first appearance (e.g. "C", "CPU")
    pub engines: Vec<String>,
    pub quantities: Vec<Quantity>,
}

pub fn parse_trace(text: &str) -> ParsedTrace {
    let mut parsed = ParsedTrace::default();
    for (n, line) in text.lines().enumerate() {
        let Some((engine, stream, body)) = split_tag(line.trim()) else { continue };
        let found = match stream {
            Some("PHI") => phi_quantities(body, n + 1),
            Some(s) => plain_quantity(body, n + 1).map(|mut q| {
                q.name = format!("{s}.{}", q.name);
                vec![q]
            }),
            None => plain_quantity(body, n + 1).map(|q| vec![q]),
        };
        let Some(found) = found else { continue };
        if !parsed.engines.iter().any(|e| e == engine) {
            parsed.engines.push(engine.to_string());
        }
        parsed.quantities.extend(found);
    }
    parsed
}

/// `TRACE_<engine>[_<stream>]` and the rest of the line; None for lines that are not traces.
fn split_tag(line: &str) -> Option<(&str, Option<&str>, &str)> {
    let rest = line.strip_prefix("TRACE_")?;
    let end = rest.find([':', ' ', '\t'])?;
    let (tag, body) = rest.split_at(end);
    let body = body.strip_prefix(':').unwrap_or(body).trim();
    let (engine, stream) = match tag.split_once('_') {
        Some((e, s)) => (e, Some(s)),
        None => (tag, None),
    };
    (engine != "CONFIG" && !engine.is_empty()).then_some((engine, stream, body))
}

/// `name v…` or `name=v…`.
fn plain_quantity(body: &str, line: usize) -> Option<Quantity> {
    let (name, values) = match body.split_once(char::is_whitespace) {
        Some((name, rest)) if !name.contains('=') => (name, rest),
        _ => body.split_once('=')?,
    };
    let values = numbers(values.split_whitespace())?;
    (!name.is_empty() && !values.is_empty()).then(|| Quantity { name: name.to_string(), values, line })
}

/// `phi_tic=3 phi_deg=… k_frac=…` → `phi_tic=3 phi_deg`, `phi_tic=3 k_frac`, … (one scalar each,
/// so that each is compared on its own scale).
fn phi_quantities(body: &str, line: usize) -> Option<Vec<Quantity>> {
    let pairs: Vec<(&str, &str)> = body.split_whitespace().map(|t| t.split_once('=')).collect::<Option<_>>()?;
    let tic = pairs.iter().find(|(k, _)| *k == "phi_tic").map_or("?", |(_, v)| *v);
    pairs
        .iter()
        .filter(|(k, _)| *k != "phi_tic")
        .map(|(k, v)| Some(Quantity { name: format!("phi_tic={tic} {k}"), values: numbers(std::iter::once(*v))?, line }))
        .collect()
}

fn numbers<'a>(tokens: impl Iterator<Item = &'a str>) -> Option<Vec<f64>> {
    tokens.map(|t| t.parse::<f64>().ok()).collect()
}

/// The first quantity that differs, as found by [`compare_traces`].
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub name: String,
    /// 1-based occurrence of the name
    pub occurrence: usize,
    pub line_a: usize,
    pub line_b: Option<usize>,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// relative difference (infinite when the shapes differ)
    pub relative: f64,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Agree {
        compared: usize,
        max_relative: f64,
        /// the quantity where the largest relative difference occurred
        worst: Option<String>,
        only_in_a: usize,
        only_in_b: usize,
    },
    Differ(Difference),
}

/// Relative difference of two values of one quantity, on the scale of its largest component
/// (a vector's tiny components are rounding noise of its big ones; a scalar is its own scale).
/// Both NaN counts as equal; one NaN as infinitely different.
pub fn relative_difference(a: &[f64], b: &[f64]) -> f64 {
    let scale = a.iter().chain(b).filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            if x == y || (x.is_nan() && y.is_nan()) {
                0.0
            } else if !x.is_finite() || !y.is_finite() {
                f64::INFINITY
            } else {
                (x - y).abs() / scale
            }
        })
        .fold(0.0, f64::max)
}

/// Line `a` up against `b` by name and occurrence (the n-th `F_latt` of A against the n-th of
/// B), in A's order; the first pair beyond `tolerance` (relative) is the verdict. A name that
/// occurs a different number of times is reported after all common pairs agreed.
pub fn compare_traces(a: &ParsedTrace, b: &ParsedTrace, tolerance: f64) -> Verdict {
    let mut in_b: HashMap<&str, Vec<&Quantity>> = HashMap::new();
    for q in &b.quantities {
        in_b.entry(q.name.as_str()).or_default().push(q);
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let (mut compared, mut only_in_a, mut max_relative, mut worst) = (0usize, 0usize, 0.0f64, None);
    let mut count_mismatch = None;
    for qa in &a.quantities {
        let k = seen.entry(qa.name.as_str()).or_default();
        *k += 1;
        let Some(list) = in_b.get(qa.name.as_str()) else {
            only_in_a += 1;
            continue;
        };
        let Some(qb) = list.get(*k - 1) else {
            count_mismatch.get_or_insert_with(|| mismatch(qa, *k, list.len()));
            continue;
        };
        compared += 1;
        let relative = if qa.values.len() == qb.values.len() { relative_difference(&qa.values, &qb.values) } else { f64::INFINITY };
        if relative > tolerance || relative.is_nan() {
            let reason = if relative.is_infinite() && qa.values.len() != qb.values.len() {
                format!("{} values against {}", qa.values.len(), qb.values.len())
            } else {
                format!("relative difference {} > tolerance {}", fmt_g(relative), fmt_g(tolerance))
            };
            return Verdict::Differ(Difference {
                name: qa.name.clone(),
                occurrence: *k,
                line_a: qa.line,
                line_b: Some(qb.line),
                a: qa.values.clone(),
                b: qb.values.clone(),
                relative,
                reason,
            });
        }
        if relative > max_relative {
            (max_relative, worst) = (relative, Some(qa.name.clone()));
        }
    }
    let count_mismatch = count_mismatch.or_else(|| extra_in_b(a, &seen, &in_b));
    if let Some(d) = count_mismatch {
        return Verdict::Differ(d);
    }
    let only_in_b = b.quantities.iter().filter(|q| !seen.contains_key(q.name.as_str())).count();
    Verdict::Agree { compared, max_relative, worst, only_in_a, only_in_b }
}

fn mismatch(qa: &Quantity, count_a_at_least: usize, count_b: usize) -> Difference {
    Difference {
        name: qa.name.clone(),
        occurrence: count_a_at_least,
        line_a: qa.line,
        line_b: None,
        a: qa.values.clone(),
        b: Vec::new(),
        relative: f64::INFINITY,
        reason: format!("occurs {count_b} time(s) in B but at least {count_a_at_least} in A"),
    }
}

/// A name common to both traces that B repeats more often than A.
fn extra_in_b(a: &ParsedTrace, seen: &HashMap<&str, usize>, in_b: &HashMap<&str, Vec<&Quantity>>) -> Option<Difference> {
    a.quantities.iter().find_map(|qa| {
        let count_a = seen[qa.name.as_str()];
        let list = in_b.get(qa.name.as_str())?;
        (list.len() > count_a).then(|| {
            let extra = list[count_a];
            Difference {
                name: qa.name.clone(),
                occurrence: count_a + 1,
                line_a: qa.line,
                line_b: Some(extra.line),
                a: Vec::new(),
                b: extra.values.clone(),
                relative: f64::INFINITY,
                reason: format!("occurs {} time(s) in B but only {count_a} in A", list.len()),
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C_LOG: &str = "TRACE_CONFIG: tracing pixel (spixel=1, fpixel=2)\n\
        TRACE_C: pixel_pos_meters 0.1 -0.011125 0.000524999999999998\n\
        TRACE_C: hkl_rounded 1 2 10\n\
        TRACE_C_PHI phi_tic=0 phi_deg=0 k_frac=2.01957023763588 F_latt_b=4.92472322210237 F_latt=117.2297\n\
        TRACE_C_SOURCE2: F_cell 100\n\
        TRACE_C:Fclose_m=0.05\n\
        TRACE_C:angles_rad=rotx:0 roty:0\n\
        TRACE: Raw matrix values from file:\n\
        TRACE_C: F_cell 100\n";

    #[test]
    fn parses_every_form() {
        let t = parse_trace(C_LOG);
        assert_eq!(t.engines, ["C"]);
        let names: Vec<&str> = t.quantities.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pixel_pos_meters",
                "hkl_rounded",
                "phi_tic=0 phi_deg",
                "phi_tic=0 k_frac",
                "phi_tic=0 F_latt_b",
                "phi_tic=0 F_latt",
                "SOURCE2.F_cell",
                "Fclose_m",
                "F_cell"
            ]
        );
        assert_eq!(t.quantities[0].values, [0.1, -0.011125, 0.000524999999999998]);
        assert_eq!(t.quantities[0].line, 2);
        assert_eq!(t.quantities[7].values, [0.05]);
    }

    #[test]
    fn identical_traces_agree_across_prefixes() {
        let a = parse_trace(C_LOG);
        let b = parse_trace(&C_LOG.replace("TRACE_C", "TRACE_CPU"));
        assert_eq!(b.engines, ["CPU"]);
        match compare_traces(&a, &b, 1e-12) {
            Verdict::Agree { compared, max_relative, only_in_a, only_in_b, .. } => {
                assert_eq!(compared, a.quantities.len());
                assert_eq!(max_relative, 0.0);
                assert_eq!((only_in_a, only_in_b), (0, 0));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_difference_is_named() {
        let a = parse_trace(C_LOG);
        let b = parse_trace(&C_LOG.replace("F_latt_b=4.92472322210237", "F_latt_b=4.92472422210237"));
        match compare_traces(&a, &b, 1e-9) {
            Verdict::Differ(d) => {
                assert_eq!(d.name, "phi_tic=0 F_latt_b");
                assert_eq!((d.line_a, d.line_b), (4, Some(4)));
                assert!(d.relative > 1e-7 && d.relative < 1e-6);
            }
            other => panic!("{other:?}"),
        }
        // within a looser tolerance the same pair agrees
        assert!(matches!(compare_traces(&a, &b, 1e-6), Verdict::Agree { .. }));
    }

    #[test]
    fn vectors_use_their_largest_component_as_scale() {
        // rounding noise in a component that is ~0 next to 100 Å is not a difference
        assert!(relative_difference(&[100.0, 6.12e-15, 0.0], &[100.0, 0.0, 0.0]) < 1e-16);
        assert!((relative_difference(&[2.0], &[1.0]) - 0.5).abs() < 1e-15);
        assert_eq!(relative_difference(&[f64::NAN], &[f64::NAN]), 0.0);
        assert_eq!(relative_difference(&[f64::NAN], &[1.0]), f64::INFINITY);
        assert_eq!(relative_difference(&[0.0], &[0.0]), 0.0);
    }

    #[test]
    fn repeated_names_align_by_occurrence_and_counts_must_match() {
        let a = parse_trace("TRACE_C: F_cell 1\nTRACE_C: F_cell 2\n");
        let b = parse_trace("TRACE_GPU: F_cell 1\n");
        match compare_traces(&a, &b, 1e-9) {
            Verdict::Differ(d) => assert!(d.name == "F_cell" && d.occurrence == 2 && d.reason.contains("1 time"), "{d:?}"),
            other => panic!("{other:?}"),
        }
        match compare_traces(&b, &a, 1e-9) {
            Verdict::Differ(d) => assert!(d.name == "F_cell" && d.line_b == Some(2), "{d:?}"),
            other => panic!("{other:?}"),
        }
        let c = parse_trace("TRACE_C: F_cell 1 2\n");
        assert!(matches!(compare_traces(&b, &c, 1e-9), Verdict::Differ(d) if d.reason.contains("values against")));
    }
}

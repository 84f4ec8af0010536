//! C `printf("%g")` formatting. The SMV and PGM headers of nanoBragg.c print their numbers with
//! `%g` (REFERENCE.md §7), and downstream tools compare header text, so it must match glibc.

/// `x` rounded to 15 significant digits (C's `DBL_DIG`, the decimal digits every double
/// holds): a value the user typed in other units (mm, degrees) and converted, or a frame's
/// start worked out from it, comes back without its binary round-off (7.499999999999999 → 7.5,
/// 0.00017199999999999998 → 0.000172), so that `{}` (the shortest form that reads back)
/// prints it as typed. The round-off of a few conversions sits in the 16th and 17th digits;
/// a derived value (a beam centre in pixels) keeps its first 15.
pub fn tidy(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.14e}").parse().unwrap_or(x)
}

/// `%g` with the default precision of 6 significant digits.
pub fn fmt_g(x: f64) -> String {
    fmt_g_precision(x, 6)
}

/// `%.<precision>g` as glibc prints it: fixed notation when the decimal exponent X satisfies
/// -4 <= X < precision, otherwise `d.ddddde±XX`; trailing zeros and a trailing point are
/// removed; non-finite values print as `inf`/`-inf`/`nan` (`-nan` when the sign bit is set, as
/// glibc does for the default NaN that x86 arithmetic produces). The pixel traces use 15.
pub fn fmt_g_precision(x: f64, precision: usize) -> String {
    let precision = precision.max(1) as i32;
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x.is_nan() {
        return format!("{sign}nan");
    }
    if x.is_infinite() {
        return format!("{sign}inf");
    }
    if x == 0.0 {
        return format!("{sign}0");
    }
    // Rounding to `precision` significant digits decides the exponent (9.999995 becomes 1e+01
    // at 6), so take it from the correctly rounded scientific form; Rust and glibc both round
    // the exact binary value, ties to even.
    let sci = format!("{:.*e}", (precision - 1) as usize, x);
    let (mantissa, exp_text) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exp_text.parse().unwrap_or(0);
    if (-4..precision).contains(&exponent) {
        let decimals = (precision - 1 - exponent) as usize;
        strip_fraction_zeros(&format!("{x:.decimals$}")).to_string()
    } else {
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{}{:02}",
            strip_fraction_zeros(mantissa),
            exp_sign,
            exponent.unsigned_abs()
        )
    }
}

/// Drops trailing zeros after a decimal point, then the point itself if nothing follows it.
fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_drops_binary_round_off_only() {
        let rtd = 180.0 * std::f64::consts::FRAC_1_PI;
        let start = (7.5 / rtd) * rtd;
        assert_eq!(format!("{}", tidy(0.172 / 1000.0)), "0.000172");
        assert_eq!(format!("{}", tidy(7.499999999999999)), "7.5");
        assert_eq!(format!("{}", tidy(start)), "7.5");
        assert_eq!(format!("{}", tidy(0.1 + 0.2)), "0.3");
        // typed digits stay, up to 15 of them
        for x in [231.27466, 0.976800, -216.336293, 1e-20, 123456789012345.0, 0.0, -0.5] {
            assert_eq!(tidy(x), x, "{x}");
        }
        // a derived value keeps 15 digits
        let beam = 3.1 / 0.172 + 0.5;
        assert!(((tidy(beam) - beam) / beam).abs() < 1e-14, "{}", tidy(beam));
        assert!(tidy(f64::NAN).is_nan());
        assert_eq!(tidy(f64::INFINITY), f64::INFINITY);
    }

    /// Expected strings were produced with python3 `'%g' % x`, which uses C's formatting rules.
    const CASES: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (0.1, "0.1"),
        (100.0, "100"),
        (51.25, "51.25"),
        (-51.3, "-51.3"),
        (513.5, "513.5"),
        (6.2, "6.2"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.000123456789, "0.000123457"),
        (0.0000123456789, "1.23457e-05"),
        (123456.0, "123456"),
        (1234567.0, "1.23457e+06"),
        (999999.0, "999999"),
        (999999.5, "1e+06"),
        (9.999995, "10"),
        (9.9999949, "9.99999"),
        (1e6, "1e+06"),
        (1.5e-7, "1.5e-07"),
        (1e100, "1e+100"),
        (1.7976931348623157e308, "1.79769e+308"),
        (5e-324, "4.94066e-324"),
        (2.2250738585072014e-308, "2.22507e-308"),
        (0.5, "0.5"),
        (2.5, "2.5"),
        (1234565.0, "1.23456e+06"),
        (1234575.0, "1.23458e+06"),
        (0.1 + 0.2, "0.3"),
        (1.0 / 3.0, "0.333333"),
        (2.0 / 3.0, "0.666667"),
        (-2.0 / 3.0 * 1e-10, "-6.66667e-11"),
        (5.023, "5.023"),
        (55000.0 / 122806.0, "0.447861"),
        (57.2957795130823, "57.2958"),
        (12345.65, "12345.6"),
        (0.00012345, "0.00012345"),
        (100000.0, "100000"),
        (1e5 + 0.5, "100000"),
        (1e15, "1e+15"),
        (-1e-300, "-1e-300"),
        (6.02214076e23, "6.02214e+23"),
        (1.25932015286227e29, "1.25932e+29"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
    ];

    #[test]
    fn matches_printf_g() {
        for &(x, want) in CASES {
            assert_eq!(fmt_g(x), want, "%g of {x:e}");
        }
    }

    #[test]
    fn negative_nan_prints_like_glibc() {
        assert_eq!(fmt_g(-f64::NAN), "-nan");
    }

    #[test]
    fn fifteen_digits_match_the_c_trace_logs() {
        // values as nanoBragg.c printed them with %.15g in ../shared/traces
        for (x, want) in [
            (0.000524999999999998, "0.000524999999999998"),
            (9.8167818691559e-07, "9.8167818691559e-07"),
            (-61449541.4413552, "-61449541.4413552"),
            (1.25932015286227e29, "1.25932015286227e+29"),
            (6.12323399573677e-15, "6.12323399573677e-15"),
            (100.0, "100"),
            (-0.0, "-0"),
            (138.216438743572, "138.216438743572"),
        ] {
            assert_eq!(fmt_g_precision(x, 15), want);
        }
    }

    /// Sweep many magnitudes against python3, when it is available, for broader coverage.
    #[test]
    fn matches_python_percent_g_sweep() {
        sweep_against_python(6);
        sweep_against_python(15);
    }

    fn sweep_against_python(precision: usize) {
        let mut values = Vec::new();
        let mut v = 1.234_567_891_234e-12_f64;
        while v < 1e14 {
            values.extend([v, -v * 0.7, v * 0.999_999_5, v * std::f64::consts::PI]);
            v *= 7.3;
        }
        for k in 0..200 {
            values.push(f64::from(k) * 0.125 + 0.0625);
            values.push(1e5 * (1.0 + f64::from(k) * 1e-6));
        }
        let script = format!("import sys\nfor line in sys.stdin: print('%.{precision}g' % float.fromhex(line.strip()))");
        let input: String = values
            .iter()
            .map(|x| format!("{}\n", hex_float(*x)))
            .collect();
        let Some(output) = run_python(&script, &input) else {
            eprintln!("!!!!! python3 not available — SKIPPING the %g sweep !!!!!");
            return;
        };
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), values.len());
        for (x, want) in values.iter().zip(lines) {
            assert_eq!(fmt_g_precision(*x, precision), want, "%.{precision}g of {x:e}");
        }
    }

    fn hex_float(x: f64) -> String {
        let bits = x.to_bits();
        let sign = if bits >> 63 == 1 { "-" } else { "" };
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        if exp == 0 {
            format!("{sign}0x0.{frac:013x}p-1022")
        } else {
            format!("{sign}0x1.{frac:013x}p{}", exp - 1023)
        }
    }

    fn run_python(script: &str, input: &str) -> Option<String> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(input.as_bytes()).ok()?;
        let out = child.wait_with_output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

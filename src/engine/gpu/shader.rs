//! Assembly of the WGSL kernel: one wide-arithmetic file (native f64 or double-float) in front
//! of the shared physics and the render kernel, so both variants run the very same code.

const WIDE_F64: &str = include_str!("../../../shaders/wide_f64.wgsl");
const WIDE_DF: &str = include_str!("../../../shaders/wide_df.wgsl");
const PHYSICS: &str = include_str!("../../../shaders/physics.wgsl");
const RENDER: &str = include_str!("../../../shaders/render.wgsl");

/// How the kernel carries the precision-critical geometry → h, k, l chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// native f64 arithmetic (needs `SHADER_F64`)
    F64,
    /// pairs of f32 (works on every adapter)
    DoubleFloat,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::DoubleFloat => "double-float",
        }
    }
}

/// Wide arithmetic followed by the physics helpers, without any bindings (the self-tests put
/// their own entry points behind it).
pub fn library_source(precision: Precision) -> String {
    let wide = match precision {
        Precision::F64 => WIDE_F64,
        Precision::DoubleFloat => WIDE_DF,
    };
    format!("{wide}\n{PHYSICS}")
}

pub fn kernel_source(precision: Precision) -> String {
    format!("{}\n{RENDER}", library_source(precision))
}

/// naga's validation with the capabilities the device will have (the same check wgpu runs in
/// `create_shader_module`), as one readable message.
#[cfg(test)]
pub fn validate(source: &str, precision: Precision) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, "kernel.wgsl"))?;
    let caps = match precision {
        Precision::F64 => naga::valid::Capabilities::FLOAT64,
        Precision::DoubleFloat => naga::valid::Capabilities::empty(),
    };
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string_with_path(source, "kernel.wgsl"))?;
    Ok((module, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kernel_variants_validate() {
        for p in [Precision::F64, Precision::DoubleFloat] {
            let (module, _) = validate(&kernel_source(p), p).unwrap_or_else(|e| panic!("{}:\n{e}", p.name()));
            assert!(module.entry_points.iter().any(|e| e.name == "render"));
        }
    }

    #[test]
    fn double_float_kernel_needs_no_f64() {
        // the portable variant must validate without FLOAT64; the f64 one must not
        assert!(validate(&kernel_source(Precision::DoubleFloat), Precision::DoubleFloat).is_ok());
        assert!(validate(&kernel_source(Precision::F64), Precision::DoubleFloat).is_err());
    }

    /// f64 transcendentals pass validation but are silently wrong on lavapipe (WGPU.md §4):
    /// every one in the f64 variant must take an f32 argument.
    #[test]
    fn no_f64_transcendentals() {
        use naga::MathFunction as M;
        let (module, info) = validate(&kernel_source(Precision::F64), Precision::F64).unwrap();
        let banned = [M::Sin, M::Cos, M::Tan, M::Exp, M::Exp2, M::Log, M::Log2, M::Pow, M::Atan2, M::Sinh, M::Cosh, M::Tanh];
        let mut checked = 0;
        for (handle, func) in module.functions.iter() {
            for (_, expr) in func.expressions.iter() {
                if let naga::Expression::Math { fun, arg, .. } = expr
                    && banned.contains(fun)
                {
                    checked += 1;
                    let width = info[handle][*arg].ty.inner_with(&module.types).scalar_width();
                    assert_eq!(width, Some(4), "{fun:?} on a {width:?}-byte float in {:?}", func.name);
                }
            }
        }
        assert!(checked >= 4, "expected the f32 sines and exponentials to be found, saw {checked}");
    }
}

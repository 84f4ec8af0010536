//! Assembly of the WGSL kernel: one wide-arithmetic file (native f64 or double-float) in front
//! of the shared physics and the render kernel, so both variants run the very same code.

const WIDE_F64: &str = include_str!("../shaders/wide_f64.wgsl");
const WIDE_DF: &str = include_str!("../shaders/wide_df.wgsl");
const PHYSICS: &str = include_str!("../shaders/physics.wgsl");
const RENDER: &str = include_str!("../shaders/render.wgsl");
const FETCH_SUBGROUP: &str = include_str!("../shaders/fetch_subgroup.wgsl");
const FETCH_PLAIN: &str = include_str!("../shaders/fetch_plain.wgsl");

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

/// How the kernel's invocations get each term's lattice vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fetch {
    /// one load per subgroup lane, shared by broadcast (needs `SUBGROUP` and subgroups of at
    /// least `SUBGROUP_CHUNK` invocations)
    Subgroup,
    /// every invocation loads every lattice
    Plain,
}

/// Terms per subgroup fetch (`TERM_CHUNK` in fetch_subgroup.wgsl).
pub const SUBGROUP_CHUNK: u32 = 4;

impl Fetch {
    pub fn name(self) -> &'static str {
        match self {
            Fetch::Subgroup => "subgroup fetch",
            Fetch::Plain => "plain fetch",
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

pub fn kernel_source(precision: Precision, fetch: Fetch) -> String {
    match fetch {
        Fetch::Plain => format!("{}\n{RENDER}\n{FETCH_PLAIN}", library_source(precision)),
        Fetch::Subgroup => format!("{}\n{RENDER}\n{}", library_source(precision), per_lane(FETCH_SUBGROUP)),
    }
}

/// fetch_subgroup.wgsl with its `// per lane {` … `// }` block written out once per lane, the
/// placeholder `LANE` replaced by the lane's number.
fn per_lane(template: &str) -> String {
    let (head, rest) = template.split_once("    // per lane {\n").expect("fetch_subgroup.wgsl has a per-lane block");
    let (block, tail) = rest.split_once("    // }\n").expect("the per-lane block is closed");
    let lanes: String = (0..SUBGROUP_CHUNK).map(|lane| block.replace("LANE", &lane.to_string())).collect();
    format!("{head}{lanes}{tail}")
}

/// naga's validation with the capabilities the device will have (the same check wgpu runs in
/// `create_shader_module`), as one readable message.
#[cfg(test)]
pub fn validate(source: &str, precision: Precision, fetch: Fetch) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet};
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, "kernel.wgsl"))?;
    let caps = match precision {
        Precision::F64 => Capabilities::FLOAT64,
        Precision::DoubleFloat => Capabilities::empty(),
    } | if fetch == Fetch::Subgroup { Capabilities::SUBGROUP } else { Capabilities::empty() };
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .subgroup_stages(ShaderStages::COMPUTE)
        .subgroup_operations(SubgroupOperationSet::BASIC | SubgroupOperationSet::BALLOT)
        .validate(&module)
        .map_err(|e| e.emit_to_string_with_path(source, "kernel.wgsl"))?;
    Ok((module, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FETCHES: [Fetch; 2] = [Fetch::Subgroup, Fetch::Plain];

    #[test]
    fn every_kernel_variant_validates() {
        for p in [Precision::F64, Precision::DoubleFloat] {
            for f in FETCHES {
                let (module, _) = validate(&kernel_source(p, f), p, f).unwrap_or_else(|e| panic!("{}, {}:\n{e}", p.name(), f.name()));
                assert!(module.entry_points.iter().any(|e| e.name == "render"));
            }
        }
    }

    #[test]
    fn subgroup_fetch_broadcasts_every_lane() {
        let source = kernel_source(Precision::F64, Fetch::Subgroup);
        for lane in 0..SUBGROUP_CHUNK {
            assert!(source.contains(&format!("subgroupBroadcast(mine.c.z, {lane}u)")), "lane {lane} missing");
        }
        assert!(!source.contains("LANEu"), "a lane placeholder was left");
        // the plain variant must not need subgroups
        let plain = kernel_source(Precision::F64, Fetch::Plain);
        assert!(validate(&plain, Precision::F64, Fetch::Plain).is_ok());
        assert!(validate(&source, Precision::F64, Fetch::Plain).is_err());
    }

    #[test]
    fn double_float_kernel_needs_no_f64() {
        // the portable variant must validate without FLOAT64; the f64 one must not
        for f in FETCHES {
            assert!(validate(&kernel_source(Precision::DoubleFloat, f), Precision::DoubleFloat, f).is_ok());
            assert!(validate(&kernel_source(Precision::F64, f), Precision::DoubleFloat, f).is_err());
        }
    }

    /// f64 transcendentals pass validation but are silently wrong on lavapipe (WGPU.md §4):
    /// every one in the f64 variant must take an f32 argument.
    #[test]
    fn no_f64_transcendentals() {
        use naga::MathFunction as M;
        let (module, info) = validate(&kernel_source(Precision::F64, Fetch::Subgroup), Precision::F64, Fetch::Subgroup).unwrap();
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

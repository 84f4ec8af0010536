//! Offline checks of the kernel as every backend will see it, without an adapter: naga
//! translates each kernel variant (precision × lattice fetch, specialised for the sets of
//! overridable constants the host uses, trace pipeline included) into SPIR-V (Vulkan), MSL
//! (Metal), HLSL (DX12) and GLSL (GL), exactly the translation wgpu performs at
//! `create_compute_pipeline`. The SPIR-V is then checked by `spirv-val` and the GLSL by
//! `glslangValidator` (Debian's `spirv-tools` and `glslang-tools`, installed by `.ci/run`);
//! MSL and HLSL have no validator on Linux, so they must translate, and the translated text is
//! searched for constructs that would break the double-float arithmetic (wide_df.wgsl).
//!
//! Which variants reach which backend follows wgpu 30's adapters: only Vulkan offers
//! `SHADER_F64`; Vulkan, Metal and DX12 offer subgroups; GL offers neither, so GL only ever
//! runs the double-float kernel with the plain fetch.
//!
//! The validators are optional on a developer's machine (the test says loudly that it skipped
//! them); with `CI` or `NANOBRAGG_REQUIRE_SHADER_TOOLS` set a missing validator fails.

use super::layout::overrides;
use super::shader::{Fetch, Precision, kernel_source, validate};
use naga::back::PipelineConstants;
use naga::back::pipeline_constants::process_overrides;
use naga::valid::ModuleInfo;
use naga::{Module, ShaderStage};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Language {
    SpirV,
    Msl,
    Hlsl,
    Glsl,
}

/// The (precision, fetch) variants an adapter of each language's backend can be given.
fn variants_for(language: Language) -> Vec<(Precision, Fetch)> {
    let all = [Precision::F64, Precision::DoubleFloat];
    let precisions: &[Precision] = match language {
        Language::SpirV => &all,
        _ => &all[1..],
    };
    let fetches: &[Fetch] = match language {
        Language::Glsl => &[Fetch::Plain],
        _ => &[Fetch::Plain, Fetch::Subgroup],
    };
    precisions.iter().flat_map(|&p| fetches.iter().map(move |&f| (p, f))).collect()
}

/// The sets of overridable constants to specialise for: the host's set for a small plain
/// plan, then each constant changed on its own (every boolean switched, every crystal shape,
/// larger N), all switches at once, and the trace pipeline. The names come from the host's
/// own `overrides`, so a new constant is covered as soon as it exists.
fn constant_sets() -> Vec<(String, PipelineConstants)> {
    let base = overrides(&super::tests::tiny_plan(), false);
    let to_map = |set: &[(&str, f64)]| set.iter().map(|(k, v)| (k.to_string(), *v)).collect::<PipelineConstants>();
    let mut sets = vec![("host defaults".to_string(), to_map(&base))];
    for (i, (name, value)) in base.iter().enumerate() {
        let alternatives: Vec<f64> = match *name {
            // every crystal shape the host can ask for
            "SHAPE" => nanobragg_core::params::XtalShape::ALL.iter().map(|s| s.code() as f64).filter(|c| c != value).collect(),
            n if n.starts_with("N_") => vec![5.0, 47.0],
            _ => vec![if *value == 0.0 { 1.0 } else { 0.0 }],
        };
        for alt in alternatives {
            let mut set = base.clone();
            set[i].1 = alt;
            sets.push((format!("{name} = {alt}"), to_map(&set)));
        }
    }
    let all_on: Vec<(&str, f64)> =
        base.iter().map(|&(n, v)| (n, if n.starts_with("N_") || n == "SHAPE" || n == "TRACE" { v } else { 1.0 })).collect();
    sets.push(("every switch on".into(), to_map(&all_on)));
    let mut traced = base.clone();
    traced.iter_mut().filter(|(n, _)| *n == "TRACE").for_each(|(_, v)| *v = 1.0);
    sets.push(("trace pipeline".into(), to_map(&traced)));
    sets
}

/// The kernel in one variant, specialised for `constants` as wgpu does before translating.
fn specialised(precision: Precision, fetch: Fetch, constants: &PipelineConstants) -> (Module, ModuleInfo) {
    let (module, info) = validate(&kernel_source(precision, fetch), precision, fetch).unwrap_or_else(|e| panic!("{e}"));
    let (module, info) = process_overrides(&module, &info, Some((ShaderStage::Compute, "render")), constants)
        .unwrap_or_else(|e| panic!("{}, {}: overrides: {e:?}", precision.name(), fetch.name()));
    (module.into_owned(), info.into_owned())
}

fn translate(language: Language, module: &Module, info: &ModuleInfo, fetch: Fetch) -> Result<Translation, String> {
    translate_entry(language, module, info, fetch, "render")
}

/// `translate` for the entry point `entry`.
fn translate_entry(language: Language, module: &Module, info: &ModuleInfo, fetch: Fetch, entry: &str) -> Result<Translation, String> {
    match language {
        Language::SpirV => {
            let options = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
            let pipeline = naga::back::spv::PipelineOptions { shader_stage: ShaderStage::Compute, entry_point: entry.into() };
            naga::back::spv::write_vec(module, info, &options, Some(&pipeline))
                .map(Translation::Binary)
                .map_err(|e| format!("{e:?}"))
        }
        Language::Msl => {
            let options = naga::back::msl::Options { lang_version: (2, 4), fake_missing_bindings: true, ..Default::default() };
            let pipeline = naga::back::msl::PipelineOptions {
                entry_point: Some((ShaderStage::Compute, entry.into())),
                ..Default::default()
            };
            naga::back::msl::write_string(module, info, &options, &pipeline).map(|(s, _)| Translation::Text(s)).map_err(|e| format!("{e:?}"))
        }
        Language::Hlsl => {
            // wave intrinsics (subgroups) need shader model 6.0, which wgpu's DX12 uses
            let model = if fetch == Fetch::Subgroup { naga::back::hlsl::ShaderModel::V6_0 } else { naga::back::hlsl::ShaderModel::V5_1 };
            let options = naga::back::hlsl::Options { shader_model: model, ..Default::default() };
            let pipeline = naga::back::hlsl::PipelineOptions { entry_point: Some((ShaderStage::Compute, entry.into())) };
            let mut out = String::new();
            naga::back::hlsl::Writer::new(&mut out, &options, &pipeline).write(module, info, None).map_err(|e| format!("{e:?}"))?;
            Ok(Translation::Text(out))
        }
        Language::Glsl => {
            let options = naga::back::glsl::Options { version: naga::back::glsl::Version::new_gles(310), ..Default::default() };
            let pipeline = naga::back::glsl::PipelineOptions { shader_stage: ShaderStage::Compute, entry_point: entry.into(), multiview: None };
            let mut out = String::new();
            naga::back::glsl::Writer::new(&mut out, module, info, &options, &pipeline, naga::proc::BoundsCheckPolicies::default())
                .and_then(|mut w| w.write())
                .map_err(|e| format!("{e:?}"))?;
            Ok(Translation::Text(out))
        }
    }
}

enum Translation {
    Binary(Vec<u32>),
    Text(String),
}

/// A validator binary on PATH, or `None` when it is missing and allowed to be.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()));
    let required = std::env::var_os("CI").is_some() || std::env::var_os("NANOBRAGG_REQUIRE_SHADER_TOOLS").is_some();
    match found {
        Some(p) => Some(p),
        None if required => panic!("{name} not found on PATH (CI/NANOBRAGG_REQUIRE_SHADER_TOOLS set): install spirv-tools and glslang-tools"),
        None => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "\n!!!!! SKIPPED {name} checks: not on PATH (apt-get install spirv-tools glslang-tools)\n");
            None
        }
    }
}

/// The offline validator's verdict on a translation: SPIR-V through `spirv-val`, GLSL through
/// `glslangValidator` (files `<stem>.spv`/`<stem>.comp` in `dir`); None where no validator
/// applies or it is not installed.
fn offline_verdict(translation: &Translation, language: Language, spirv_val: Option<&Path>, glslang: Option<&Path>, dir: &Path, stem: &str) -> Option<Result<(), String>> {
    match (translation, language) {
        (Translation::Binary(words), Language::SpirV) => spirv_val.map(|val| {
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            run_validator(val, &["--target-env", "vulkan1.1"], dir, &format!("{stem}.spv"), &bytes)
        }),
        (Translation::Text(text), Language::Glsl) => glslang.map(|val| run_validator(val, &["-S", "comp"], dir, &format!("{stem}.comp"), text.as_bytes())),
        _ => None,
    }
}

/// Runs `validator` on `bytes` written to a file named `name` in `dir`; the error is the
/// validator's own output.
fn run_validator(validator: &Path, args: &[&str], dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let file = dir.join(name);
    std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
    let out = Command::new(validator).args(args).arg(&file).output().map_err(|e| format!("{}: {e}", validator.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// What a translation must not contain for the double-float arithmetic to survive, and what
/// it must contain: the opaque bit-XOR that hides TwoSum's error term from algebraic
/// simplification (wide_df.wgsl) has to reach every language as a bit cast.
fn double_float_hazards(language: Language, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let forbidden: &[&str] = match language {
        // `fast::` math, or a pragma that relaxes floating-point semantics for the file
        Language::Msl => &["fast::", "fp contract(fast)", "fp reassociate(on)", "fast-math", "fast_math"],
        Language::Hlsl => &["#pragma", "fastopt"],
        Language::Glsl => &["#pragma optimize", "GL_EXT_shader_fast_math"],
        Language::SpirV => &[],
    };
    for f in forbidden {
        if text.contains(f) {
            found.push(format!("contains `{f}`"));
        }
    }
    let bitcast = match language {
        Language::Msl => "as_type<uint>",
        Language::Hlsl => "asuint(",
        Language::Glsl => "floatBitsToUint(",
        Language::SpirV => return found,
    };
    if !text.contains(bitcast) {
        found.push(format!("lost the opaque bit cast (`{bitcast}`)"));
    }
    // TwoSum, FastTwoSum and the Veltkamp split rely on separately rounded additions and
    // products: the translation of these functions must not fuse them into fma
    // (fma in MSL and GLSL, mad in HLSL); a function the search cannot find is reported too,
    // so the check cannot pass by looking at nothing
    for function in ["two_sum", "fast_two_sum", "split"] {
        match function_body(text, function) {
            Some(body) if body.contains("fma(") || body.contains("mad(") => found.push(format!("`{function}` uses fma")),
            Some(_) => {}
            None => found.push(format!("`{function}` not found in the translation")),
        }
    }
    found
}

/// The text from `name(` at the start of a function definition to its closing brace at the
/// start of a line (how naga's text backends lay out functions).
fn function_body<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.lines().position(|l| !l.starts_with(' ') && l.contains(&format!(" {name}(")) && !l.trim_end().ends_with(';'))?;
    let offset: usize = text.lines().take(start).map(|l| l.len() + 1).sum();
    let rest = &text[offset..];
    let end = rest.find("\n}").map_or(rest.len(), |e| e + 2);
    Some(&rest[..end])
}

#[test]
fn every_variant_translates_and_validates_for_every_backend() {
    let spirv_val = tool("spirv-val");
    let glslang = tool("glslangValidator");
    let scratch = tempfile::tempdir().unwrap();
    let sets = constant_sets();
    let mut failures = Vec::new();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for language in [Language::SpirV, Language::Msl, Language::Hlsl, Language::Glsl] {
        for (precision, fetch) in variants_for(language) {
            for (set_name, constants) in &sets {
                let what = format!("{language:?}, {}, {}, {set_name}", precision.name(), fetch.name());
                let (module, info) = specialised(precision, fetch, constants);
                let translation = match translate(language, &module, &info, fetch) {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{what}: translation failed: {e}"));
                        continue;
                    }
                };
                let verdict = offline_verdict(&translation, language, spirv_val.as_deref(), glslang.as_deref(), scratch.path(), "kernel");
                if let Some(Err(e)) = verdict {
                    failures.push(format!("{what}: validator refused it:\n{e}"));
                }
                if let (Translation::Text(text), Precision::DoubleFloat) = (&translation, precision) {
                    for hazard in double_float_hazards(language, text) {
                        failures.push(format!("{what}: {hazard}"));
                    }
                }
                *checked.entry(match language {
                    Language::SpirV => "SPIR-V",
                    Language::Msl => "MSL",
                    Language::Hlsl => "HLSL",
                    Language::Glsl => "GLSL",
                })
                .or_default() += 1;
            }
        }
    }
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "offline shader checks: {checked:?} translations, {} constant sets", sets.len());
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
    // 4 SPIR-V variants, 2 each for MSL and HLSL, 1 for GLSL, each with every constant set
    assert_eq!(checked.values().sum::<usize>(), 9 * sets.len());
}

/// The checks must be able to fail: a kernel with a deliberate error is refused by the
/// validators, and a fused TwoSum is reported.
#[test]
fn the_checks_catch_a_broken_shader() {
    let broken = "@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n\
                  @compute @workgroup_size(1) fn render() { out[0] = 1.0; }\n";
    let module = naga::front::wgsl::parse_str(broken).unwrap();
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .unwrap();
    if let Some(val) = tool("glslangValidator") {
        let Translation::Text(text) = translate(Language::Glsl, &module, &info, Fetch::Plain).unwrap() else { unreachable!() };
        let scratch = tempfile::tempdir().unwrap();
        assert!(run_validator(&val, &["-S", "comp"], scratch.path(), "ok.comp", text.as_bytes()).is_ok(), "{text}");
        let damaged = text.replacen("void main() {", "void main() { undeclared_name = 1.0;", 1);
        assert_ne!(damaged, text, "the GLSL entry point was not found:\n{text}");
        assert!(run_validator(&val, &["-S", "comp"], scratch.path(), "bad.comp", damaged.as_bytes()).is_err());
    }
    if let Some(val) = tool("spirv-val") {
        let Translation::Binary(mut words) = translate(Language::SpirV, &module, &info, Fetch::Plain).unwrap() else { unreachable!() };
        let scratch = tempfile::tempdir().unwrap();
        let bytes = |w: &[u32]| w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert!(run_validator(&val, &[], scratch.path(), "ok.spv", &bytes(&words)).is_ok());
        words[3] = 1; // the id bound, now smaller than the ids in use
        assert!(run_validator(&val, &[], scratch.path(), "bad.spv", &bytes(&words)).is_err());
    }
    let fused = "float2 two_sum(float a, float b) {\n    float s = fma(a, 1.0, b);\n    return float2(s, 0.0);\n}\n";
    assert!(double_float_hazards(Language::Hlsl, fused).iter().any(|h| h.contains("two_sum")), "{fused}");
    assert!(double_float_hazards(Language::Msl, "metal::fast::sin(x); as_type<uint>(y)").iter().any(|h| h.contains("fast::")));
    let mad = "float2 two_sum(float a, float b) {\n    float s = mad(a, 1.0, b);\n}\nasuint(x)";
    assert!(double_float_hazards(Language::Hlsl, mad).iter().any(|h| h.contains("two_sum")));
}

/// The stages after the spots (shaders/noise.wgsl, psf.wgsl, background.wgsl and gather.wgsl, every entry point) pass naga's validation
/// and translate to every backend's language; SPIR-V and GLSL pass their validators. The
/// background stage, assembled behind the wide arithmetic, is checked in each precision
/// variant for the backends that can be given it (as the kernel), the double-float one for
/// the hazards of the kernel's double-float check too.
#[test]
fn noise_stages_translate_and_validate_for_every_backend() {
    use super::shader::background_source;
    let spirv_val = tool("spirv-val");
    let glslang = tool("glslangValidator");
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    let noise = ("noise.wgsl", super::response::NOISE_SHADER, None, &["noise_counts", "noise_readout"][..]);
    let psf = ("psf.wgsl", super::response::PSF_SHADER, None, &["psf_max", "psf_setup", "psf_kernel", "psf_lost", "psf_sum", "psf_spread"][..]);
    let background_f64 = ("background.wgsl, f64", background_source(Precision::F64), Some(Precision::F64), &["background_add"][..]);
    let background_df = ("background.wgsl, double-float", background_source(Precision::DoubleFloat), Some(Precision::DoubleFloat), &["background_add"][..]);
    let gather = ("gather.wgsl", super::gather::GATHER_SHADER, None, &["gather_tile", "sum_blocks"][..]);
    for (file, source, precision, entries) in [noise, psf, background_f64, background_df, gather] {
        let caps = if precision == Some(Precision::F64) { naga::valid::Capabilities::FLOAT64 } else { naga::valid::Capabilities::empty() };
        let module = naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(source)));
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .validate(&module)
            .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(source)));
        // the f64 variant reaches Vulkan only (`variants_for`)
        let languages: &[Language] = if precision == Some(Precision::F64) { &[Language::SpirV] } else { &[Language::SpirV, Language::Msl, Language::Hlsl, Language::Glsl] };
        for &entry in entries {
            for &language in languages {
                let what = format!("{file} {entry}, {language:?}");
                let translation = match translate_entry(language, &module, &info, Fetch::Plain, entry) {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{what}: translation failed: {e}"));
                        continue;
                    }
                };
                let verdict = offline_verdict(&translation, language, spirv_val.as_deref(), glslang.as_deref(), scratch.path(), "stage");
                if let Some(Err(e)) = verdict {
                    failures.push(format!("{what}: validator refused it:\n{e}"));
                }
                if let (Translation::Text(text), Some(Precision::DoubleFloat)) = (&translation, precision) {
                    for hazard in double_float_hazards(language, text) {
                        failures.push(format!("{what}: {hazard}"));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
    // 11 entry points in every language, and the f64 background on SPIR-V
    assert_eq!(checked, 4 * 11 + 1);
}

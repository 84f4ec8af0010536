//! The physical and unit constants of the simulator, each defined once: nanoBragg.c's and
//! nonBragg.c's values (`#define`s and literals, github bl831/nanoBragg), which every engine,
//! stage and face reads from here. The GPU side needs only the crystal-shape codes
//! (`params::XtalShape::code`), whose WGSL constants are generated from the same enum
//! (nanobragg-gpu `shader::prelude`).

/// Degrees per radian, as nanoBragg.c defines it (`RTD`): every angle typed in degrees is
/// divided by it, never multiplied by its inverse, so that conversions are bit-identical to C.
pub const RTD: f64 = 180.0 * std::f64::consts::FRAC_1_PI;

/// Thomson cross section of the electron, r_e² (m²), as nanoBragg.c, nonBragg.c and noisify.c
/// write it.
pub const R_E_SQR: f64 = 7.94079248018965e-30;

/// Avogadro's number, as nanoBragg.c and nonBragg.c write it (mol⁻¹).
pub const AVOGADRO: f64 = 6.02214179e23;

/// Forward structure factor of water (electrons), nanoBragg.c's `-water` background.
pub const WATER_F: f64 = 2.57;

/// Molar mass of water (g/mol), nanoBragg.c's `-water` background.
pub const WATER_MW: f64 = 18.0;

//! The WebGPU engine (see issue: GPU engine). Until it lands, asking for it is a clear error
//! and `-engine auto` falls back to the CPU engine with a notice.

use super::Rendered;
use super::plan::Plan;
use crate::error::{Error, Result};

pub fn render(_plan: &Plan, _backend: Option<&str>) -> Result<Rendered> {
    Err(Error::Gpu("the GPU engine is not available in this build".into()))
}

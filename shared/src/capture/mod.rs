//! The biometric capture: what `biometric_data` must hold (`biometric-data.md`).
//!
//! Two formats are accepted, the open JSON format [`sigdata`] (sigdata/1) and the binary
//! [`iso19794_7`] (ISO/IEC 19794-7:2007 full format). Each parses into one [`Capture`] (strokes
//! of column-wise samples), on which the [`quality`] rules run and the [`BiometricSummary`] is
//! counted; [`convert`] writes a capture in the other format. Parsing is the 400 step
//! (`INVALID_INPUT`), the quality rules the 422 step (`UNPROCESSABLE_ENTITY`); every message
//! starts with `biometric_data: ` and names the first offending path or byte.
//!
//! This runs on every sign, on up to 230 KB of decoded data: no per-sample object is built, the
//! columns are parsed straight into `Vec<f64>`, and the slow path that names a JSON error's path
//! only runs once the data is known to be wrong.

pub mod convert;
pub mod iso19794_7;
pub mod quality;
#[cfg(any(test, feature = "sample"))]
pub mod sample;
pub mod sigdata;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::ApiError;

/// At most this many samples in all, in either format.
pub const MAX_SAMPLES: usize = 100_000;
/// At most this many strokes in a sigdata/1 capture.
pub const MAX_STROKES: usize = 200;

/// The contract's exact message for data of neither format.
pub const UNKNOWN_FORMAT: &str =
    "biometric_data: unknown format (expected sigdata/1 or ISO/IEC 19794-7)";

/// The two accepted formats, by the name the summary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    #[serde(rename = "sigdata/1")]
    Sigdata1,
    #[serde(rename = "iso19794-7:2007")]
    Iso19794_7,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sigdata1 => "sigdata/1",
            Self::Iso19794_7 => "iso19794-7:2007",
        }
    }
}

/// What the browser's PointerEvent reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointerType {
    Pen,
    Touch,
    Mouse,
}

/// What `signature.biometric` shows of a capture: counts, never coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BiometricSummary {
    pub format: Format,
    pub strokes: u32,
    pub samples: u32,
    pub duration_ms: u64,
    /// A pressure channel is present in every stroke and its values are not all the same.
    pub pressure: bool,
    /// `None` for ISO data, which does not record it.
    pub pointer_type: Option<PointerType>,
}

/// One stroke (pen down to pen up), column-wise: every column has the same length. Times are
/// milliseconds on the capture's one clock; pressure is in [0, 1]; tilts are degrees. `x` and `y`
/// are in the units of the capture's [`Geometry`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stroke {
    #[serde(serialize_with = "sigdata::compact_numbers")]
    pub t: Vec<f64>,
    #[serde(serialize_with = "sigdata::compact_numbers")]
    pub x: Vec<f64>,
    #[serde(serialize_with = "sigdata::compact_numbers")]
    pub y: Vec<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "sigdata::compact_optional_numbers"
    )]
    pub p: Option<Vec<f64>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "sigdata::compact_optional_numbers"
    )]
    pub tilt_x: Option<Vec<f64>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "sigdata::compact_optional_numbers"
    )]
    pub tilt_y: Option<Vec<f64>>,
}

impl Stroke {
    pub fn sample_count(&self) -> usize {
        self.x.len()
    }
}

/// How a capture's coordinates are measured, which decides the ink-extent rule and conversions.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// sigdata/1: CSS pixels within the capture area.
    CssPixels(sigdata::CaptureInfo),
    /// ISO data: the record's own units.
    Iso(iso19794_7::Axes),
}

/// A parsed capture of either format, structurally valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub format: Format,
    pub geometry: Geometry,
    pub pointer_type: Option<PointerType>,
    pub strokes: Vec<Stroke>,
}

impl Capture {
    pub fn sample_count(&self) -> usize {
        self.strokes.iter().map(Stroke::sample_count).sum()
    }

    /// Applies the quality rules (422) and counts the summary.
    pub fn assess(&self) -> Result<BiometricSummary, ApiError> {
        quality::assess(self)
    }
}

/// Recognises the format and parses it: every 400 of `biometric-data.md`.
pub fn parse(bytes: &[u8]) -> Result<Capture, ApiError> {
    if iso19794_7::is_iso(bytes) {
        iso19794_7::parse(bytes)
    } else {
        sigdata::parse(bytes)
    }
}

/// Parses and assesses: what the sign endpoint checks, in one call.
pub fn validate(bytes: &[u8]) -> Result<(Capture, BiometricSummary), ApiError> {
    let capture = parse(bytes)?;
    let summary = capture.assess()?;
    Ok((capture, summary))
}

/// A 400 about the biometric data.
pub(crate) fn invalid(details: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidInput(format!("biometric_data: {details}"))
}

/// A 422 about the biometric data.
pub(crate) fn unprocessable(details: impl std::fmt::Display) -> ApiError {
    ApiError::Unprocessable(format!("biometric_data: {details}"))
}

/// `1 sample`, `20 samples`.
pub(crate) fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

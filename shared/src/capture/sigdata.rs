//! sigdata/1, the open JSON stroke format: UTF-8 JSON, unknown fields rejected, channels stored
//! column-wise (`biometric-data.md`, section "sigdata/1").

use std::cell::Cell;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{
    Capture, Format, Geometry, MAX_SAMPLES, MAX_STROKES, PointerType, Stroke, UNKNOWN_FORMAT,
    invalid, plural,
};
use crate::ApiError;

/// The largest capture area side, in CSS pixels.
pub const MAX_AREA_SIDE: f64 = 10_000.0;
/// The largest device pixel ratio.
pub const MAX_DEVICE_PIXEL_RATIO: f64 = 16.0;
/// The tilt range, in degrees.
pub const MAX_TILT: f64 = 90.0;

/// A whole sigdata/1 document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: Tag,
    pub capture: CaptureInfo,
    pub strokes: Vec<Stroke>,
}

/// The `format` member, which can only say `sigdata/1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tag {
    #[serde(rename = "sigdata/1")]
    Sigdata1,
}

/// The `capture` member: the capture area and what the client knew about its pointer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureInfo {
    /// CSS pixels, in (0, 10000].
    #[serde(serialize_with = "compact_number")]
    pub width: f64,
    #[serde(serialize_with = "compact_number")]
    pub height: f64,
    pub pointer_type: PointerType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_pixel_ratio: Option<f64>,
    /// The client's clock, RFC 3339 UTC: kept as evidence, never trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

impl Document {
    pub fn into_capture(self) -> Capture {
        Capture {
            format: Format::Sigdata1,
            pointer_type: Some(self.capture.pointer_type),
            geometry: Geometry::CssPixels(self.capture),
            strokes: self.strokes,
        }
    }

    /// The JSON of this document (compact; integral values without a fraction).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of numbers and strings into memory cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Parses and checks a sigdata/1 document: every rule of the format's table, naming the first
/// offending path. JSON that is not a sigdata/1 document is an unknown format.
pub fn parse(bytes: &[u8]) -> Result<Capture, ApiError> {
    let document: Document = match serde_json::from_slice(bytes) {
        Ok(document) => document,
        Err(_) => return Err(describe_parse_error(bytes)),
    };
    check(&document)?;
    Ok(document.into_capture())
}

/// Why a body failed to deserialize: an unknown format unless it is a JSON object that says
/// `"format": "sigdata/1"` before the error; then the path and serde's reason.
fn describe_parse_error(bytes: &[u8]) -> ApiError {
    if !declares_sigdata(bytes) {
        return ApiError::InvalidInput(UNKNOWN_FORMAT.into());
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let error = match serde_path_to_error::deserialize::<_, Document>(deserializer) {
        Err(error) => error,
        // Cannot happen (the same bytes just failed); still an answer rather than a panic.
        Ok(_) => return invalid("is not a valid sigdata/1 document"),
    };
    let reason = crate::error::json_error_text(error.inner());
    match error.path().to_string().as_str() {
        "." => invalid(reason),
        path => invalid(format_args!("{path}: {reason}")),
    }
}

/// Whether the bytes are a JSON object whose top-level `format` is `"sigdata/1"`, as far as they
/// can be read: a document that says so and then breaks is still recognised.
fn declares_sigdata(bytes: &[u8]) -> bool {
    let seen = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let _ = FormatProbe(&seen).deserialize(&mut deserializer);
    seen.get()
}

struct FormatProbe<'c>(&'c Cell<bool>);

impl<'de> DeserializeSeed<'de> for FormatProbe<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FormatProbe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "format" {
                if map.next_value::<String>()? == "sigdata/1" {
                    self.0.set(true);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The rules of the format's table that serde's types do not already hold, in document order:
/// the capture area, the stroke count, each stroke's lengths, the sample cap, then the values.
pub fn check(document: &Document) -> Result<(), ApiError> {
    let area = &document.capture;
    for (name, side) in [("width", area.width), ("height", area.height)] {
        if !(side > 0.0 && side <= MAX_AREA_SIDE) {
            return Err(invalid(format_args!(
                "capture.{name}: must be in (0, 10000], got {side}"
            )));
        }
    }
    if let Some(ratio) = area.device_pixel_ratio {
        if !(ratio > 0.0 && ratio <= MAX_DEVICE_PIXEL_RATIO) {
            return Err(invalid(format_args!(
                "capture.device_pixel_ratio: must be in (0, 16], got {ratio}"
            )));
        }
    }
    if let Some(started_at) = &area.started_at {
        if !is_rfc3339_utc(started_at) {
            return Err(invalid(
                "capture.started_at: must be an RFC 3339 UTC timestamp, e.g. 2026-11-27T10:15:02.123Z",
            ));
        }
    }

    let strokes = &document.strokes;
    if strokes.is_empty() {
        return Err(invalid("strokes: at least 1 stroke is needed"));
    }
    if strokes.len() > MAX_STROKES {
        return Err(invalid(format_args!(
            "strokes: {} (at most {MAX_STROKES})",
            plural(strokes.len(), "stroke")
        )));
    }
    let mut samples = 0usize;
    for (index, stroke) in strokes.iter().enumerate() {
        check_lengths(index, stroke)?;
        samples += stroke.sample_count();
    }
    if samples > MAX_SAMPLES {
        return Err(invalid(format_args!(
            "strokes: {samples} samples in all (at most {MAX_SAMPLES})"
        )));
    }

    let mut previous_t: Option<f64> = None;
    for (index, stroke) in strokes.iter().enumerate() {
        for (i, &t) in stroke.t.iter().enumerate() {
            if !(t.is_finite() && t >= 0.0) {
                return Err(invalid(format_args!(
                    "strokes[{index}].t[{i}]: must be a finite number of milliseconds, at least 0, got {t}"
                )));
            }
            if let Some(before) = previous_t.filter(|&before| t < before) {
                return Err(invalid(format_args!(
                    "strokes[{index}].t[{i}]: {t} is before the previous sample's {before} (t must not decrease)"
                )));
            }
            previous_t = Some(t);
        }
        in_range(index, "x", &stroke.x, 0.0, area.width)?;
        in_range(index, "y", &stroke.y, 0.0, area.height)?;
        if let Some(p) = &stroke.p {
            in_range(index, "p", p, 0.0, 1.0)?;
        }
        if let Some(tilt) = &stroke.tilt_x {
            in_range(index, "tilt_x", tilt, -MAX_TILT, MAX_TILT)?;
        }
        if let Some(tilt) = &stroke.tilt_y {
            in_range(index, "tilt_y", tilt, -MAX_TILT, MAX_TILT)?;
        }
    }
    Ok(())
}

/// Every column of a stroke as long as `x`, and at least one sample.
fn check_lengths(index: usize, stroke: &Stroke) -> Result<(), ApiError> {
    let expected = stroke.x.len();
    let columns = [
        ("t", Some(&stroke.t)),
        ("y", Some(&stroke.y)),
        ("p", stroke.p.as_ref()),
        ("tilt_x", stroke.tilt_x.as_ref()),
        ("tilt_y", stroke.tilt_y.as_ref()),
    ];
    for (name, column) in columns {
        if let Some(column) = column.filter(|c| c.len() != expected) {
            return Err(invalid(format_args!(
                "strokes[{index}].{name}: {}, x has {expected}",
                plural(column.len(), "value")
            )));
        }
    }
    if expected == 0 {
        return Err(invalid(format_args!(
            "strokes[{index}]: must hold at least 1 sample"
        )));
    }
    Ok(())
}

fn in_range(index: usize, name: &str, values: &[f64], low: f64, high: f64) -> Result<(), ApiError> {
    match values
        .iter()
        .position(|v| !(v.is_finite() && *v >= low && *v <= high))
    {
        None => Ok(()),
        Some(i) => Err(invalid(format_args!(
            "strokes[{index}].{name}[{i}]: {} is outside [{low}, {high}]",
            values[i]
        ))),
    }
}

/// RFC 3339 with a UTC offset (`Z` or `+00:00`).
fn is_rfc3339_utc(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok_and(|t| t.offset().local_minus_utc() == 0)
}

/// Serialises a column with integral values as integers (`12` rather than `12.0`): sigdata/1 is
/// sent base64-encoded inside a size-limited field, and most timestamps and tilts are whole.
pub fn compact_numbers<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(values.len()))?;
    for &value in values {
        seq.serialize_element(&CompactNumber(value))?;
    }
    seq.end()
}

pub(crate) fn compact_optional_numbers<S: Serializer>(
    values: &Option<Vec<f64>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match values {
        Some(values) => compact_numbers(values, serializer),
        None => serializer.serialize_none(),
    }
}

fn compact_number<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    CompactNumber(*value).serialize(serializer)
}

struct CompactNumber(f64);

impl Serialize for CompactNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Below 2^53 every integral f64 is exactly an i64.
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

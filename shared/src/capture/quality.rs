//! Is this a signature at all? The quality rules of `biometric-data.md` (422), the same for both
//! formats, and the summary of a capture that passes them.

use super::{BiometricSummary, Capture, Geometry, plural, unprocessable};
use crate::ApiError;

pub const MIN_SAMPLES: usize = 20;
pub const MIN_DURATION_MS: f64 = 200.0;
pub const MAX_DURATION_MS: f64 = 120_000.0;
/// The ink's bounding box, on its longer side: sigdata/1 in CSS pixels …
pub const MIN_EXTENT_PX: f64 = 10.0;
/// … ISO data in millimetres where X and Y carry a scaling value …
pub const MIN_EXTENT_MM: f64 = 1.0;
/// … else in the record's raw units.
pub const MIN_EXTENT_UNITS: f64 = 10.0;
/// The median of the intervals between consecutive samples within strokes.
pub const MAX_MEDIAN_INTERVAL_MS: f64 = 50.0;

/// Checks the rules in the contract's order (samples, duration, extent, sampling) and counts
/// the summary of a capture that passes them all.
pub fn assess(capture: &Capture) -> Result<BiometricSummary, ApiError> {
    let samples = capture.sample_count();
    if samples < MIN_SAMPLES {
        return Err(unprocessable(format_args!(
            "{} (at least {MIN_SAMPLES} needed)",
            plural(samples, "sample")
        )));
    }
    let duration = duration_ms(capture);
    if duration < MIN_DURATION_MS {
        return Err(unprocessable(format_args!(
            "the capture lasts {} ms (at least 200 ms needed)",
            number(duration)
        )));
    }
    if duration > MAX_DURATION_MS {
        return Err(unprocessable(format_args!(
            "the capture lasts {} ms (at most 120000 ms)",
            number(duration)
        )));
    }
    check_extent(capture)?;
    match median_interval_ms(capture) {
        None => {
            return Err(unprocessable(
                "no stroke holds two samples, so the sampling interval cannot be measured",
            ));
        }
        Some(median) if median > MAX_MEDIAN_INTERVAL_MS => {
            return Err(unprocessable(format_args!(
                "the median interval between samples is {} ms (at most 50 ms)",
                number(median)
            )));
        }
        Some(_) => {}
    }
    Ok(BiometricSummary {
        format: capture.format,
        strokes: u32::try_from(capture.strokes.len()).unwrap_or(u32::MAX),
        samples: u32::try_from(samples).unwrap_or(u32::MAX),
        duration_ms: duration.round() as u64,
        pressure: has_varying_pressure(capture),
        pointer_type: capture.pointer_type,
    })
}

/// Last `t` − first `t`. Times never decrease (the parsers refuse it), so these are the ends.
pub fn duration_ms(capture: &Capture) -> f64 {
    let first = capture.strokes.iter().find_map(|s| s.t.first().copied());
    let last = capture
        .strokes
        .iter()
        .rev()
        .find_map(|s| s.t.last().copied());
    match (first, last) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    }
}

/// The bounding box of all samples: (width, height) in the capture's units.
pub fn ink_extent(capture: &Capture) -> (f64, f64) {
    let span = |column: fn(&super::Stroke) -> &Vec<f64>| {
        let (low, high) = capture
            .strokes
            .iter()
            .flat_map(|s| column(s).iter().copied())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
                (low.min(v), high.max(v))
            });
        if high >= low { high - low } else { 0.0 }
    };
    (span(|s| &s.x), span(|s| &s.y))
}

fn check_extent(capture: &Capture) -> Result<(), ApiError> {
    let (width, height) = ink_extent(capture);
    let (longer, minimum, unit) = match &capture.geometry {
        Geometry::CssPixels(_) => (width.max(height), MIN_EXTENT_PX, "px"),
        Geometry::Iso(axes) => match axes.per_mm() {
            Some((x_per_mm, y_per_mm)) => (
                (width / x_per_mm).max(height / y_per_mm),
                MIN_EXTENT_MM,
                "mm",
            ),
            None => (width.max(height), MIN_EXTENT_UNITS, "units"),
        },
    };
    if longer < minimum {
        return Err(unprocessable(format_args!(
            "the ink spans {} {unit} on its longer side (at least {minimum} {unit} needed)",
            number(longer)
        )));
    }
    Ok(())
}

/// The median of the intervals between consecutive samples of the same stroke (pen-up gaps are
/// not sampling), the mean of the two middle ones for an even count; `None` without intervals.
pub fn median_interval_ms(capture: &Capture) -> Option<f64> {
    let mut intervals: Vec<f64> = Vec::with_capacity(capture.sample_count());
    for stroke in &capture.strokes {
        intervals.extend(stroke.t.windows(2).map(|pair| pair[1] - pair[0]));
    }
    let count = intervals.len();
    if count == 0 {
        return None;
    }
    let (lower, upper, _) = intervals.select_nth_unstable_by(count / 2, f64::total_cmp);
    let upper = *upper;
    if count % 2 == 1 {
        return Some(upper);
    }
    let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((below + upper) / 2.0)
}

/// A pressure channel in every stroke whose values are not all the same.
fn has_varying_pressure(capture: &Capture) -> bool {
    let mut first: Option<f64> = None;
    let mut varies = false;
    for stroke in &capture.strokes {
        let Some(p) = &stroke.p else {
            return false;
        };
        for &value in p {
            match first {
                None => first = Some(value),
                Some(f) if f != value => varies = true,
                Some(_) => {}
            }
        }
    }
    varies
}

/// A measurement for a message: at most three decimals, no trailing zeros.
fn number(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

//! Offline conversion between the two formats (`biometric-data.md`, "Offline conversion"), so that
//! a notary's expert can feed an unsealed capture to the forensic tool of their choice.
//!
//! sigdata/1 → ISO writes one ISO sample per sigdata/1 sample: X and Y in a power-of-two number
//! of units per millimetre (the finest that fits the capture area in 16 bits), F, TX and TY where
//! every stroke has them, an S channel marking the strokes, and time in milliseconds as T (scaling
//! 1000 units a second) when every time fits in 16 bits, else as DT. ISO → sigdata/1 splits the
//! strokes at the tip switch (see [`super::iso19794_7`]). The round trip keeps the sample count,
//! every time within 1 ms and every coordinate within one scaling step.
//!
//! ISO's tip switch is one bit per sample, so a stroke of a single sample cannot be told from the
//! stroke after it: it is written pen-down and joins the next stroke (no sample is lost).

use super::iso19794_7::{self, Channel, Description};
use super::sigdata::{self, CaptureInfo, Document, Tag};
use super::{Capture, Format, Geometry, MAX_STROKES, PointerType, Stroke};

/// CSS pixels are 1/96 inch.
pub const CSS_PX_PER_MM: f64 = 96.0 / 25.4;
/// The largest value of a 16-bit signed coordinate.
const MAX_SIGNED: f64 = 32_767.0;
/// Pressure written in the full unsigned range.
const PRESSURE_FULL_SCALE: f64 = 65_535.0;
/// Tilts written in hundredths of a degree.
const TILT_UNITS_PER_DEGREE: f64 = 100.0;
/// Times written in milliseconds: the scaling value is units per second.
const TIME_UNITS_PER_SECOND: f64 = 1000.0;

/// A conversion that cannot be written in the target format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConversionError(pub String);

/// The converted bytes, and what the conversion had to change (for the user's attention).
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub bytes: Vec<u8>,
    pub notes: Vec<String>,
}

/// Writes `capture` in the other format.
pub fn convert(capture: &Capture, to: Format) -> Result<Converted, ConversionError> {
    match (&capture.geometry, to) {
        (Geometry::CssPixels(area), Format::Iso19794_7) => to_iso(area, &capture.strokes),
        (Geometry::Iso(axes), Format::Sigdata1) => to_sigdata(axes, &capture.strokes),
        _ => Err(ConversionError(format!(
            "the data is already {}",
            capture.format.name()
        ))),
    }
}

/// The units per millimetre used for X and Y: the largest power of two (so that the scaling value
/// is exact) that keeps the larger side of the area within 16 bits.
pub fn coordinate_scaling(area: &CaptureInfo) -> f64 {
    let larger_mm = area.width.max(area.height) / CSS_PX_PER_MM;
    let exponent = (MAX_SIGNED / larger_mm).log2().floor().clamp(-16.0, 15.0);
    2f64.powi(exponent as i32)
}

fn to_iso(area: &CaptureInfo, strokes: &[Stroke]) -> Result<Converted, ConversionError> {
    let mut notes = Vec::new();
    let units_per_px = coordinate_scaling(area) / CSS_PX_PER_MM;
    let count: usize = strokes.iter().map(Stroke::sample_count).sum();
    let flat = |column: fn(&Stroke) -> Option<&Vec<f64>>| -> Option<Vec<f64>> {
        let mut values = Vec::with_capacity(count);
        for stroke in strokes {
            values.extend_from_slice(column(stroke)?);
        }
        Some(values)
    };
    let to_units = |values: Vec<f64>, scale: f64| -> Vec<i32> {
        values.iter().map(|v| (v * scale).round() as i32).collect()
    };

    let mut channels: Vec<(Channel, Description, Vec<i32>)> = Vec::new();
    let xs = flat(|s| Some(&s.x)).unwrap_or_default();
    let ys = flat(|s| Some(&s.y)).unwrap_or_default();
    let coordinate = |side: f64| Description {
        scaling: Some(coordinate_scaling(area)),
        min: Some(0),
        max: Some((side * units_per_px).round() as i32),
        ..Description::default()
    };
    channels.push((
        Channel::X,
        coordinate(area.width),
        to_units(xs, units_per_px),
    ));
    channels.push((
        Channel::Y,
        coordinate(area.height),
        to_units(ys, units_per_px),
    ));

    let times: Vec<i64> = flat(|s| Some(&s.t))
        .unwrap_or_default()
        .iter()
        .map(|t| t.round() as i64)
        .collect();
    let time_description = Description {
        scaling: Some(TIME_UNITS_PER_SECOND),
        ..Description::default()
    };
    if times.iter().all(|t| *t <= i64::from(u16::MAX)) {
        let values = times.iter().map(|t| *t as i32).collect();
        channels.push((Channel::T, time_description, values));
    } else {
        let mut values = Vec::with_capacity(times.len());
        let mut previous = match times.first() {
            Some(first) if *first > i64::from(u16::MAX) => {
                notes.push(format!(
                    "the first sample's time ({first} ms) does not fit in a 16-bit DT: times now start at 0"
                ));
                *first
            }
            _ => 0,
        };
        for (index, t) in times.iter().enumerate() {
            let step = t - previous;
            if step > i64::from(u16::MAX) {
                return Err(ConversionError(format!(
                    "sample {index} comes {step} ms after the previous one: more than a 16-bit DT in milliseconds can hold"
                )));
            }
            values.push(step as i32);
            previous = *t;
        }
        channels.push((Channel::Dt, time_description, values));
    }

    match flat(|s| s.p.as_ref()) {
        Some(p) => channels.push((
            Channel::F,
            Description {
                min: Some(0),
                max: Some(PRESSURE_FULL_SCALE as i32),
                ..Description::default()
            },
            to_units(p, PRESSURE_FULL_SCALE),
        )),
        None if strokes.iter().any(|s| s.p.is_some()) => {
            notes.push("pressure left out: not every stroke has p".into());
        }
        None => {}
    }
    for (channel, column, name) in [
        (Channel::Tx, flat(|s| s.tilt_x.as_ref()), "tilt_x"),
        (Channel::Ty, flat(|s| s.tilt_y.as_ref()), "tilt_y"),
    ] {
        match column {
            Some(tilt) => channels.push((
                channel,
                Description {
                    scaling: Some(TILT_UNITS_PER_DEGREE),
                    min: Some(-9000),
                    max: Some(9000),
                    ..Description::default()
                },
                to_units(tilt, TILT_UNITS_PER_DEGREE),
            )),
            None if strokes.iter().any(|s| match channel {
                Channel::Tx => s.tilt_x.is_some(),
                _ => s.tilt_y.is_some(),
            }) =>
            {
                notes.push(format!("{name} left out: not every stroke has it"));
            }
            None => {}
        }
    }

    // The tip switch: down, except at the last sample of each stroke (where the pen left the
    // surface). A single-sample stroke stays down and so joins the next one.
    let mut tip = Vec::with_capacity(count);
    for stroke in strokes {
        let last = stroke.sample_count().saturating_sub(1);
        tip.extend((0..stroke.sample_count()).map(|i| i32::from(!(i == last && last > 0))));
    }
    channels.push((Channel::S, Description::default(), tip));

    let descriptions: Vec<(Channel, Description)> =
        channels.iter().map(|(c, d, _)| (*c, *d)).collect();
    let bytes = iso19794_7::write(&descriptions, count, |sample, channel| {
        channels
            .iter()
            .find(|(c, _, _)| *c == channel)
            .and_then(|(_, _, values)| values.get(sample).copied())
            .unwrap_or(0)
    });
    Ok(Converted { bytes, notes })
}

fn to_sigdata(axes: &iso19794_7::Axes, strokes: &[Stroke]) -> Result<Converted, ConversionError> {
    if strokes.is_empty() {
        return Err(ConversionError(
            "the record holds no pen-down sample".into(),
        ));
    }
    if strokes.len() > MAX_STROKES {
        return Err(ConversionError(format!(
            "the record holds {} strokes: sigdata/1 allows at most {MAX_STROKES}",
            strokes.len()
        )));
    }
    // Without scaling values a raw unit counts as one CSS pixel.
    let (x_px, y_px) = axes
        .per_mm()
        .map_or((1.0, 1.0), |(x, y)| (CSS_PX_PER_MM / x, CSS_PX_PER_MM / y));
    let x_axis = AxisMap::new(
        axes.x,
        x_px,
        strokes.iter().flat_map(|s| s.x.iter().copied()),
        "X",
    )?;
    let y_axis = AxisMap::new(
        axes.y,
        y_px,
        strokes.iter().flat_map(|s| s.y.iter().copied()),
        "Y",
    )?;

    let round = |values: &[f64], decimals: i32| -> Vec<f64> {
        values.iter().map(|v| round_to(*v, decimals)).collect()
    };
    let tilt =
        |values: &Option<Vec<f64>>, name: &str| -> Result<Option<Vec<f64>>, ConversionError> {
            let Some(values) = values else {
                return Ok(None);
            };
            let rounded = round(values, 3);
            if let Some(bad) = rounded.iter().find(|v| v.abs() > sigdata::MAX_TILT) {
                return Err(ConversionError(format!(
                    "{name} is {bad}°: sigdata/1 allows [-90, 90]"
                )));
            }
            Ok(Some(rounded))
        };
    let mut converted = Vec::with_capacity(strokes.len());
    for stroke in strokes {
        converted.push(Stroke {
            t: round(&stroke.t, 3),
            x: stroke.x.iter().map(|v| x_axis.map(*v)).collect(),
            y: stroke.y.iter().map(|v| y_axis.map(*v)).collect(),
            p: stroke
                .p
                .as_ref()
                .map(|p| p.iter().map(|v| round_to(*v, 6).clamp(0.0, 1.0)).collect()),
            tilt_x: tilt(&stroke.tilt_x, "TX")?,
            tilt_y: tilt(&stroke.tilt_y, "TY")?,
        });
    }
    let document = Document {
        format: Tag::Sigdata1,
        capture: CaptureInfo {
            width: x_axis.side,
            height: y_axis.side,
            // ISO/IEC 19794-7 does not record it; its data comes from pen tablets.
            pointer_type: PointerType::Pen,
            device_pixel_ratio: None,
            started_at: None,
        },
        strokes: converted,
    };
    Ok(Converted {
        bytes: document.to_json(),
        notes: Vec::new(),
    })
}

/// From a record's axis to CSS pixels within [0, side].
struct AxisMap {
    origin: f64,
    px_per_unit: f64,
    decimals: i32,
    side: f64,
}

impl AxisMap {
    fn new(
        axis: iso19794_7::Axis,
        px_per_unit: f64,
        values: impl Iterator<Item = f64>,
        name: &str,
    ) -> Result<Self, ConversionError> {
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
        // The declared minimum is the origin; without one, 0 unless samples are negative.
        let origin = axis.min.unwrap_or(if low < 0.0 { low } else { 0.0 });
        let far = axis.max.unwrap_or(high).max(high);
        // Enough decimals that rounding moves a value by at most a tenth of a unit.
        let decimals = (-(px_per_unit / 10.0).log10()).ceil().clamp(0.0, 6.0) as i32;
        let side = round_to((far - origin) * px_per_unit, decimals);
        let smallest = 10f64.powi(-decimals);
        if side > sigdata::MAX_AREA_SIDE + px_per_unit {
            return Err(ConversionError(format!(
                "{name} spans {side} CSS pixels: sigdata/1 allows at most 10000"
            )));
        }
        Ok(Self {
            origin,
            px_per_unit,
            decimals,
            side: side.clamp(smallest, sigdata::MAX_AREA_SIDE),
        })
    }

    fn map(&self, value: f64) -> f64 {
        round_to((value - self.origin) * self.px_per_unit, self.decimals).clamp(0.0, self.side)
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

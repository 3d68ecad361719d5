//! ISO/IEC 19794-7:2007, full format (signature/sign time series), big-endian.
//!
//! Layout, from the standard's identical Russian adoption (GOST R ISO/IEC 19794-7-2009, its
//! Annex B ASN.1 module) and open implementations; where they disagree the choice is noted and
//! documented in `docs/biometric-data.md`:
//!
//! - header: `SDI\0`, ` 10\0`, the 16-bit channel inclusion field (bit 15 = X … bit 0 = R),
//!   one description per included channel in that order, one reserved byte;
//! - a description: a preamble byte of flags, then the flagged 16-bit values in the order
//!   scaling, min, max, mean, std (min/max/mean signed for signed channels); the constant and
//!   linear-component-removed flags carry no value;
//! - body: a flag byte (non-zero: extended data follows the samples), a 24-bit sample count, each
//!   sample's value per included, non-constant channel (16 bits; the tip switch S 8 bits; signed
//!   channels two's complement), then, if flagged, a 16-bit length and the extended data.

use super::{Capture, Format, Geometry, MAX_SAMPLES, Stroke, invalid};
use crate::ApiError;

/// The format identifier and the version: how the format is recognised.
pub const MAGIC: &[u8; 8] = b"SDI\0 10\0";

pub fn is_iso(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The channels, in the order of their bits in the inclusion field (X is bit 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    X,
    Y,
    Z,
    Vx,
    Vy,
    Ax,
    Ay,
    T,
    Dt,
    F,
    S,
    Tx,
    Ty,
    Az,
    El,
    R,
}

impl Channel {
    pub const ALL: [Self; 16] = [
        Self::X,
        Self::Y,
        Self::Z,
        Self::Vx,
        Self::Vy,
        Self::Ax,
        Self::Ay,
        Self::T,
        Self::Dt,
        Self::F,
        Self::S,
        Self::Tx,
        Self::Ty,
        Self::Az,
        Self::El,
        Self::R,
    ];

    pub fn bit(self) -> u16 {
        1 << (15 - self as u16)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::X => "X",
            Self::Y => "Y",
            Self::Z => "Z",
            Self::Vx => "VX",
            Self::Vy => "VY",
            Self::Ax => "AX",
            Self::Ay => "AY",
            Self::T => "T",
            Self::Dt => "DT",
            Self::F => "F",
            Self::S => "S",
            Self::Tx => "TX",
            Self::Ty => "TY",
            Self::Az => "AZ",
            Self::El => "EL",
            Self::R => "R",
        }
    }

    /// Positions, velocities, accelerations and tilts can be negative (two's complement).
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            Self::X | Self::Y | Self::Vx | Self::Vy | Self::Ax | Self::Ay | Self::Tx | Self::Ty
        )
    }

    /// Bytes per sample: the tip switch is one byte (the standard's ASN.1 `UnsignedInt8`).
    pub fn width(self) -> usize {
        if self == Self::S { 1 } else { 2 }
    }
}

/// The preamble flags of a channel description.
pub mod preamble {
    pub const SCALING: u8 = 0x80;
    pub const MIN: u8 = 0x40;
    pub const MAX: u8 = 0x20;
    pub const MEAN: u8 = 0x10;
    pub const STD: u8 = 0x08;
    pub const CONSTANT: u8 = 0x04;
    pub const LINEAR_COMPONENT_REMOVED: u8 = 0x02;
}

/// A channel description. A constant channel has no value in the samples: its value is `mean`
/// when given, else 0 (DT: 1 unit, i.e. a fixed sampling rate of `scaling` samples a second).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Description {
    pub scaling: Option<f64>,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub mean: Option<i32>,
    pub std: Option<u16>,
    pub constant: bool,
    pub linear_component_removed: bool,
}

impl Description {
    fn constant_value(&self, channel: Channel) -> i32 {
        self.mean
            .unwrap_or(if channel == Channel::Dt { 1 } else { 0 })
    }
}

/// `value = 2^(E−16) · (1 + F/2048)` with E the top 5 bits and F the low 11.
pub fn decode_scaling(raw: u16) -> f64 {
    let exponent = i32::from(raw >> 11) - 16;
    let fraction = f64::from(raw & 0x7ff);
    2f64.powi(exponent) * (1.0 + fraction / 2048.0)
}

/// The nearest encodable scaling value, if `value` is within 2^-16 … 2^16.
pub fn encode_scaling(value: f64) -> Option<u16> {
    if !(value.is_finite() && value > 0.0) {
        return None;
    }
    let mut exponent = value.log2().floor() as i32;
    let mut fraction = ((value / 2f64.powi(exponent) - 1.0) * 2048.0).round();
    if fraction >= 2048.0 {
        exponent += 1;
        fraction = 0.0;
    }
    let biased = u16::try_from(exponent + 16).ok().filter(|e| *e <= 31)?;
    Some((biased << 11) | fraction as u16)
}

/// X and Y as the record declares them: units per millimetre and the declared range, if given.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Axes {
    pub x: Axis,
    pub y: Axis,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Axis {
    pub per_mm: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Axes {
    /// Millimetres only when both axes carry a scaling value.
    pub fn per_mm(&self) -> Option<(f64, f64)> {
        Some((self.x.per_mm?, self.y.per_mm?))
    }
}

/// Reads the header fields with the byte offset of whatever is missing.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], ApiError> {
        match self.bytes.get(self.at..self.at.saturating_add(n)) {
            Some(slice) => {
                self.at += n;
                Ok(slice)
            }
            None => Err(invalid(format_args!(
                "byte {}: the record ends inside {}",
                self.at,
                what()
            ))),
        }
    }

    fn u8(&mut self, what: impl FnOnce() -> String) -> Result<u8, ApiError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: impl FnOnce() -> String) -> Result<u16, ApiError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self, what: impl FnOnce() -> String) -> Result<u32, ApiError> {
        let b = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
}

/// A channel value as the channel stores it.
fn value_of(channel: Channel, bytes: &[u8]) -> i32 {
    match channel.width() {
        1 => i32::from(bytes[0]),
        _ if channel.is_signed() => i32::from(i16::from_be_bytes([bytes[0], bytes[1]])),
        _ => i32::from(u16::from_be_bytes([bytes[0], bytes[1]])),
    }
}

fn read_description(reader: &mut Reader<'_>, channel: Channel) -> Result<Description, ApiError> {
    let start = reader.at;
    let what = || format!("the description of channel {}", channel.name());
    let flags = reader.u8(what)?;
    let value = |reader: &mut Reader<'_>| -> Result<i32, ApiError> {
        let bytes = reader.take(2, what)?;
        // min, max and mean have the channel's own signedness, always in 16 bits.
        Ok(if channel.is_signed() {
            i32::from(i16::from_be_bytes([bytes[0], bytes[1]]))
        } else {
            i32::from(u16::from_be_bytes([bytes[0], bytes[1]]))
        })
    };
    // The linear-component-removed flag is not read: the values are checked as they are, with
    // or without their trend, so it would change nothing here (`write` can still set it).
    let mut description = Description {
        constant: flags & preamble::CONSTANT != 0,
        ..Description::default()
    };
    if flags & preamble::SCALING != 0 {
        description.scaling = Some(decode_scaling(reader.u16(what)?));
    }
    if flags & preamble::MIN != 0 {
        description.min = Some(value(reader)?);
    }
    if flags & preamble::MAX != 0 {
        description.max = Some(value(reader)?);
    }
    if flags & preamble::MEAN != 0 {
        description.mean = Some(value(reader)?);
    }
    if flags & preamble::STD != 0 {
        description.std = Some(reader.u16(what)?);
    }
    if let (Some(min), Some(max)) = (description.min, description.max) {
        if min > max {
            return Err(invalid(format_args!(
                "byte {start}: channel {}: the declared minimum {min} is above the declared maximum {max}",
                channel.name()
            )));
        }
    }
    Ok(description)
}

/// Parses a full-format record. Truncated or inconsistent records are refused with the offset of
/// the first byte at fault.
pub fn parse(bytes: &[u8]) -> Result<Capture, ApiError> {
    if !is_iso(bytes) {
        return Err(ApiError::InvalidInput(super::UNKNOWN_FORMAT.into()));
    }
    let mut reader = Reader {
        bytes,
        at: MAGIC.len(),
    };
    let inclusion = reader.u16(|| "the channel inclusion field".into())?;
    let included = |channel: Channel| inclusion & channel.bit() != 0;
    if !(included(Channel::X) && included(Channel::Y)) {
        return Err(invalid(
            "byte 8: the channel inclusion field must include X and Y",
        ));
    }
    if included(Channel::T) == included(Channel::Dt) {
        return Err(invalid(
            "byte 8: the channel inclusion field must include exactly one of T and DT",
        ));
    }
    let mut descriptions: [Option<Description>; 16] = [None; 16];
    for channel in Channel::ALL.into_iter().filter(|c| included(*c)) {
        descriptions[channel as usize] = Some(read_description(&mut reader, channel)?);
    }
    reader.u8(|| "the reserved byte after the channel descriptions".into())?;
    let has_extended_data = reader.u8(|| "the body's flag byte".into())? != 0;
    let count_at = reader.at;
    let count = reader.u24(|| "the sample count".into())? as usize;
    if count > MAX_SAMPLES {
        return Err(invalid(format_args!(
            "byte {count_at}: {count} samples (at most {MAX_SAMPLES})"
        )));
    }

    // The values each sample holds, in order: the included channels that are not constant.
    let layout: Vec<(Channel, Description)> = Channel::ALL
        .into_iter()
        .filter_map(|c| descriptions[c as usize].map(|d| (c, d)))
        .filter(|(_, d)| !d.constant)
        .collect();
    let sample_size: usize = layout.iter().map(|(c, _)| c.width()).sum();
    let start = reader.at;
    let available = bytes.len() - start;
    if sample_size > 0 && available / sample_size < count {
        let complete = available / sample_size;
        return Err(invalid(format_args!(
            "byte {}: the record ends inside sample {complete} of {count} ({sample_size} bytes each)",
            start + complete * sample_size
        )));
    }
    let samples_end = start + count * sample_size;
    check_the_end(bytes, samples_end, has_extended_data, || {
        // The commonest disagreement between writers: a 2-byte tip switch.
        included(Channel::S)
            && descriptions[Channel::S as usize].is_some_and(|d| !d.constant)
            && bytes.len() - start == count * (sample_size + 1)
    })?;

    let strokes = read_samples(
        &bytes[start..samples_end],
        start,
        &layout,
        &descriptions,
        count,
    )?;
    let axis = |channel: Channel| {
        let d = descriptions[channel as usize].unwrap_or_default();
        Axis {
            per_mm: d.scaling,
            min: d.min.map(f64::from),
            max: d.max.map(f64::from),
        }
    };
    Ok(Capture {
        format: Format::Iso19794_7,
        geometry: Geometry::Iso(Axes {
            x: axis(Channel::X),
            y: axis(Channel::Y),
        }),
        pointer_type: None,
        strokes,
    })
}

/// After the samples: the extended data if flagged, then nothing.
fn check_the_end(
    bytes: &[u8],
    samples_end: usize,
    has_extended_data: bool,
    looks_like_wide_tip_switch: impl FnOnce() -> bool,
) -> Result<(), ApiError> {
    let mut reader = Reader {
        bytes,
        at: samples_end,
    };
    if has_extended_data {
        let length = reader.u16(|| "the extended data's length".into())?;
        reader.take(usize::from(length), || "the extended data".into())?;
    }
    if reader.at == bytes.len() {
        return Ok(());
    }
    let hint = if !has_extended_data && looks_like_wide_tip_switch() {
        " (is the tip switch S written in 2 bytes? ISO/IEC 19794-7:2007 stores it in 1)"
    } else {
        ""
    };
    Err(invalid(format_args!(
        "byte {}: {} after the end of the record{hint}",
        reader.at,
        super::plural(bytes.len() - reader.at, "unexpected byte")
    )))
}

/// Decodes the samples into strokes: without S one stroke; with S a stroke is a run of pen-down
/// samples plus the pen-up sample that ends it (where the pen left the surface); further pen-up
/// samples (hovering) belong to no stroke.
fn read_samples(
    body: &[u8],
    body_offset: usize,
    layout: &[(Channel, Description)],
    descriptions: &[Option<Description>; 16],
    count: usize,
) -> Result<Vec<Stroke>, ApiError> {
    let description = |c: Channel| descriptions[c as usize];
    let has = |c: Channel| description(c).is_some();
    let constant = |c: Channel| {
        description(c)
            .filter(|d| d.constant)
            .map(|d| d.constant_value(c))
    };
    // Units to milliseconds: the scaling value is units per second; without one, milliseconds.
    let time_channel = if has(Channel::T) {
        Channel::T
    } else {
        Channel::Dt
    };
    let ms_per_unit = description(time_channel)
        .and_then(|d| d.scaling)
        .map_or(1.0, |per_second| 1000.0 / per_second);
    let pressure_full_scale = description(Channel::F)
        .and_then(|d| d.max)
        .filter(|max| *max > 0)
        .map_or(65_535.0, f64::from);
    let degrees_per_unit = |c: Channel| {
        description(c)
            .and_then(|d| d.scaling)
            .map_or(1.0, |s| 1.0 / s)
    };

    let mut strokes: Vec<Stroke> = Vec::new();
    let mut pen_down = false;
    let mut previous_t: Option<i32> = None;
    let mut elapsed_ms = 0.0;
    let sample_size: usize = layout.iter().map(|(c, _)| c.width()).sum();
    let mut values = [0i32; 16];
    for index in 0..count {
        let sample_offset = body_offset + index * sample_size;
        let mut at = index * sample_size;
        for &(channel, declared) in layout {
            let value = value_of(channel, &body[at..at + channel.width()]);
            let below = declared.min.is_some_and(|min| value < min);
            let above = declared.max.is_some_and(|max| value > max);
            if below || above {
                return Err(invalid(format_args!(
                    "byte {}: sample {index}: {} is {value}, outside the declared {}",
                    body_offset + at,
                    channel.name(),
                    declared_range(declared)
                )));
            }
            values[channel as usize] = value;
            at += channel.width();
        }
        let value = |c: Channel| constant(c).unwrap_or(values[c as usize]);

        let t_ms = if time_channel == Channel::T {
            let t = value(Channel::T);
            if let Some(before) = previous_t.filter(|before| t < *before) {
                return Err(invalid(format_args!(
                    "byte {sample_offset}: sample {index}: T goes backwards ({t} after {before})"
                )));
            }
            previous_t = Some(t);
            f64::from(t) * ms_per_unit
        } else {
            elapsed_ms += f64::from(value(Channel::Dt)) * ms_per_unit;
            elapsed_ms
        };

        let tip_down = if has(Channel::S) {
            match value(Channel::S) {
                0 => false,
                1 => true,
                other => {
                    return Err(invalid(format_args!(
                        "byte {sample_offset}: sample {index}: S is {other} (0 or 1 expected)"
                    )));
                }
            }
        } else {
            true
        };
        let in_stroke = match (pen_down, tip_down) {
            (false, true) => {
                strokes.push(new_stroke(descriptions));
                true
            }
            (true, _) => true,
            // Hovering: not part of any stroke.
            (false, false) => false,
        };
        pen_down = tip_down;
        if !in_stroke {
            continue;
        }
        let Some(stroke) = strokes.last_mut() else {
            continue;
        };
        stroke.t.push(t_ms);
        stroke.x.push(f64::from(value(Channel::X)));
        stroke.y.push(f64::from(value(Channel::Y)));
        if let Some(p) = &mut stroke.p {
            p.push(f64::from(value(Channel::F)) / pressure_full_scale);
        }
        if let Some(tilt) = &mut stroke.tilt_x {
            tilt.push(f64::from(value(Channel::Tx)) * degrees_per_unit(Channel::Tx));
        }
        if let Some(tilt) = &mut stroke.tilt_y {
            tilt.push(f64::from(value(Channel::Ty)) * degrees_per_unit(Channel::Ty));
        }
    }
    Ok(strokes)
}

fn new_stroke(descriptions: &[Option<Description>; 16]) -> Stroke {
    let column = |c: Channel| descriptions[c as usize].map(|_| Vec::new());
    Stroke {
        p: column(Channel::F),
        tilt_x: column(Channel::Tx),
        tilt_y: column(Channel::Ty),
        ..Stroke::default()
    }
}

fn declared_range(d: Description) -> String {
    match (d.min, d.max) {
        (Some(min), Some(max)) => format!("range [{min}, {max}]"),
        (Some(min), None) => format!("minimum {min}"),
        (None, Some(max)) => format!("maximum {max}"),
        (None, None) => "range".into(),
    }
}

/// Writes a full-format record: `channels` with their descriptions (any order; written in the
/// standard's; a channel listed twice keeps its first description), `count` samples whose values
/// `value(sample, channel)` gives for every included, non-constant channel. No extended data.
pub fn write(
    channels: &[(Channel, Description)],
    count: usize,
    mut value: impl FnMut(usize, Channel) -> i32,
) -> Vec<u8> {
    let mut ordered: Vec<(Channel, Description)> = channels.to_vec();
    ordered.sort_by_key(|(c, _)| *c as usize); // stable: the first of a repeated channel leads
    ordered.dedup_by_key(|(c, _)| *c as usize);
    let mut out = MAGIC.to_vec();
    let inclusion = ordered.iter().fold(0u16, |bits, (c, _)| bits | c.bit());
    out.extend_from_slice(&inclusion.to_be_bytes());
    for (channel, d) in &ordered {
        let flag = |present: bool, bit: u8| if present { bit } else { 0 };
        out.push(
            flag(d.scaling.is_some(), preamble::SCALING)
                | flag(d.min.is_some(), preamble::MIN)
                | flag(d.max.is_some(), preamble::MAX)
                | flag(d.mean.is_some(), preamble::MEAN)
                | flag(d.std.is_some(), preamble::STD)
                | flag(d.constant, preamble::CONSTANT)
                | flag(
                    d.linear_component_removed,
                    preamble::LINEAR_COMPONENT_REMOVED,
                ),
        );
        if let Some(scaling) = d.scaling {
            out.extend_from_slice(&encode_scaling(scaling).unwrap_or(0x8000).to_be_bytes());
        }
        for v in [d.min, d.max, d.mean].into_iter().flatten() {
            out.extend_from_slice(&sixteen_bits(*channel, v));
        }
        if let Some(std) = d.std {
            out.extend_from_slice(&std.to_be_bytes());
        }
    }
    out.push(0); // reserved
    out.push(0); // no extended data
    let count_bytes = (count as u32).to_be_bytes();
    out.extend_from_slice(&count_bytes[1..]);
    for sample in 0..count {
        for (channel, d) in &ordered {
            if d.constant {
                continue;
            }
            let v = value(sample, *channel);
            if channel.width() == 1 {
                out.push(v as u8);
            } else {
                out.extend_from_slice(&sixteen_bits(*channel, v));
            }
        }
    }
    out
}

fn sixteen_bits(channel: Channel, value: i32) -> [u8; 2] {
    if channel.is_signed() {
        (value as i16).to_be_bytes()
    } else {
        (value as u16).to_be_bytes()
    }
}

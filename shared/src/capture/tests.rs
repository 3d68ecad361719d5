//! Every rule of `biometric-data.md` at its boundary, the ISO layout byte by byte, and properties:
//! no input makes the parsers panic, and sigdata/1 → ISO → sigdata/1 keeps what it promises.

use super::iso19794_7::{self, Channel, Description};
use super::sigdata::{CaptureInfo, Document, Tag};
use super::*;

fn area() -> CaptureInfo {
    CaptureInfo {
        width: 600.0,
        height: 200.0,
        pointer_type: PointerType::Pen,
        device_pixel_ratio: None,
        started_at: None,
    }
}

fn document(strokes: Vec<Stroke>) -> Document {
    Document {
        format: Tag::Sigdata1,
        capture: area(),
        strokes,
    }
}

/// `samples` samples every `interval` ms from `start`, moving right by `step` px each.
fn line(samples: usize, start: f64, interval: f64, step: f64) -> Stroke {
    Stroke {
        t: (0..samples).map(|i| start + i as f64 * interval).collect(),
        x: (0..samples).map(|i| 100.0 + i as f64 * step).collect(),
        y: vec![50.0; samples],
        ..Stroke::default()
    }
}

fn check(document: &Document) -> Result<BiometricSummary, ApiError> {
    validate(&document.to_json()).map(|(_, summary)| summary)
}

fn invalid_details(bytes: &[u8]) -> String {
    match validate(bytes) {
        Err(ApiError::InvalidInput(details)) => details,
        other => panic!("expected INVALID_INPUT, got {other:?}"),
    }
}

fn unprocessable_details(document: &Document) -> String {
    match check(document) {
        Err(ApiError::Unprocessable(details)) => details,
        other => panic!("expected UNPROCESSABLE_ENTITY, got {other:?}"),
    }
}

// ---- sigdata/1: the quality rules at their boundaries ------------------------------------------

#[test]
fn a_realistic_pen_capture_passes_and_is_summarised() {
    let sample = sample::document(&sample::SampleOptions::pen(1));
    let json = sample.to_json();
    assert!(json.len() < 100_000, "{} bytes", json.len());
    let summary = check(&sample).unwrap();
    let samples: usize = sample.strokes.iter().map(Stroke::sample_count).sum();
    assert_eq!(
        summary,
        BiometricSummary {
            format: Format::Sigdata1,
            strokes: sample.strokes.len() as u32,
            samples: samples as u32,
            duration_ms: summary.duration_ms,
            pressure: true,
            pointer_type: Some(PointerType::Pen),
        }
    );
    assert!(
        (9_000..=10_500).contains(&summary.duration_ms),
        "{summary:?}"
    );
    assert!((2_000..=2_400).contains(&samples), "{samples}");
    assert!((5..=8).contains(&summary.strokes), "{summary:?}");
    for options in [
        sample::SampleOptions::touch(2),
        sample::SampleOptions::mouse(3),
    ] {
        let summary = check(&sample::document(&options)).unwrap();
        assert_eq!(summary.pointer_type, Some(options.pointer_type));
        assert!(!summary.pressure);
    }
}

#[test]
fn the_one_dot_capture_is_refused_as_no_signature() {
    let one_dot = document(vec![line(1, 0.0, 0.0, 0.0)]);
    assert_eq!(
        unprocessable_details(&one_dot),
        "biometric_data: 1 sample (at least 20 needed)"
    );
}

#[test]
fn at_least_20_samples() {
    assert_eq!(
        unprocessable_details(&document(vec![line(19, 0.0, 20.0, 1.0)])),
        "biometric_data: 19 samples (at least 20 needed)"
    );
    let summary = check(&document(vec![line(20, 0.0, 20.0, 1.0)])).unwrap();
    assert_eq!((summary.samples, summary.strokes), (20, 1));
}

#[test]
fn duration_from_200_ms_to_120_s() {
    let lasting = |ms: f64| {
        let mut stroke = line(20, 0.0, ms / 19.0, 1.0);
        stroke.t[19] = ms;
        document(vec![stroke])
    };
    assert_eq!(
        unprocessable_details(&lasting(199.0)),
        "biometric_data: the capture lasts 199 ms (at least 200 ms needed)"
    );
    assert_eq!(check(&lasting(200.0)).unwrap().duration_ms, 200);
    // The longest: a last stroke long after the first (pen-up gaps are not sampling).
    let ending_at = |ms: f64| document(vec![line(20, 0.0, 10.0, 1.0), line(1, ms, 0.0, 0.0)]);
    assert_eq!(check(&ending_at(120_000.0)).unwrap().duration_ms, 120_000);
    assert_eq!(
        unprocessable_details(&ending_at(120_001.0)),
        "biometric_data: the capture lasts 120001 ms (at most 120000 ms)"
    );
}

#[test]
fn ink_spans_at_least_10_px() {
    let spanning = |px: f64| document(vec![line(20, 0.0, 20.0, px / 19.0)]);
    assert_eq!(
        unprocessable_details(&spanning(9.99)),
        "biometric_data: the ink spans 9.99 px on its longer side (at least 10 px needed)"
    );
    assert!(check(&spanning(10.0)).is_ok());
    // The longer side counts: a vertical line.
    let mut vertical = line(20, 0.0, 20.0, 0.0);
    vertical.y = (0..20).map(|i| 40.0 + f64::from(i)).collect();
    assert!(check(&document(vec![vertical])).is_ok());
}

#[test]
fn median_sampling_interval_at_most_50_ms() {
    assert!(check(&document(vec![line(20, 0.0, 50.0, 1.0)])).is_ok());
    assert_eq!(
        unprocessable_details(&document(vec![line(20, 0.0, 51.0, 1.0)])),
        "biometric_data: the median interval between samples is 51 ms (at most 50 ms)"
    );
    // Pen-up gaps between strokes are not intervals.
    let gapped = document(vec![line(10, 0.0, 10.0, 2.0), line(10, 5_000.0, 10.0, 2.0)]);
    assert!(check(&gapped).is_ok());
    // Ten intervals of 50 ms, then `more` of `then` ms.
    let two_paces = |more: usize, then: f64| {
        let mut stroke = line(11 + more, 0.0, 50.0, 1.0);
        for i in 11..11 + more {
            stroke.t[i] = stroke.t[10] + (i - 10) as f64 * then;
        }
        document(vec![stroke])
    };
    // Even counts: the mean of the two middle intervals.
    assert_eq!(
        unprocessable_details(&two_paces(10, 52.0)),
        "biometric_data: the median interval between samples is 51 ms (at most 50 ms)"
    );
    // Odd counts: the middle interval itself (ten of 50 ms and eleven of 60 ms: 60, not 55).
    assert_eq!(
        unprocessable_details(&two_paces(11, 60.0)),
        "biometric_data: the median interval between samples is 60 ms (at most 50 ms)"
    );
    let dots: Vec<Stroke> = (0..20)
        .map(|i| line(1, f64::from(i) * 30.0, 0.0, 0.0))
        .map(|mut s| {
            s.x[0] += s.t[0] / 10.0;
            s
        })
        .collect();
    assert_eq!(
        unprocessable_details(&document(dots)),
        "biometric_data: no stroke holds two samples, so the sampling interval cannot be measured"
    );
}

#[test]
fn pressure_counts_only_when_present_everywhere_and_varying() {
    let with_pressure = |values: [Option<f64>; 2]| {
        let strokes = values
            .iter()
            .enumerate()
            .map(|(i, p)| Stroke {
                p: p.map(|p| vec![p; 10]),
                ..line(10, i as f64 * 500.0, 10.0, 2.0)
            })
            .collect();
        check(&document(strokes)).unwrap().pressure
    };
    assert!(with_pressure([Some(0.2), Some(0.5)]));
    assert!(!with_pressure([Some(0.5), Some(0.5)]), "constant");
    assert!(!with_pressure([Some(0.2), None]), "not in every stroke");
    assert!(!with_pressure([None, None]));
}

// ---- sigdata/1: the format's table (400) -------------------------------------------------------

#[test]
fn unequal_arrays_name_the_stroke_and_the_column() {
    let mut strokes = vec![line(20, 0.0, 10.0, 1.0), line(20, 300.0, 10.0, 1.0)];
    let mut third = line(15, 600.0, 10.0, 1.0);
    third.t.pop();
    strokes.push(third);
    assert_eq!(
        invalid_details(&document(strokes.clone()).to_json()),
        "biometric_data: strokes[2].t: 14 values, x has 15"
    );
    strokes[2] = line(15, 600.0, 10.0, 1.0);
    strokes[2].p = Some(vec![0.5; 16]);
    assert_eq!(
        invalid_details(&document(strokes.clone()).to_json()),
        "biometric_data: strokes[2].p: 16 values, x has 15"
    );
    strokes[2] = Stroke::default();
    assert_eq!(
        invalid_details(&document(strokes).to_json()),
        "biometric_data: strokes[2]: must hold at least 1 sample"
    );
}

#[test]
fn t_never_goes_backwards_within_or_across_strokes() {
    let across = document(vec![line(20, 0.0, 10.0, 1.0), line(20, 189.0, 10.0, 1.0)]);
    assert_eq!(
        invalid_details(&across.to_json()),
        "biometric_data: strokes[1].t[0]: 189 is before the previous sample's 190 (t must not decrease)"
    );
    // Equal times across strokes are allowed (non-decreasing).
    assert!(
        check(&document(vec![
            line(20, 0.0, 10.0, 1.0),
            line(20, 190.0, 10.0, 1.0)
        ]))
        .is_ok()
    );
    let mut within = line(20, 0.0, 10.0, 1.0);
    within.t[7] = 55.5;
    assert_eq!(
        invalid_details(&document(vec![within]).to_json()),
        "biometric_data: strokes[0].t[7]: 55.5 is before the previous sample's 60 (t must not decrease)"
    );
    let mut negative = line(20, 0.0, 10.0, 1.0);
    negative.t[0] = -1.0;
    assert!(
        invalid_details(&document(vec![negative]).to_json())
            .starts_with("biometric_data: strokes[0].t[0]: must be a finite number")
    );
}

#[test]
fn strokes_from_1_to_200() {
    let strokes = |n: usize| {
        document(
            (0..n)
                .map(|i| line(2, i as f64 * 30.0, 10.0, 1.0))
                .collect(),
        )
    };
    assert!(sigdata::parse(&strokes(200).to_json()).is_ok());
    assert_eq!(sigdata::check(&strokes(200)), Ok(()));
    assert_eq!(
        invalid_details(&strokes(201).to_json()),
        "biometric_data: strokes: 201 strokes (at most 200)"
    );
    assert_eq!(
        invalid_details(&strokes(0).to_json()),
        "biometric_data: strokes: at least 1 stroke is needed"
    );
}

#[test]
fn at_most_100000_samples_in_all() {
    // Written by hand: 100,000 samples is far more than the API's 307,200 characters can carry,
    // so only the parser itself can be fed it.
    let json = |first: usize, second: usize| {
        let column = |n: usize, start: usize, f: &dyn Fn(usize) -> usize| {
            (0..n)
                .map(|i| f(start + i).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let stroke = |n: usize, start: usize| {
            format!(
                r#"{{"t":[{}],"x":[{}],"y":[{}]}}"#,
                column(n, start, &|i| i),
                column(n, start, &|i| i % 500),
                column(n, start, &|_| 7)
            )
        };
        format!(
            r#"{{"format":"sigdata/1","capture":{{"width":600,"height":200,"pointer_type":"mouse"}},"strokes":[{},{}]}}"#,
            stroke(first, 0),
            stroke(second, first)
        )
        .into_bytes()
    };
    let (_, summary) = validate(&json(50_000, 50_000)).unwrap();
    assert_eq!(summary.samples, 100_000);
    assert_eq!(
        invalid_details(&json(50_000, 50_001)),
        "biometric_data: strokes: 100001 samples in all (at most 100000)"
    );
}

#[test]
fn values_out_of_range_name_their_path() {
    let base = || document(vec![line(20, 0.0, 11.0, 1.0)]);
    type Change = Box<dyn Fn(&mut Document)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|d| d.strokes[0].x[3] = 600.5),
            "biometric_data: strokes[0].x[3]: 600.5 is outside [0, 600]",
        ),
        (
            Box::new(|d| d.strokes[0].y[0] = -0.1),
            "biometric_data: strokes[0].y[0]: -0.1 is outside [0, 200]",
        ),
        (
            Box::new(|d| d.strokes[0].p = Some(vec![1.01; 20])),
            "biometric_data: strokes[0].p[0]: 1.01 is outside [0, 1]",
        ),
        (
            Box::new(|d| d.strokes[0].tilt_x = Some(vec![90.5; 20])),
            "biometric_data: strokes[0].tilt_x[0]: 90.5 is outside [-90, 90]",
        ),
        (
            Box::new(|d| d.strokes[0].tilt_y = Some(vec![-91.0; 20])),
            "biometric_data: strokes[0].tilt_y[0]: -91 is outside [-90, 90]",
        ),
        (
            Box::new(|d| d.capture.width = 0.0),
            "biometric_data: capture.width: must be in (0, 10000], got 0",
        ),
        (
            Box::new(|d| d.capture.height = 10_000.5),
            "biometric_data: capture.height: must be in (0, 10000], got 10000.5",
        ),
        (
            Box::new(|d| d.capture.device_pixel_ratio = Some(16.5)),
            "biometric_data: capture.device_pixel_ratio: must be in (0, 16], got 16.5",
        ),
        (
            Box::new(|d| d.capture.device_pixel_ratio = Some(0.0)),
            "biometric_data: capture.device_pixel_ratio: must be in (0, 16], got 0",
        ),
        (
            Box::new(|d| d.capture.started_at = Some("2026-11-27T11:15:02+01:00".into())),
            "biometric_data: capture.started_at: must be an RFC 3339 UTC timestamp",
        ),
    ];
    for (change, expected) in cases {
        let mut d = base();
        change(&mut d);
        let details = invalid_details(&d.to_json());
        assert!(details.starts_with(expected), "{details} vs {expected}");
    }
    // The edges themselves are accepted.
    let mut edges = base();
    edges.capture.width = 10_000.0;
    edges.capture.device_pixel_ratio = Some(16.0);
    edges.capture.started_at = Some("2026-11-27T10:15:02.123Z".into());
    edges.strokes[0].x[0] = 0.0;
    edges.strokes[0].p = Some(vec![1.0; 20]);
    edges.strokes[0].tilt_x = Some(vec![90.0; 20]);
    edges.strokes[0].tilt_y = Some(vec![-90.0; 20]);
    assert!(check(&edges).is_ok());
}

#[test]
fn json_errors_name_their_path() {
    let valid = String::from_utf8(document(vec![line(20, 0.0, 10.0, 1.0)]).to_json()).unwrap();
    let cases = [
        // Not representable as a finite f64.
        (
            valid.replacen("[100,", "[1e999,", 1),
            "biometric_data: strokes[0].x[0]: ",
        ),
        (
            valid.replacen("[100,", "[NaN,", 1),
            "biometric_data: strokes[0].x[0]: ",
        ),
        (
            valid.replacen("[100,", "[\"100\",", 1),
            "biometric_data: strokes[0].x[0]: invalid type",
        ),
        (
            valid.replacen("\"pen\"", "\"stylus\"", 1),
            "biometric_data: capture.pointer_type: unknown variant `stylus`",
        ),
        (
            valid.replacen("\"y\":", "\"z\":", 1),
            "biometric_data: strokes[0].z: unknown field `z`",
        ),
        (
            valid.replacen("\"capture\":", "\"extra\":1,\"capture\":", 1),
            "biometric_data: extra: unknown field `extra`",
        ),
        (
            valid.replacen(
                ",\"y\":[50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50,50]",
                "",
                1,
            ),
            "biometric_data: strokes[0]: missing field `y`",
        ),
        (
            valid[..valid.len() / 2].to_owned(),
            "biometric_data: strokes[0]",
        ),
    ];
    for (json, expected) in cases {
        let details = invalid_details(json.as_bytes());
        assert!(
            details.starts_with(expected),
            "{details:?} should start with {expected:?}"
        );
        assert!(!details.contains("line 1"), "{details}");
    }
}

#[test]
fn anything_else_is_an_unknown_format() {
    let valid = document(vec![line(20, 0.0, 10.0, 1.0)]).to_json();
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&valid);
    let mut other_version = b"SDI\0 20\0".to_vec();
    other_version.extend_from_slice(&[0; 20]);
    for bytes in [
        b"pen".to_vec(),
        b"{}".to_vec(),
        br#"{"strokes":[[{"x":10,"y":12,"p":0.5,"t":0}]]}"#.to_vec(),
        br#"{"format":"sigdata/2","capture":{}}"#.to_vec(),
        br#"{"format":1}"#.to_vec(),
        br#"[{"format":"sigdata/1"}]"#.to_vec(),
        br#"{"capture":{"format":"sigdata/1"}}"#.to_vec(),
        bom,
        other_version,
        b"SDI\0".to_vec(),
        vec![0xff; 64],
    ] {
        assert_eq!(
            invalid_details(&bytes),
            UNKNOWN_FORMAT,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

// ---- ISO/IEC 19794-7 ------------------------------------------------------------------------------

/// A record assembled byte by byte (independently of the writer): X, Y and T with the given
/// descriptions, then S and F if asked, and the samples as given.
struct Record {
    bytes: Vec<u8>,
}

impl Record {
    fn header(inclusion: u16, descriptions: &[&[u8]]) -> Self {
        let mut bytes = b"SDI\0 10\0".to_vec();
        bytes.extend_from_slice(&inclusion.to_be_bytes());
        for d in descriptions {
            bytes.extend_from_slice(d);
        }
        bytes.push(0); // reserved
        Self { bytes }
    }

    fn body(mut self, flag: u8, count: u32, samples: &[u8]) -> Vec<u8> {
        self.bytes.push(flag);
        self.bytes.extend_from_slice(&count.to_be_bytes()[1..]);
        self.bytes.extend_from_slice(samples);
        self.bytes
    }
}

const X: u16 = 0x8000;
const Y: u16 = 0x4000;
const T: u16 = 0x0100;
const DT: u16 = 0x0080;
const F: u16 = 0x0040;
const S: u16 = 0x0020;
/// Scaling 1 (E = 16, F = 0).
const ONE: [u8; 2] = [0x80, 0x00];

fn be16(v: i32) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

/// `count` samples of X, Y, T (+ S if `tip` gives it): x from `x0` by `dx`, t by `dt` ms.
fn xyt_samples(
    count: usize,
    x0: i32,
    dx: i32,
    dt: i32,
    tip: impl Fn(usize) -> Option<u8>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let i32_i = i as i32;
        out.extend_from_slice(&be16(x0 + i32_i * dx));
        out.extend_from_slice(&be16(-20 - i32_i));
        out.extend_from_slice(&be16(i32_i * dt));
        if let Some(s) = tip(i) {
            out.push(s);
        }
    }
    out
}

fn iso_invalid(bytes: &[u8]) -> String {
    invalid_details(bytes)
}

#[test]
fn scaling_values_decode_as_the_standard_says() {
    assert_eq!(iso19794_7::decode_scaling(0x8000), 1.0);
    assert_eq!(iso19794_7::decode_scaling(0x8400), 1.5);
    assert_eq!(iso19794_7::decode_scaling(0x0000), 2f64.powi(-16));
    assert_eq!(
        iso19794_7::decode_scaling(0xffff),
        2f64.powi(15) * (1.0 + 2047.0 / 2048.0)
    );
    for value in [
        1000.0,
        100.0,
        128.0,
        1.0,
        0.5,
        2f64.powi(-16),
        2f64.powi(15),
    ] {
        let raw = iso19794_7::encode_scaling(value).unwrap();
        assert_eq!(iso19794_7::decode_scaling(raw), value, "{value}");
    }
    // Just below a power of two, the fraction rounds up into the next exponent.
    let nearly_two = iso19794_7::encode_scaling(2.0 - 1e-6).unwrap();
    assert_eq!(iso19794_7::decode_scaling(nearly_two), 2.0);
    for unencodable in [0.0, -1.0, f64::NAN, f64::INFINITY, 2f64.powi(17)] {
        assert_eq!(
            iso19794_7::encode_scaling(unencodable),
            None,
            "{unencodable}"
        );
    }
}

#[test]
fn a_hand_built_record_reads_as_the_layout_says() {
    // X and Y with scaling 1 unit/mm and a declared range; T without scaling (milliseconds);
    // signed values in two's complement.
    let x_desc = [&[0xe0][..], &ONE, &be16(-100), &be16(100)].concat();
    let record = Record::header(X | Y | T, &[&x_desc, &[0x80, 0x80, 0x00], &[0x00]]).body(
        0,
        25,
        &xyt_samples(25, -12, 1, 10, |_| None),
    );
    let (capture, summary) = validate(&record).unwrap();
    assert_eq!(
        summary,
        BiometricSummary {
            format: Format::Iso19794_7,
            strokes: 1,
            samples: 25,
            duration_ms: 240,
            pressure: false,
            pointer_type: None,
        }
    );
    let stroke = &capture.strokes[0];
    assert_eq!(&stroke.x[..3], &[-12.0, -11.0, -10.0]);
    assert_eq!(&stroke.y[..2], &[-20.0, -21.0]);
    assert_eq!(&stroke.t[..2], &[0.0, 10.0]);
    let Geometry::Iso(axes) = &capture.geometry else {
        panic!("ISO geometry")
    };
    assert_eq!(axes.per_mm(), Some((1.0, 1.0)));
    assert_eq!((axes.x.min, axes.x.max), (Some(-100.0), Some(100.0)));
}

#[test]
fn the_tip_switch_is_one_byte_and_splits_strokes() {
    // Down, down, lift (kept: where the pen left), hover (dropped), down, down, lift …
    let pattern = [
        1u8, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    ];
    let samples = xyt_samples(pattern.len(), 0, 1, 10, |i| Some(pattern[i]));
    let record = Record::header(X | Y | T | S, &[&[0x00], &[0x00], &[0x00], &[0x00]]).body(
        0,
        pattern.len() as u32,
        &samples,
    );
    let (capture, summary) = validate(&record).unwrap();
    assert_eq!(summary.strokes, 2);
    assert_eq!(summary.samples, 21, "two hover samples are not ink");
    assert_eq!(capture.strokes[0].sample_count(), 10);
    assert_eq!(capture.strokes[1].sample_count(), 11);
    assert_eq!(capture.strokes[1].t[0], 120.0);

    let mut bad = samples.clone();
    bad[6] = 2; // sample 0's S
    let record = Record::header(X | Y | T | S, &[&[0x00], &[0x00], &[0x00], &[0x00]]).body(
        0,
        pattern.len() as u32,
        &bad,
    );
    assert_eq!(
        iso_invalid(&record),
        "biometric_data: byte 19: sample 0: S is 2 (0 or 1 expected)"
    );

    // The other convention, S in two bytes, is refused with a hint.
    let wide = xyt_samples(pattern.len(), 0, 1, 10, |_| None)
        .chunks(6)
        .zip(pattern)
        .flat_map(|(chunk, s)| [chunk, &[0, s][..]].concat())
        .collect::<Vec<u8>>();
    let record = Record::header(X | Y | T | S, &[&[0x00], &[0x00], &[0x00], &[0x00]]).body(
        0,
        pattern.len() as u32,
        &wide,
    );
    let details = iso_invalid(&record);
    assert!(
        details.starts_with("biometric_data: byte 180: 23 unexpected bytes after the end of the record (is the tip switch S written in 2 bytes?"),
        "{details}"
    );
    // A byte too many per sample is no hint without a tip switch in the samples: none, or a
    // constant one.
    let one_more = xyt_samples(pattern.len(), 0, 1, 10, |_| None);
    let one_more = [&one_more[..], &vec![0; pattern.len()]].concat();
    let cases: [(u16, &[&[u8]], usize); 2] = [
        (X | Y | T, &[&[0x00], &[0x00], &[0x00]], 156),
        (X | Y | T | S, &[&[0x00], &[0x00], &[0x00], &[0x04]], 157),
    ];
    for (channels, descriptions, end) in cases {
        let record =
            Record::header(channels, descriptions).body(0, pattern.len() as u32, &one_more);
        assert_eq!(
            iso_invalid(&record),
            format!("biometric_data: byte {end}: 23 unexpected bytes after the end of the record"),
            "{channels:#x}"
        );
    }
}

#[test]
fn delta_time_with_and_without_a_constant_and_pressure() {
    // DT constant at 200 samples a second (5 ms), F with a declared maximum of 1023.
    let f_desc = [&[0x20][..], &be16(1023)].concat();
    let dt_desc = [&[0x84][..], &[0xbc, 0x80]].concat(); // scaling 200, constant
    assert_eq!(iso19794_7::decode_scaling(0xbc80), 200.0);
    let mut samples = Vec::new();
    for i in 0..60i32 {
        samples.extend_from_slice(&be16(i * 3));
        samples.extend_from_slice(&be16(10));
        samples.extend_from_slice(&be16(i * 15));
    }
    let record = Record::header(X | Y | DT | F, &[&[0x00], &[0x00], &dt_desc, &f_desc])
        .body(0, 60, &samples);
    let (capture, summary) = validate(&record).unwrap();
    assert_eq!((summary.duration_ms, summary.pressure), (295, true));
    assert_eq!(capture.strokes[0].t[0], 5.0, "the first DT counts from 0");
    assert_eq!(capture.strokes[0].p.as_ref().unwrap()[1], 15.0 / 1023.0);

    // DT per sample, no scaling (milliseconds); F above its declared maximum is refused.
    let mut samples = Vec::new();
    for i in 0..20i32 {
        samples.extend_from_slice(&be16(i * 3));
        samples.extend_from_slice(&be16(10));
        samples.extend_from_slice(&be16(if i == 0 { 0 } else { 12 }));
        samples.extend_from_slice(&be16(if i == 5 { 2000 } else { 500 }));
    }
    let record =
        Record::header(X | Y | DT | F, &[&[0x00], &[0x00], &[0x00], &f_desc]).body(0, 20, &samples);
    assert_eq!(
        iso_invalid(&record),
        "biometric_data: byte 67: sample 5: F is 2000, outside the declared maximum 1023"
    );

    // T in units of 2 ms (scaling 500 a second), and both tilt channels, in degrees.
    const TX: u16 = 0x0010;
    const TY: u16 = 0x0008;
    let t_desc = [
        &[0x80][..],
        &iso19794_7::encode_scaling(500.0).unwrap().to_be_bytes(),
    ]
    .concat();
    let mut samples = Vec::new();
    for i in 0..30i32 {
        for value in [i * 3, 10, i * 5, 30, -20] {
            samples.extend_from_slice(&be16(value));
        }
    }
    let record = Record::header(
        X | Y | T | TX | TY,
        &[&[0x00], &[0x00], &t_desc, &[0x00], &[0x00]],
    )
    .body(0, 30, &samples);
    let (capture, summary) = validate(&record).unwrap();
    assert_eq!(summary.duration_ms, 290);
    let stroke = &capture.strokes[0];
    assert_eq!(&stroke.t[..3], &[0.0, 10.0, 20.0]);
    assert_eq!(stroke.tilt_x, Some(vec![30.0; 30]));
    assert_eq!(stroke.tilt_y, Some(vec![-20.0; 30]));

    // A declared maximum of 0 is no full scale: the default one (65535) applies.
    let mut samples = Vec::new();
    for i in 0..20i32 {
        samples.extend_from_slice(&be16(i * 3));
        samples.extend_from_slice(&be16(10));
        samples.extend_from_slice(&be16(i * 12));
        samples.extend_from_slice(&be16(0));
    }
    let zero_max = [&[0x20][..], &be16(0)].concat();
    let record = Record::header(X | Y | T | F, &[&[0x00], &[0x00], &[0x00], &zero_max])
        .body(0, 20, &samples);
    let (capture, _) = validate(&record).unwrap();
    assert_eq!(capture.strokes[0].p, Some(vec![0.0; 20]));
}

#[test]
fn truncated_and_inconsistent_records_name_the_byte() {
    let xyt = |samples: &[u8], count: u32| {
        Record::header(X | Y | T, &[&[0x00], &[0x00], &[0x00]]).body(0, count, samples)
    };
    let good = xyt(&xyt_samples(20, 0, 1, 11, |_| None), 20);
    assert!(validate(&good).is_ok());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            good[..9].to_vec(),
            "byte 8: the record ends inside the channel inclusion field",
        ),
        (
            good[..11].to_vec(),
            "byte 11: the record ends inside the description of channel Y",
        ),
        (
            [&good[..10], &[0x80, 0x80]].concat(),
            "byte 11: the record ends inside the description of channel X",
        ),
        (
            good[..13].to_vec(),
            "byte 13: the record ends inside the reserved byte after the channel descriptions",
        ),
        (
            good[..16].to_vec(),
            "byte 15: the record ends inside the sample count",
        ),
        (
            good[..good.len() - 1].to_vec(),
            "byte 132: the record ends inside sample 19 of 20 (6 bytes each)",
        ),
        (
            [&good[..], &[0, 0]].concat(),
            "byte 138: 2 unexpected bytes after the end of the record",
        ),
        (
            Record::header(X | T, &[&[0x00], &[0x00]]).body(0, 0, &[]),
            "byte 8: the channel inclusion field must include X and Y",
        ),
        (
            Record::header(X | Y, &[&[0x00], &[0x00]]).body(0, 0, &[]),
            "byte 8: the channel inclusion field must include exactly one of T and DT",
        ),
        (
            Record::header(X | Y | T | DT, &[&[0x00], &[0x00], &[0x00], &[0x00]]).body(0, 0, &[]),
            "byte 8: the channel inclusion field must include exactly one of T and DT",
        ),
        (
            Record::header(
                X | Y | T,
                &[&[0x60, 0x00, 0x05, 0x00, 0x01], &[0x00], &[0x00]],
            )
            .body(0, 0, &[]),
            "byte 10: channel X: the declared minimum 5 is above the declared maximum 1",
        ),
        (
            xyt(&[], 100_001),
            "byte 15: 100001 samples (at most 100000)",
        ),
        (
            xyt(&[], 100_000),
            "byte 18: the record ends inside sample 0 of 100000 (6 bytes each)",
        ),
        (
            {
                let mut samples = xyt_samples(20, 0, 1, 11, |_| None);
                samples[4 + 6 * 3..6 + 6 * 3].copy_from_slice(&be16(5));
                xyt(&samples, 20)
            },
            "byte 36: sample 3: T goes backwards (5 after 22)",
        ),
        (
            Record::header(X | Y | T, &[&[0x00], &[0x00], &[0x00]]).body(
                1,
                20,
                &xyt_samples(20, 0, 1, 11, |_| None),
            ),
            "byte 138: the record ends inside the extended data's length",
        ),
        (
            [
                &Record::header(X | Y | T, &[&[0x00], &[0x00], &[0x00]]).body(
                    1,
                    20,
                    &xyt_samples(20, 0, 1, 11, |_| None),
                )[..],
                &[0, 4, 1, 2],
            ]
            .concat(),
            "byte 140: the record ends inside the extended data",
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(iso_invalid(&bytes), format!("biometric_data: {expected}"));
    }
    // A declared range of one value is a range.
    let x_desc = [&[0x60][..], &be16(7), &be16(7)].concat();
    let one_value = Record::header(X | Y | T, &[&x_desc, &[0x00], &[0x00]]).body(
        0,
        20,
        &xyt_samples(20, 7, 0, 11, |_| None),
    );
    assert!(validate(&one_value).is_ok());
    // Every channel constant: samples of no bytes, all at one point.
    let dt_desc = [&[0x84][..], &[0xbc, 0x80]].concat();
    let all_constant = Record::header(X | Y | DT, &[&[0x04], &[0x04], &dt_desc]).body(0, 20, &[]);
    assert_eq!(
        match validate(&all_constant) {
            Err(ApiError::Unprocessable(d)) => d,
            other => panic!("{other:?}"),
        },
        "biometric_data: the capture lasts 95 ms (at least 200 ms needed)"
    );
    // Extended data of the length given is fine.
    let extended = [
        &Record::header(X | Y | T, &[&[0x00], &[0x00], &[0x00]]).body(
            0x80,
            20,
            &xyt_samples(20, 0, 1, 11, |_| None),
        )[..],
        &[0, 3, 7, 8, 9],
    ]
    .concat();
    assert!(validate(&extended).is_ok());
}

#[test]
fn iso_quality_uses_millimetres_or_raw_units() {
    let record = |scaling: &[u8], dx: i32| {
        let desc = [&[0x80][..], scaling].concat();
        let desc = if scaling.is_empty() { vec![0x00] } else { desc };
        Record::header(X | Y | T, &[&desc, &desc, &[0x00]]).body(
            0,
            20,
            &xyt_samples(20, 0, dx, 11, |_| None),
        )
    };
    // 0xa200: E = 20, F = 512, so 2^4 · 1.25 = 20 units per millimetre.
    assert_eq!(iso19794_7::decode_scaling(0xa200), 20.0);
    // 19 units on X at 20 units/mm is 0.95 mm; Y spans 19 units too.
    assert_eq!(
        match validate(&record(&[0xa2, 0x00], 1)) {
            Err(ApiError::Unprocessable(d)) => d,
            other => panic!("{other:?}"),
        },
        "biometric_data: the ink spans 0.95 mm on its longer side (at least 1 mm needed)"
    );
    assert!(validate(&record(&[0xa2, 0x00], 2)).is_ok());
    // Without scaling values: 10 raw units; here Y spans 19.
    assert!(validate(&record(&[], 0)).is_ok());
    // Y constant (no value in the samples), X moving 9 units.
    let mut samples = Vec::new();
    for i in 0..20i32 {
        samples.extend_from_slice(&be16(i / 2));
        samples.extend_from_slice(&be16(i * 11));
    }
    let record = Record::header(X | Y | T, &[&[0x00], &[0x04], &[0x00]]).body(0, 20, &samples);
    assert_eq!(
        match validate(&record) {
            Err(ApiError::Unprocessable(d)) => d,
            other => panic!("{other:?}"),
        },
        "biometric_data: the ink spans 9 units on its longer side (at least 10 units needed)"
    );
    // A constant channel's value is its mean, or 0 without one.
    let mut samples = Vec::new();
    for i in 0..20i32 {
        samples.extend_from_slice(&be16(i * 2));
        samples.extend_from_slice(&be16(i * 11));
    }
    for (y_desc, y) in [(vec![0x04], 0.0), ([&[0x14][..], &be16(-7)].concat(), -7.0)] {
        let record = Record::header(X | Y | T, &[&[0x00], &y_desc, &[0x00]]).body(0, 20, &samples);
        let (capture, _) = validate(&record).unwrap();
        assert_eq!(capture.strokes[0].y, vec![y; 20], "{y_desc:?}");
        assert_eq!(capture.strokes[0].x[19], 38.0);
    }
}

// ---- conversion ---------------------------------------------------------------------------------

#[test]
fn a_pen_capture_converts_to_iso_and_back() {
    let original = sample::document(&sample::SampleOptions::pen(4));
    let (capture, summary) = validate(&original.to_json()).unwrap();
    let iso = convert::convert(&capture, Format::Iso19794_7).unwrap();
    assert!(iso.notes.is_empty(), "{:?}", iso.notes);
    let (iso_capture, iso_summary) = validate(&iso.bytes).unwrap();
    assert_eq!(
        iso_summary,
        BiometricSummary {
            format: Format::Iso19794_7,
            pointer_type: None,
            ..summary.clone()
        }
    );
    let back = convert::convert(&iso_capture, Format::Sigdata1).unwrap();
    let (_, back_summary) = validate(&back.bytes).unwrap();
    assert_eq!(back_summary, summary);
    let same = convert::convert(&capture, Format::Sigdata1).unwrap_err();
    assert_eq!(same.to_string(), "the data is already sigdata/1");
}

#[test]
fn times_beyond_16_bits_are_written_as_delta_time() {
    let late = document(vec![
        line(20, 70_000.0, 10.0, 1.0),
        line(20, 100_000.0, 10.0, 1.0),
    ]);
    let (capture, _) = validate(&late.to_json()).unwrap();
    let iso = convert::convert(&capture, Format::Iso19794_7).unwrap();
    assert_eq!(
        iso.notes,
        ["the first sample's time (70000 ms) does not fit in a 16-bit DT: times now start at 0"]
    );
    let inclusion = u16::from_be_bytes([iso.bytes[8], iso.bytes[9]]);
    assert_eq!(inclusion & Channel::Dt.bit(), Channel::Dt.bit());
    let (back, summary) = validate(&iso.bytes).unwrap();
    assert_eq!(summary.duration_ms, 30_190);
    assert_eq!(back.strokes[1].t[0], 30_000.0);

    let fits = document(vec![
        line(20, 10_000.0, 10.0, 1.0),
        line(20, 60_000.0, 10.0, 1.0),
    ]);
    let (capture, _) = validate(&fits.to_json()).unwrap();
    let iso = convert::convert(&capture, Format::Iso19794_7).unwrap();
    assert!(iso.notes.is_empty());
    let inclusion = u16::from_be_bytes([iso.bytes[8], iso.bytes[9]]);
    assert_eq!(inclusion & Channel::T.bit(), Channel::T.bit());

    let gap = document(vec![
        line(20, 0.0, 10.0, 1.0),
        line(20, 70_000.0, 10.0, 1.0),
    ]);
    let (capture, _) = validate(&gap.to_json()).unwrap();
    assert_eq!(
        convert::convert(&capture, Format::Iso19794_7)
            .unwrap_err()
            .to_string(),
        "sample 20 comes 69810 ms after the previous one: more than a 16-bit DT in milliseconds can hold"
    );
}

#[test]
fn the_writer_follows_the_layout() {
    let record = iso19794_7::write(
        &[
            (Channel::S, Description::default()),
            (
                Channel::X,
                Description {
                    scaling: Some(1.0),
                    ..Description::default()
                },
            ),
            (Channel::Y, Description::default()),
            (
                Channel::T,
                Description {
                    min: Some(0),
                    ..Description::default()
                },
            ),
        ],
        2,
        |sample, channel| match channel {
            Channel::X => -1 - sample as i32,
            Channel::S => 1,
            _ => 7,
        },
    );
    let expected = [
        &b"SDI\0 10\0"[..],
        &(X | Y | T | S).to_be_bytes(),
        &[0x80, 0x80, 0x00], // X: scaling 1
        &[0x00],             // Y
        &[0x40, 0x00, 0x00], // T: min 0
        &[0x00],             // S
        &[0x00],             // reserved
        &[0x00, 0x00, 0x00, 0x02],
        &[0xff, 0xff, 0x00, 0x07, 0x00, 0x07, 0x01],
        &[0xff, 0xfe, 0x00, 0x07, 0x00, 0x07, 0x01],
    ]
    .concat();
    assert_eq!(record, expected);
}

#[test]
fn the_writer_sets_every_preamble_flag_it_is_given_and_writes_a_channel_once() {
    let every_flag = Description {
        scaling: Some(1.0),
        min: Some(-2),
        max: Some(3),
        mean: Some(1),
        std: Some(4),
        constant: true,
        linear_component_removed: true,
    };
    let only_std = Description {
        std: Some(9),
        ..Description::default()
    };
    let record = iso19794_7::write(
        &[
            (Channel::X, every_flag),
            (Channel::Y, only_std),
            // Listed twice: the first description is the one written.
            (Channel::X, Description::default()),
        ],
        1,
        |_, _| 5,
    );
    let expected = [
        &b"SDI\0 10\0"[..],
        &(X | Y).to_be_bytes(),
        // X: every flag, then scaling 1, min -2, max 3, mean 1, std 4; constant, so no values.
        &[
            0xfe, 0x80, 0x00, 0xff, 0xfe, 0x00, 0x03, 0x00, 0x01, 0x00, 0x04,
        ],
        &[0x08, 0x00, 0x09], // Y: std 9
        &[0x00],             // reserved
        &[0x00, 0x00, 0x00, 0x01],
        &[0x00, 0x05], // the one sample: Y only
    ]
    .concat();
    assert_eq!(record, expected);
}

// ---- properties -----------------------------------------------------------------------------------

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn refusal_names_the_field(result: Result<(Capture, BiometricSummary), ApiError>) {
        match result {
            Ok(_) => {}
            Err(ApiError::InvalidInput(d) | ApiError::Unprocessable(d)) => {
                assert!(d.starts_with("biometric_data: "), "{d}")
            }
            Err(other) => panic!("not a 400 or 422: {other:?}"),
        }
    }

    fn small_valid() -> Document {
        let mut stroke = line(24, 0.0, 20.0, 2.0);
        stroke.p = Some((0..24).map(|i| f64::from(i) / 30.0).collect());
        stroke.tilt_x = Some(vec![30.0; 24]);
        document(vec![stroke, line(3, 600.0, 20.0, 1.0)])
    }

    /// A change to a valid document: somewhere, something slightly wrong.
    #[derive(Debug, Clone)]
    enum Mutation {
        SetNumber(usize, f64),
        SetText(usize, String),
        SetNull(usize),
        RemoveKey(usize),
        AddKey(usize, String),
        TruncateArray(usize, usize),
        DuplicateStroke(usize),
        CutBytes(usize),
        FlipByte(usize, u8),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (
                any::<usize>(),
                prop_oneof![any::<f64>(), -1e3..1e5f64, Just(-0.0), Just(1e308)]
            )
                .prop_map(|(at, v)| Mutation::SetNumber(at, v)),
            (any::<usize>(), "[a-z/0-9]{0,10}").prop_map(|(at, s)| Mutation::SetText(at, s)),
            any::<usize>().prop_map(Mutation::SetNull),
            any::<usize>().prop_map(Mutation::RemoveKey),
            (any::<usize>(), "[a-z_]{1,8}").prop_map(|(at, k)| Mutation::AddKey(at, k)),
            (any::<usize>(), 0..30usize).prop_map(|(at, n)| Mutation::TruncateArray(at, n)),
            any::<usize>().prop_map(Mutation::DuplicateStroke),
            any::<usize>().prop_map(Mutation::CutBytes),
            (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::FlipByte(at, b)),
        ]
    }

    /// How many values the JSON tree holds, itself included.
    fn count(value: &serde_json::Value) -> usize {
        1 + match value {
            serde_json::Value::Array(items) => items.iter().map(count).sum(),
            serde_json::Value::Object(map) => map.values().map(count).sum(),
            _ => 0,
        }
    }

    fn apply(mutation: &Mutation) -> Vec<u8> {
        let mut tree = serde_json::to_value(small_valid()).unwrap();
        // Changes the value at depth-first position `at` (modulo the tree's size).
        let pick = |tree: &mut serde_json::Value,
                    at: usize,
                    change: &mut dyn FnMut(&mut serde_json::Value)| {
            let mut index = at % count(tree);
            walk(tree, &mut index, change);
        };
        match mutation.clone() {
            Mutation::SetNumber(at, v) => pick(&mut tree, at, &mut |t| {
                *t = serde_json::Number::from_f64(v)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }),
            Mutation::SetText(at, s) => pick(&mut tree, at, &mut |t| {
                *t = serde_json::Value::String(s.clone())
            }),
            Mutation::SetNull(at) => pick(&mut tree, at, &mut |t| *t = serde_json::Value::Null),
            Mutation::RemoveKey(at) => pick(&mut tree, at, &mut |t| {
                if let Some(map) = t.as_object_mut() {
                    let key = map.keys().nth(at % map.len().max(1)).cloned();
                    if let Some(key) = key {
                        map.remove(&key);
                    }
                }
            }),
            Mutation::AddKey(at, k) => pick(&mut tree, at, &mut |t| {
                if let Some(map) = t.as_object_mut() {
                    map.insert(k.clone(), serde_json::json!(1));
                }
            }),
            Mutation::TruncateArray(at, n) => pick(&mut tree, at, &mut |t| {
                if let Some(items) = t.as_array_mut() {
                    items.truncate(n);
                }
            }),
            Mutation::DuplicateStroke(n) => {
                let strokes = tree["strokes"].as_array_mut().unwrap();
                let copy = strokes[n % strokes.len()].clone();
                for _ in 0..(n % 300) {
                    strokes.push(copy.clone());
                }
            }
            Mutation::CutBytes(at) => {
                let bytes = serde_json::to_vec(&tree).unwrap();
                return bytes[..at % bytes.len()].to_vec();
            }
            Mutation::FlipByte(at, b) => {
                let mut bytes = serde_json::to_vec(&tree).unwrap();
                let len = bytes.len();
                bytes[at % len] = b;
                return bytes;
            }
        }
        serde_json::to_vec(&tree).unwrap()
    }

    fn walk(
        value: &mut serde_json::Value,
        index: &mut usize,
        change: &mut dyn FnMut(&mut serde_json::Value),
    ) -> bool {
        if *index == 0 {
            change(value);
            return true;
        }
        *index -= 1;
        match value {
            serde_json::Value::Array(items) => items.iter_mut().any(|v| walk(v, index, change)),
            serde_json::Value::Object(map) => map.values_mut().any(|v| walk(v, index, change)),
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            refusal_names_the_field(validate(&bytes));
        }

        #[test]
        fn arbitrary_iso_bodies_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let bytes = [&iso19794_7::MAGIC[..], &tail].concat();
            refusal_names_the_field(validate(&bytes));
        }

        #[test]
        fn near_valid_json_never_panics(mutation in mutation()) {
            refusal_names_the_field(validate(&apply(&mutation)));
        }

        #[test]
        fn near_valid_iso_never_panics(at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
            let (capture, _) = validate(&small_valid().to_json()).unwrap();
            let mut iso = convert::convert(&capture, Format::Iso19794_7).unwrap().bytes;
            let len = iso.len();
            if cut { iso.truncate(at % len) } else { iso[at % len] = byte }
            refusal_names_the_field(validate(&iso));
        }
    }

    /// A structurally valid capture: 1–6 strokes of 1–40 samples, times from `origin`.
    fn capture() -> impl Strategy<Value = Document> {
        (
            1.0..10_000.0f64,
            1.0..10_000.0f64,
            prop_oneof![Just(0.0), 0.0..70_000.0f64],
            proptest::collection::vec(
                (1..40usize, 0.0..300.0f64, any::<bool>(), any::<bool>()),
                1..6,
            ),
            any::<u64>(),
        )
            .prop_map(|(width, height, origin, shapes, seed)| {
                let mut state = seed;
                let mut unit = move || {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 11) as f64 / (1u64 << 53) as f64
                };
                let mut t = origin;
                let strokes = shapes
                    .into_iter()
                    .map(|(n, gap, pressure, tilt)| {
                        t += gap;
                        let mut stroke = Stroke::default();
                        for _ in 0..n {
                            t += unit() * 20.0;
                            stroke.t.push((t * 10.0).round() / 10.0);
                            stroke.x.push(unit() * width);
                            stroke.y.push(unit() * height);
                        }
                        stroke.p = pressure.then(|| (0..n).map(|_| unit()).collect());
                        stroke.tilt_x =
                            tilt.then(|| (0..n).map(|_| unit() * 180.0 - 90.0).collect());
                        stroke
                    })
                    .collect();
                Document {
                    format: Tag::Sigdata1,
                    capture: CaptureInfo {
                        width,
                        height,
                        ..area()
                    },
                    strokes,
                }
            })
    }

    fn flat(strokes: &[Stroke], column: fn(&Stroke) -> &Vec<f64>) -> Vec<f64> {
        strokes
            .iter()
            .flat_map(|s| column(s).iter().copied())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn sigdata_to_iso_and_back_keeps_samples_times_and_coordinates(original in capture()) {
            let capture = sigdata::parse(&original.to_json()).unwrap();
            let iso = convert::convert(&capture, Format::Iso19794_7);
            let last_t = original.strokes.iter().rev().find_map(|s| s.t.last()).copied().unwrap_or(0.0);
            let iso = match iso {
                Ok(iso) => iso,
                // A pen-up gap beyond 65.5 s cannot be a 16-bit DT: the one refusal allowed.
                Err(e) => { prop_assert!(e.0.contains("16-bit DT"), "{e}"); return Ok(()); }
            };
            let back_iso = iso19794_7::parse(&iso.bytes).unwrap();
            let back = sigdata::parse(&convert::convert(&back_iso, Format::Sigdata1).unwrap().bytes).unwrap();
            let step_px = convert::CSS_PX_PER_MM / convert::coordinate_scaling(&original.capture);
            let moved = if iso.notes.iter().any(|n| n.contains("times now start at 0")) {
                original.strokes[0].t[0].round()
            } else {
                0.0
            };
            let pairs = |column: fn(&Stroke) -> &Vec<f64>| {
                flat(&original.strokes, column).into_iter().zip(flat(&back.strokes, column)).collect::<Vec<_>>()
            };
            prop_assert_eq!(back.sample_count(), capture.sample_count());
            for (before, after) in pairs(|s| &s.t) {
                prop_assert!((before - moved - after).abs() <= 1.0, "t {} → {}", before, after);
            }
            for (before, after) in pairs(|s| &s.x).into_iter().chain(pairs(|s| &s.y)) {
                prop_assert!((before - after).abs() <= step_px, "{} → {} (step {})", before, after, step_px);
            }
            if original.strokes.iter().all(|s| s.p.is_some()) {
                let before = original.strokes.iter().flat_map(|s| s.p.clone().unwrap());
                let after = back.strokes.iter().flat_map(|s| s.p.clone().unwrap());
                for (b, a) in before.zip(after) {
                    prop_assert!((b - a).abs() <= 1.0 / 65_535.0, "p {} → {}", b, a);
                }
            }
            prop_assert!(last_t >= 0.0);
        }
    }
}

//! The biometric fixture corpus (`tests/fixtures/biometric/`): pen, touch and mouse captures in
//! sigdata/1; ISO/IEC 19794-7 records with and without pressure, with T and with DT, and one per
//! layout choice of `docs/biometric-data.md`; one bad file per rule, 400 and 422. Every file on
//! disk must be listed here with its answer, and every listed fixture must be on disk.
//!
//! The table below also writes the corpus: `cargo test -p biosign-shared --test biometric_corpus
//! -- --ignored` (ISO records are assembled byte by byte here, not with the crate's writer, so
//! that the reader is checked against an independent account of the layout).

use std::collections::BTreeSet;
use std::path::PathBuf;

use biosign_shared::ApiError;
use biosign_shared::capture::sample::{self, SampleOptions};
use biosign_shared::capture::{self, Format, PointerType, convert};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/biometric")
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Accepted {
        format: Format,
        pointer_type: Option<PointerType>,
        pressure: bool,
        /// (strokes, samples) where the fixture fixes them.
        counts: Option<(u32, u32)>,
    },
    Invalid(&'static str),
    Unprocessable(&'static str),
}

struct Fixture {
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

const UNKNOWN: &str = "biometric_data: unknown format (expected sigdata/1 or ISO/IEC 19794-7)";

// ---- building blocks --------------------------------------------------------------------------

fn sigdata(seconds: f64, options: SampleOptions) -> Vec<u8> {
    sample::document(&SampleOptions { seconds, ..options }).to_json()
}

/// A sigdata/1 document from its strokes' JSON, on a 600×200 pen area.
fn document(strokes: &str) -> Vec<u8> {
    document_with(
        r#"{"width":600,"height":200,"pointer_type":"pen"}"#,
        strokes,
    )
}

fn document_with(capture: &str, strokes: &str) -> Vec<u8> {
    format!(r#"{{"format":"sigdata/1","capture":{capture},"strokes":[{strokes}]}}"#).into_bytes()
}

/// One stroke of `n` samples from `t0`, every `dt` ms, moving `dx` px right each.
fn stroke(n: usize, t0: f64, dt: f64, dx: f64) -> String {
    let column = |f: &dyn Fn(usize) -> f64| {
        (0..n)
            .map(|i| f(i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"t":[{}],"x":[{}],"y":[{}]}}"#,
        column(&|i| t0 + i as f64 * dt),
        column(&|i| 100.0 + i as f64 * dx),
        column(&|_| 80.0)
    )
}

fn good_stroke() -> String {
    stroke(24, 0.0, 20.0, 2.0)
}

const X: u16 = 0x8000;
const Y: u16 = 0x4000;
const T: u16 = 0x0100;
const DT: u16 = 0x0080;
const F: u16 = 0x0040;
const S: u16 = 0x0020;

fn be(v: i32) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

/// `SDI\0 10\0`, the inclusion field, the descriptions, the reserved byte.
fn iso_header(inclusion: u16, descriptions: &[&[u8]]) -> Vec<u8> {
    let mut out = b"SDI\0 10\0".to_vec();
    out.extend_from_slice(&inclusion.to_be_bytes());
    for d in descriptions {
        out.extend_from_slice(d);
    }
    out.push(0);
    out
}

fn iso_body(mut header: Vec<u8>, flag: u8, count: u32, samples: &[u8]) -> Vec<u8> {
    header.push(flag);
    header.extend_from_slice(&count.to_be_bytes()[1..]);
    header.extend_from_slice(samples);
    header
}

/// Samples of X, Y, T (+ S): x from 0 by `dx` units, y falling from -20, t by `dt` units.
fn xyt(n: usize, dx: i32, dt: i32, tip: &dyn Fn(usize) -> Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let i32_i = i as i32;
        out.extend_from_slice(&be(i32_i * dx));
        out.extend_from_slice(&be(-20 - i32_i));
        out.extend_from_slice(&be(i32_i * dt));
        if let Some(s) = tip(i) {
            out.push(s);
        }
    }
    out
}

/// A plain record: X, Y, T without attributes (raw units, milliseconds), 25 samples.
fn plain_iso() -> Vec<u8> {
    iso_body(
        iso_header(X | Y | T, &[&[0], &[0], &[0]]),
        0,
        25,
        &xyt(25, 1, 11, &|_| None),
    )
}

fn pen_iso(seconds: f64, seed: u64) -> Vec<u8> {
    let json = sigdata(seconds, SampleOptions::pen(seed));
    let (capture, _) = capture::validate(&json).expect("a valid sample");
    convert::convert(&capture, Format::Iso19794_7)
        .expect("converts")
        .bytes
}

fn accepted(format: Format, pointer_type: Option<PointerType>, pressure: bool) -> Expect {
    Expect::Accepted {
        format,
        pointer_type,
        pressure,
        counts: None,
    }
}

fn counted(format: Format, pressure: bool, strokes: u32, samples: u32) -> Expect {
    let pointer_type = (format == Format::Sigdata1).then_some(PointerType::Pen);
    Expect::Accepted {
        format,
        pointer_type,
        pressure,
        counts: Some((strokes, samples)),
    }
}

// ---- the corpus -------------------------------------------------------------------------------

fn corpus() -> Vec<Fixture> {
    use Expect::{Invalid, Unprocessable};
    let fixture = |name, bytes, expect| Fixture {
        name,
        bytes,
        expect,
    };
    let iso = Format::Iso19794_7;
    let sig = Format::Sigdata1;
    let mut fixtures = vec![
        // Accepted captures.
        fixture(
            "pen.sigdata.json",
            sigdata(4.0, SampleOptions::pen(1)),
            accepted(sig, Some(PointerType::Pen), true),
        ),
        fixture(
            "touch.sigdata.json",
            sigdata(5.0, SampleOptions::touch(2)),
            accepted(sig, Some(PointerType::Touch), false),
        ),
        fixture(
            "mouse.sigdata.json",
            sigdata(5.0, SampleOptions::mouse(3)),
            accepted(sig, Some(PointerType::Mouse), false),
        ),
        fixture(
            "minimal.sigdata.json",
            document(&good_stroke()),
            counted(sig, false, 1, 24),
        ),
        fixture(
            "iso-pen-t-pressure.bin",
            pen_iso(4.0, 1),
            accepted(iso, None, true),
        ),
        fixture(
            "iso-t-no-pressure.bin",
            plain_iso(),
            counted(iso, false, 1, 25),
        ),
        fixture(
            "iso-dt-no-pressure.bin",
            {
                let mut samples = Vec::new();
                for i in 0..30 {
                    samples.extend_from_slice(&be(i * 2));
                    samples.extend_from_slice(&be(40));
                    samples.extend_from_slice(&be(if i == 0 { 0 } else { 9 }));
                }
                iso_body(iso_header(X | Y | DT, &[&[0], &[0], &[0]]), 0, 30, &samples)
            },
            counted(iso, false, 1, 30),
        ),
        fixture(
            "iso-dt-constant.bin",
            {
                // DT constant at 200 samples a second (scaling 0xbc80 = 200); F up to 1023.
                let mut samples = Vec::new();
                for i in 0..60 {
                    samples.extend_from_slice(&be(i * 3));
                    samples.extend_from_slice(&be(10));
                    samples.extend_from_slice(&be(200 + i * 10));
                }
                let f = [&[0x20][..], &be(1023)].concat();
                iso_body(
                    iso_header(X | Y | DT | F, &[&[0], &[0], &[0x84, 0xbc, 0x80], &f]),
                    0,
                    60,
                    &samples,
                )
            },
            counted(iso, true, 1, 60),
        ),
        fixture(
            "iso-negative-coordinates.bin",
            {
                // Two's complement: X from -12, Y from -20 down, 1 unit per mm (0x8000).
                let d = [&[0x80][..], &[0x80, 0x00]].concat();
                let mut samples = Vec::new();
                for i in 0..25 {
                    samples.extend_from_slice(&be(-12 + i));
                    samples.extend_from_slice(&be(-20 - i));
                    samples.extend_from_slice(&be(i * 10));
                }
                iso_body(iso_header(X | Y | T, &[&d, &d, &[0]]), 0, 25, &samples)
            },
            counted(iso, false, 1, 25),
        ),
        fixture(
            "iso-extended-data.bin",
            {
                let mut record = iso_body(
                    iso_header(X | Y | T, &[&[0], &[0], &[0]]),
                    0x01,
                    25,
                    &xyt(25, 1, 11, &|_| None),
                );
                record.extend_from_slice(&[0, 4, 0xde, 0xad, 0xbe, 0xef]);
                record
            },
            counted(iso, false, 1, 25),
        ),
        fixture(
            "iso-tip-switch-hover.bin",
            {
                // Down ×12, lift, hover ×3, down ×12, lift: 2 strokes of 13 samples.
                let tip = |i: usize| match i {
                    12 | 28 => 0,
                    13..=15 => 0,
                    _ => 1,
                };
                iso_body(
                    iso_header(X | Y | T | S, &[&[0], &[0], &[0], &[0]]),
                    0,
                    29,
                    &xyt(29, 1, 11, &|i| Some(tip(i))),
                )
            },
            counted(iso, false, 2, 26),
        ),
        // Unknown formats.
        fixture("bad-unknown-format.bin", vec![0x13, 0x37, 0, 0xff, 0x42], Invalid(UNKNOWN)),
        fixture(
            "bad-old-demo-body.json",
            br#"{"strokes":[[{"x":10,"y":12,"p":0.5,"t":0}]]}"#.to_vec(),
            Invalid(UNKNOWN),
        ),
        fixture(
            "bad-sigdata-2.json",
            br#"{"format":"sigdata/2","capture":{"width":600,"height":200,"pointer_type":"pen"},"strokes":[]}"#.to_vec(),
            Invalid(UNKNOWN),
        ),
        fixture(
            "bad-byte-order-mark.json",
            [&b"\xef\xbb\xbf"[..], &document(&good_stroke())].concat(),
            Invalid(UNKNOWN),
        ),
        fixture(
            "bad-iso-version-20.bin",
            [&b"SDI\0 20\0"[..], &plain_iso()[8..]].concat(),
            Invalid(UNKNOWN),
        ),
        // sigdata/1: the format's table.
        fixture(
            "bad-unknown-field.json",
            document_with(
                r#"{"width":600,"height":200,"pointer_type":"pen","color":"blue"}"#,
                &good_stroke(),
            ),
            Invalid("biometric_data: capture.color: unknown field `color`"),
        ),
        fixture(
            "bad-wrong-type.json",
            document(&good_stroke().replacen("[0,", "[\"0\",", 1)),
            Invalid("biometric_data: strokes[0].t[0]: invalid type: string \"0\", expected f64"),
        ),
        fixture(
            "bad-missing-field.json",
            document(r#"{"t":[0,20],"x":[1,2]}"#),
            Invalid("biometric_data: strokes[0]: missing field `y`"),
        ),
        fixture(
            "bad-truncated.json",
            document(&good_stroke())[..120].to_vec(),
            Invalid("biometric_data: strokes[0].t"),
        ),
        fixture(
            "bad-non-finite.json",
            document(&good_stroke().replacen("[100,", "[1e999,", 1)),
            Invalid("biometric_data: strokes[0].x[0]: number out of range"),
        ),
        fixture(
            "bad-width-zero.json",
            document_with(r#"{"width":0,"height":200,"pointer_type":"pen"}"#, &good_stroke()),
            Invalid("biometric_data: capture.width: must be in (0, 10000], got 0"),
        ),
        fixture(
            "bad-height-over-10000.json",
            document_with(r#"{"width":600,"height":10001,"pointer_type":"pen"}"#, &good_stroke()),
            Invalid("biometric_data: capture.height: must be in (0, 10000], got 10001"),
        ),
        fixture(
            "bad-pointer-type.json",
            document_with(r#"{"width":600,"height":200,"pointer_type":"stylus"}"#, &good_stroke()),
            Invalid("biometric_data: capture.pointer_type: unknown variant `stylus`, expected one of `pen`, `touch`, `mouse`"),
        ),
        fixture(
            "bad-device-pixel-ratio.json",
            document_with(
                r#"{"width":600,"height":200,"pointer_type":"pen","device_pixel_ratio":17}"#,
                &good_stroke(),
            ),
            Invalid("biometric_data: capture.device_pixel_ratio: must be in (0, 16], got 17"),
        ),
        fixture(
            "bad-started-at-not-utc.json",
            document_with(
                r#"{"width":600,"height":200,"pointer_type":"pen","started_at":"2026-11-27T11:15:02+01:00"}"#,
                &good_stroke(),
            ),
            Invalid("biometric_data: capture.started_at: must be an RFC 3339 UTC timestamp, e.g. 2026-11-27T10:15:02.123Z"),
        ),
        fixture(
            "bad-no-strokes.json",
            document(""),
            Invalid("biometric_data: strokes: at least 1 stroke is needed"),
        ),
        fixture(
            "bad-201-strokes.json",
            document(
                &(0..201)
                    .map(|i| stroke(2, f64::from(i) * 30.0, 10.0, 1.0))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Invalid("biometric_data: strokes: 201 strokes (at most 200)"),
        ),
        fixture(
            "bad-unequal-lengths.json",
            document(&format!(
                "{},{},{}",
                stroke(20, 0.0, 10.0, 1.0),
                stroke(20, 300.0, 10.0, 1.0),
                stroke(15, 600.0, 10.0, 1.0).replacen("[600,", "[", 1)
            )),
            Invalid("biometric_data: strokes[2].t: 14 values, x has 15"),
        ),
        fixture(
            "bad-empty-stroke.json",
            document(r#"{"t":[],"x":[],"y":[]}"#),
            Invalid("biometric_data: strokes[0]: must hold at least 1 sample"),
        ),
        fixture(
            "bad-t-negative.json",
            document(&stroke(24, -20.0, 20.0, 2.0)),
            Invalid("biometric_data: strokes[0].t[0]: must be a finite number of milliseconds, at least 0, got -20"),
        ),
        fixture(
            "bad-t-backwards-within-a-stroke.json",
            document(&good_stroke().replacen(",60,", ",30,", 1)),
            Invalid("biometric_data: strokes[0].t[3]: 30 is before the previous sample's 40 (t must not decrease)"),
        ),
        fixture(
            "bad-t-backwards-across-strokes.json",
            document(&format!(
                "{},{}",
                stroke(20, 0.0, 10.0, 2.0),
                stroke(20, 189.0, 10.0, 2.0)
            )),
            Invalid("biometric_data: strokes[1].t[0]: 189 is before the previous sample's 190 (t must not decrease)"),
        ),
        fixture(
            "bad-x-outside-the-area.json",
            document(&stroke(24, 0.0, 20.0, 22.0)),
            Invalid("biometric_data: strokes[0].x[23]: 606 is outside [0, 600]"),
        ),
        fixture(
            "bad-y-outside-the-area.json",
            document(&good_stroke().replacen("\"y\":[80,", "\"y\":[200.5,", 1)),
            Invalid("biometric_data: strokes[0].y[0]: 200.5 is outside [0, 200]"),
        ),
        fixture(
            "bad-pressure-above-1.json",
            document(&good_stroke().replacen('}', &format!(",\"p\":[{}1.5]}}", "0.5,".repeat(23)), 1)),
            Invalid("biometric_data: strokes[0].p[23]: 1.5 is outside [0, 1]"),
        ),
        fixture(
            "bad-tilt-beyond-90.json",
            document(&good_stroke().replacen('}', &format!(",\"tilt_y\":[-91{}]}}", ",10".repeat(23)), 1)),
            Invalid("biometric_data: strokes[0].tilt_y[0]: -91 is outside [-90, 90]"),
        ),
        // ISO: truncated or inconsistent records.
        fixture(
            "bad-iso-truncated-inclusion.bin",
            plain_iso()[..9].to_vec(),
            Invalid("biometric_data: byte 8: the record ends inside the channel inclusion field"),
        ),
        fixture(
            "bad-iso-truncated-description.bin",
            [&plain_iso()[..10], &[0x80, 0x80]].concat(),
            Invalid("biometric_data: byte 11: the record ends inside the description of channel X"),
        ),
        fixture(
            "bad-iso-truncated-samples.bin",
            {
                let record = plain_iso();
                record[..record.len() - 1].to_vec()
            },
            Invalid("biometric_data: byte 162: the record ends inside sample 24 of 25 (6 bytes each)"),
        ),
        fixture(
            "bad-iso-trailing-bytes.bin",
            [&plain_iso()[..], &[0, 0, 0]].concat(),
            Invalid("biometric_data: byte 168: 3 unexpected bytes after the end of the record"),
        ),
        fixture(
            "bad-iso-truncated-extended-data.bin",
            [
                &iso_body(
                    iso_header(X | Y | T, &[&[0], &[0], &[0]]),
                    0x80,
                    25,
                    &xyt(25, 1, 11, &|_| None),
                )[..],
                &[0, 9, 1, 2],
            ]
            .concat(),
            Invalid("biometric_data: byte 170: the record ends inside the extended data"),
        ),
        fixture(
            "bad-iso-tip-switch-two-bytes.bin",
            iso_body(
                iso_header(X | Y | T | S, &[&[0], &[0], &[0], &[0]]),
                0,
                25,
                &xyt(25, 1, 11, &|_| None)
                    .chunks(6)
                    .flat_map(|sample| [sample, &[0, 1][..]].concat())
                    .collect::<Vec<u8>>(),
            ),
            Invalid("biometric_data: byte 194: 25 unexpected bytes after the end of the record (is the tip switch S written in 2 bytes? ISO/IEC 19794-7:2007 stores it in 1)"),
        ),
        fixture(
            "bad-iso-tip-switch-value.bin",
            iso_body(
                iso_header(X | Y | T | S, &[&[0], &[0], &[0], &[0]]),
                0,
                25,
                &xyt(25, 1, 11, &|i| Some(if i == 4 { 2 } else { 1 })),
            ),
            Invalid("biometric_data: byte 47: sample 4: S is 2 (0 or 1 expected)"),
        ),
        fixture(
            "bad-iso-no-y.bin",
            iso_body(iso_header(X | T, &[&[0], &[0]]), 0, 0, &[]),
            Invalid("biometric_data: byte 8: the channel inclusion field must include X and Y"),
        ),
        fixture(
            "bad-iso-no-time.bin",
            iso_body(iso_header(X | Y, &[&[0], &[0]]), 0, 0, &[]),
            Invalid("biometric_data: byte 8: the channel inclusion field must include exactly one of T and DT"),
        ),
        fixture(
            "bad-iso-t-and-dt.bin",
            iso_body(iso_header(X | Y | T | DT, &[&[0], &[0], &[0], &[0]]), 0, 0, &[]),
            Invalid("biometric_data: byte 8: the channel inclusion field must include exactly one of T and DT"),
        ),
        fixture(
            "bad-iso-min-above-max.bin",
            iso_body(
                iso_header(X | Y | T, &[&[0x60, 0, 5, 0, 1], &[0], &[0]]),
                0,
                0,
                &[],
            ),
            Invalid("biometric_data: byte 10: channel X: the declared minimum 5 is above the declared maximum 1"),
        ),
        fixture(
            "bad-iso-value-outside-declared.bin",
            iso_body(
                iso_header(X | Y | T, &[&[0x20, 0, 10], &[0], &[0]]),
                0,
                25,
                &xyt(25, 1, 11, &|_| None),
            ),
            Invalid("biometric_data: byte 86: sample 11: X is 11, outside the declared maximum 10"),
        ),
        fixture(
            "bad-iso-t-backwards.bin",
            {
                let mut samples = xyt(25, 1, 11, &|_| None);
                samples[6 * 5 + 4..6 * 5 + 6].copy_from_slice(&be(3));
                iso_body(iso_header(X | Y | T, &[&[0], &[0], &[0]]), 0, 25, &samples)
            },
            Invalid("biometric_data: byte 48: sample 5: T goes backwards (3 after 44)"),
        ),
        fixture(
            "bad-iso-too-many-samples.bin",
            iso_body(iso_header(X | Y | T, &[&[0], &[0], &[0]]), 0, 100_001, &[]),
            Invalid("biometric_data: byte 15: 100001 samples (at most 100000)"),
        ),
        // Quality (422).
        fixture(
            "no-signature-one-dot.json",
            document(r#"{"t":[0],"x":[10],"y":[12],"p":[0.5]}"#),
            Unprocessable("biometric_data: 1 sample (at least 20 needed)"),
        ),
        fixture(
            "no-signature-19-samples.json",
            document(&stroke(19, 0.0, 20.0, 2.0)),
            Unprocessable("biometric_data: 19 samples (at least 20 needed)"),
        ),
        fixture(
            "no-signature-199-ms.json",
            document(&stroke(20, 0.0, 199.0 / 19.0, 2.0).replacen("199.00000000000003", "199", 1)),
            Unprocessable("biometric_data: the capture lasts 199 ms (at least 200 ms needed)"),
        ),
        fixture(
            "no-signature-over-120-s.json",
            document(&format!("{},{}", stroke(20, 0.0, 10.0, 2.0), stroke(1, 120_001.0, 0.0, 0.0))),
            Unprocessable("biometric_data: the capture lasts 120001 ms (at most 120000 ms)"),
        ),
        fixture(
            "no-signature-9-px.json",
            document(&stroke(20, 0.0, 20.0, 9.0 / 19.0)),
            Unprocessable("biometric_data: the ink spans 9 px on its longer side (at least 10 px needed)"),
        ),
        fixture(
            "no-signature-51-ms-median.json",
            document(&stroke(20, 0.0, 51.0, 2.0)),
            Unprocessable("biometric_data: the median interval between samples is 51 ms (at most 50 ms)"),
        ),
        fixture(
            "no-signature-single-sample-strokes.json",
            document(
                &(0..20)
                    .map(|i| stroke(1, f64::from(i) * 30.0, 0.0, 0.0).replacen("[100]", &format!("[{}]", 100 + i), 1))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Unprocessable("biometric_data: no stroke holds two samples, so the sampling interval cannot be measured"),
        ),
        fixture(
            "no-signature-iso-under-1-mm.bin",
            {
                // 20 units per mm (0xa200); X spans 19 units: 0.95 mm.
                let d = [&[0x80][..], &[0xa2, 0x00]].concat();
                iso_body(iso_header(X | Y | T, &[&d, &d, &[0]]), 0, 20, &xyt(20, 1, 11, &|_| None))
            },
            Unprocessable("biometric_data: the ink spans 0.95 mm on its longer side (at least 1 mm needed)"),
        ),
        fixture(
            "no-signature-iso-under-10-units.bin",
            {
                let mut samples = Vec::new();
                for i in 0..20 {
                    samples.extend_from_slice(&be(i / 3));
                    samples.extend_from_slice(&be(7));
                    samples.extend_from_slice(&be(i * 11));
                }
                iso_body(iso_header(X | Y | T, &[&[0], &[0], &[0]]), 0, 20, &samples)
            },
            Unprocessable("biometric_data: the ink spans 6 units on its longer side (at least 10 units needed)"),
        ),
        fixture(
            "no-signature-iso-only-hovering.bin",
            iso_body(
                iso_header(X | Y | T | S, &[&[0], &[0], &[0], &[0]]),
                0,
                25,
                &xyt(25, 1, 11, &|_| Some(0)),
            ),
            Unprocessable("biometric_data: 0 samples (at least 20 needed)"),
        ),
    ];
    fixtures.sort_by_key(|f| f.name);
    fixtures
}

fn check(fixture: &Fixture, bytes: &[u8]) {
    let name = fixture.name;
    match (&fixture.expect, capture::validate(bytes)) {
        (
            Expect::Accepted {
                format,
                pointer_type,
                pressure,
                counts,
            },
            Ok((_, summary)),
        ) => {
            assert_eq!(
                (summary.format, summary.pointer_type, summary.pressure),
                (*format, *pointer_type, *pressure),
                "{name}: {summary:?}"
            );
            if let Some(counts) = counts {
                assert_eq!((summary.strokes, summary.samples), *counts, "{name}");
            }
        }
        (Expect::Invalid(expected), Err(ApiError::InvalidInput(details))) => {
            assert!(
                details.starts_with(expected),
                "{name}: {details:?} should start with {expected:?}"
            );
        }
        (Expect::Unprocessable(expected), Err(ApiError::Unprocessable(details))) => {
            assert_eq!(&details, expected, "{name}");
        }
        (expected, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
    }
}

#[test]
fn every_fixture_gets_its_answer() {
    let corpus = corpus();
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .expect("the corpus directory")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = corpus.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(
        on_disk, listed,
        "every file is listed, every listed file is there"
    );
    for fixture in &corpus {
        let bytes = std::fs::read(corpus_dir().join(fixture.name)).unwrap();
        check(fixture, &bytes);
    }
}

/// The table itself holds: what it would write gets the answers it lists.
#[test]
fn the_table_gets_its_own_answers() {
    for fixture in corpus() {
        check(&fixture, &fixture.bytes);
    }
}

#[test]
#[ignore = "writes the corpus; run by hand after changing the table"]
fn write_the_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for fixture in corpus() {
        std::fs::write(dir.join(fixture.name), &fixture.bytes).unwrap();
    }
}

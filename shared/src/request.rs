//! Validation of what a client sends: the device evidence headers and the signature body.
//! Every rule of the contract, at its exact boundaries, with a `details` naming the culprit.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use lambda_http::http::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ApiError;
use crate::capture::{self, Capture};
use crate::evidence::Location;
use crate::image;
use crate::model::{ImageFormat, SignatureSummary};

pub const INSTALLATION_ID: &str = "x-installation_id";
pub const FINGERPRINT: &str = "x-fingerprint";
pub const LOCATION: &str = "x-location";

pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub const MAX_BIOMETRIC_DATA_CHARS: usize = 307_200;
pub const MAX_SIGNATURE_IMAGE_CHARS: usize = 512_000;
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// The device evidence headers of preview and sign.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceHeaders {
    pub installation_id: String,
    pub fingerprint: String,
    pub location: Option<Location>,
}

impl DeviceHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let installation_id = required_printable(headers, INSTALLATION_ID, 128)?;
        let fingerprint = required_printable(headers, FINGERPRINT, 256)?;
        let location = match single_header(headers, LOCATION)? {
            None => None,
            Some(raw) => Some(parse_location(raw).ok_or_else(|| {
                ApiError::Parameter(format!(
                    "{LOCATION}: must be 'lat,lon' in decimal degrees, lat in [-90, 90] and lon in [-180, 180]"
                ))
            })?),
        };
        Ok(Self {
            installation_id,
            fingerprint,
            location,
        })
    }
}

/// The header's value if it is given once and is text; `None` if absent.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::Parameter(format!("{name}: must be given once")));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::Parameter(format!("{name}: must be printable ASCII")))
}

fn required_printable(headers: &HeaderMap, name: &str, max: usize) -> Result<String, ApiError> {
    let value = single_header(headers, name)?
        .ok_or_else(|| ApiError::Parameter(format!("{name}: header is required")))?;
    let printable = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if value.is_empty() || value.len() > max || !printable {
        return Err(ApiError::Parameter(format!(
            "{name}: must be 1-{max} printable ASCII characters"
        )));
    }
    Ok(value.to_owned())
}

/// `lat,lon` in plain decimal notation (an optional sign, digits, optionally a fraction).
fn parse_location(raw: &str) -> Option<Location> {
    let (lat, lon) = raw.split_once(',')?;
    let lat = parse_decimal(lat.trim())?;
    let lon = parse_decimal(lon.trim())?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
        .then(|| Location::from_degrees(lat, lon))
}

fn parse_decimal(raw: &str) -> Option<f64> {
    let unsigned = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    raw.parse().ok()
}

/// The body of the sign request. Both fields are borrowed from the request bytes (no copy of up
/// to 800 KB) unless the JSON escapes a character in them, as some encoders do with `\/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BiometricSignRequest<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_when_possible")]
    biometric_data: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_when_possible")]
    signature_image: Option<Cow<'a, str>>,
}

/// serde's own `Cow<str>` support does not reach inside an `Option`: it would always copy.
fn borrowed_when_possible<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(text))
        }
        fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(text.to_owned()))
        }
        fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(text))
        }
    }
    deserializer.deserialize_str(Text).map(Some)
}

/// A signature that passed every rule: the decoded bytes and what is known about them.
#[derive(Debug, Clone)]
pub struct ValidSignature {
    pub biometric_data: Bytes,
    pub image: Bytes,
    /// The raw digests, which the blob store sends for verification; `summary` has them in hex.
    pub biometric_data_sha256: [u8; 32],
    pub image_sha256: [u8; 32],
    pub summary: SignatureSummary,
}

/// Checks the content type and body of a sign request and decodes it.
pub fn parse_sign_body(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ValidSignature, ApiError> {
    let invalid = |d: String| ApiError::InvalidInput(d);
    if body.is_empty() {
        return Err(invalid(
            "body: a JSON BiometricSignRequest is required".into(),
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(invalid(format!(
            "body: must be at most {MAX_BODY_BYTES} bytes"
        )));
    }
    let is_json = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(invalid("Content-Type: must be application/json".into()));
    }
    // The fast path borrows both strings from the body. serde_path_to_error, which names the
    // field at fault, would copy them (its wrapper does not pass borrowed strings through), so it
    // only runs again on a body already known to be wrong.
    let request: BiometricSignRequest<'_> = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(_) => return Err(describe_body_error(body)),
    };
    let biometric_text = request
        .biometric_data
        .ok_or_else(|| invalid("biometric_data: is required".into()))?;
    let image_text = request
        .signature_image
        .ok_or_else(|| invalid("signature_image: is required".into()))?;

    // Every 400 before any 422: the capture's structure, then the image, then its quality. The
    // quality is assessed before the image is decoded, so that the capture's columns are freed
    // first (a lower peak of memory), and reported after it.
    let (biometric_data, capture) = decode_biometric_data(&biometric_text)?;
    let assessed = capture.assess();
    drop(capture);
    let (image, format, width, height) = decode_signature_image(&image_text)?;
    let biometric = assessed?;
    let image_sha256: [u8; 32] = Sha256::digest(&image).into();
    let biometric_data_sha256: [u8; 32] = Sha256::digest(&biometric_data).into();
    let summary = SignatureSummary {
        image_sha256: hex::encode(image_sha256),
        biometric_data_sha256: hex::encode(biometric_data_sha256),
        image_format: format,
        image_width: width,
        image_height: height,
        biometric,
    };
    Ok(ValidSignature {
        biometric_data: Bytes::from(biometric_data),
        image: Bytes::from(image),
        biometric_data_sha256,
        image_sha256,
        summary,
    })
}

/// The `INVALID_INPUT` error for a body that does not deserialize, naming the field at fault
/// when the error is inside one.
fn describe_body_error(body: &[u8]) -> ApiError {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let error = match serde_path_to_error::deserialize::<_, BiometricSignRequest<'_>>(deserializer)
    {
        Err(error) => error,
        // Cannot happen (the same body just failed); still an answer rather than a panic.
        Ok(_) => return ApiError::InvalidInput("body: is not a valid BiometricSignRequest".into()),
    };
    let path = error.path().to_string();
    let culprit = match path.as_str() {
        "biometric_data" | "signature_image" => path.as_str(),
        _ => "body",
    };
    ApiError::InvalidInput(format!(
        "{culprit}: {}",
        crate::error::json_error_text(error.inner())
    ))
}

fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// The decoded bytes and the capture they hold, structurally valid (every 400 of
/// `biometric-data.md`); its quality (422) is assessed by the caller, after the image's 400s.
fn decode_biometric_data(text: &str) -> Result<(Vec<u8>, Capture), ApiError> {
    const FIELD: &str = "biometric_data";
    if char_len(text) > MAX_BIOMETRIC_DATA_CHARS {
        return Err(ApiError::InvalidInput(format!(
            "{FIELD}: must be at most {MAX_BIOMETRIC_DATA_CHARS} characters"
        )));
    }
    let bytes = decode_base64(FIELD, text)?;
    if bytes.is_empty() {
        return Err(ApiError::InvalidInput(format!(
            "{FIELD}: must decode to at least 1 byte"
        )));
    }
    let capture = capture::parse(&bytes)?;
    Ok((bytes, capture))
}

fn decode_base64(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(text).map_err(|_| {
        ApiError::InvalidInput(format!(
            "{field}: must be standard padded base64 (RFC 4648, no line breaks)"
        ))
    })
}

fn decode_signature_image(text: &str) -> Result<(Vec<u8>, ImageFormat, u32, u32), ApiError> {
    const FIELD: &str = "signature_image";
    let bad = |d: &str| ApiError::InvalidInput(format!("{FIELD}: {d}"));
    if char_len(text) > MAX_SIGNATURE_IMAGE_CHARS {
        return Err(bad(&format!(
            "must be at most {MAX_SIGNATURE_IMAGE_CHARS} characters, data URL prefix included"
        )));
    }
    let (claimed, payload) = if let Some(rest) = text.strip_prefix("data:image/png;base64,") {
        (Some(ImageFormat::Png), rest)
    } else if let Some(rest) = text.strip_prefix("data:image/jpeg;base64,") {
        (Some(ImageFormat::Jpeg), rest)
    } else if text.starts_with("data:") {
        return Err(bad(
            "the only data URL prefixes accepted are data:image/png;base64, and data:image/jpeg;base64,",
        ));
    } else {
        (None, text)
    };
    let image = decode_base64(FIELD, payload)?;
    // The prefix is checked against the magic bytes before the header is parsed: a JPEG sent as
    // PNG is told so, not that its PNG header is malformed.
    let sniffed = image::sniff(&image).ok_or_else(|| bad("not a PNG or JPEG image"))?;
    if claimed.is_some_and(|c| c != sniffed) {
        return Err(bad("the data URL prefix does not match the image content"));
    }
    let header = image::read_header(&image).map_err(|e| bad(&e.to_string()))?;
    let side = |v: u32| (1..=MAX_IMAGE_SIDE).contains(&v);
    if !side(header.width) || !side(header.height) {
        return Err(bad(&format!(
            "width and height must each be between 1 and {MAX_IMAGE_SIDE} pixels (got {}x{})",
            header.width, header.height
        )));
    }
    Ok((image, header.format, header.width, header.height))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    pub use crate::testing::{jpeg_header as jpeg, minimal_capture, png_header as png};

    fn body(biometric: &str, image: &str) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({"biometric_data": biometric, "signature_image": image}),
        )
        .unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    /// Valid biometric data, base64: for the tests about everything else.
    fn capture() -> String {
        b64(&minimal_capture())
    }

    fn err(content_type: Option<&str>, body: &[u8]) -> String {
        match parse_sign_body(content_type, body) {
            Err(ApiError::InvalidInput(d)) => d,
            other => panic!("expected INVALID_INPUT, got {other:?}"),
        }
    }

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn accepts_png_and_jpeg_with_or_without_prefix_and_digests_decoded_bytes() {
        let png = png(300, 120);
        let ok = parse_sign_body(
            Some("application/json; charset=utf-8"),
            &body(&capture(), &b64(&png)),
        )
        .unwrap();
        assert_eq!(&ok.biometric_data[..], &minimal_capture()[..]);
        assert_eq!(
            ok.summary.biometric_data_sha256,
            hex::encode(Sha256::digest(minimal_capture()))
        );
        assert_eq!(ok.summary.image_sha256, hex::encode(Sha256::digest(&png)));
        assert_eq!(
            (
                ok.summary.image_format,
                ok.summary.image_width,
                ok.summary.image_height
            ),
            (ImageFormat::Png, 300, 120)
        );

        let with_prefix = format!("data:image/png;base64,{}", b64(&png));
        let ok = parse_sign_body(JSON, &body(&capture(), &with_prefix)).unwrap();
        assert_eq!(
            &ok.image[..],
            &png[..],
            "the prefix is not part of the stored image"
        );

        let jpeg = jpeg(640, 480);
        let ok = parse_sign_body(
            JSON,
            &body(
                &capture(),
                &format!("data:image/jpeg;base64,{}", b64(&jpeg)),
            ),
        )
        .unwrap();
        assert_eq!(
            (
                ok.summary.image_format,
                ok.summary.image_width,
                ok.summary.image_height
            ),
            (ImageFormat::Jpeg, 640, 480)
        );
    }

    #[test]
    fn escaped_slashes_in_base64_are_accepted() {
        // Some JSON encoders write the base64 '/' as '\/'. ASCII JSON never encodes to a '/'
        // (a 6-bit group of ones needs a byte '?' or above 0x7f), so the capture is sent as ISO.
        let image = b64(&png(1, 1));
        let (capture, _) = crate::capture::validate(&minimal_capture()).unwrap();
        let data = crate::capture::convert::convert(&capture, crate::capture::Format::Iso19794_7)
            .unwrap()
            .bytes;
        assert!(b64(&data).contains('/'));
        let body = format!(
            r#"{{"biometric_data":"{}","signature_image":"{image}"}}"#,
            b64(&data).replace('/', "\\/")
        );
        let ok = parse_sign_body(JSON, body.as_bytes()).unwrap();
        assert_eq!(&ok.biometric_data[..], &data[..]);
    }

    #[test]
    fn null_fields_are_rejected_by_name() {
        let d = err(JSON, br#"{"biometric_data":null,"signature_image":"AA=="}"#);
        assert!(d.starts_with("biometric_data: invalid type: null"), "{d}");
    }

    #[test]
    fn body_must_be_present_json_and_within_one_mebibyte() {
        assert_eq!(
            err(JSON, b""),
            "body: a JSON BiometricSignRequest is required"
        );
        assert_eq!(
            err(Some("text/plain"), &body("AA==", "AA==")),
            "Content-Type: must be application/json"
        );
        assert_eq!(
            err(None, &body("AA==", "AA==")),
            "Content-Type: must be application/json"
        );
        let d = err(JSON, b"{not json");
        assert!(d.starts_with("body: "), "{d}");
        assert!(err(JSON, b"[1,2]").starts_with("body: "));
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            err(JSON, &big),
            format!("body: must be at most {MAX_BODY_BYTES} bytes")
        );
    }

    #[test]
    fn fields_are_required_typed_and_unknown_fields_rejected() {
        assert_eq!(
            err(JSON, br#"{"signature_image":"AA=="}"#),
            "biometric_data: is required"
        );
        assert_eq!(
            err(JSON, br#"{"biometric_data":"AA=="}"#),
            "signature_image: is required"
        );
        let d = err(JSON, br#"{"biometric_data":5,"signature_image":"AA=="}"#);
        assert!(d.starts_with("biometric_data: invalid type"), "{d}");
        let d = err(
            JSON,
            br#"{"biometric_data":"AA==","signature_image":"AA==","extra":1}"#,
        );
        assert!(d.contains("unknown field `extra`"), "{d}");
    }

    #[test]
    fn biometric_data_size_boundary_is_exact() {
        let png = b64(&png(1, 1));
        // 307,200 base64 characters decode to 230,400 bytes: a capture padded with trailing
        // spaces (still the same JSON) to exactly that is accepted.
        let mut data = minimal_capture();
        data.resize(MAX_BIOMETRIC_DATA_CHARS / 4 * 3, b' ');
        let at_limit = b64(&data);
        assert_eq!(at_limit.len(), MAX_BIOMETRIC_DATA_CHARS);
        assert!(parse_sign_body(JSON, &body(&at_limit, &png)).is_ok());
        let over = format!("{at_limit}AAAA");
        assert_eq!(
            err(JSON, &body(&over, &png)),
            "biometric_data: must be at most 307200 characters"
        );
    }

    #[test]
    fn signature_image_size_boundary_counts_the_prefix() {
        let prefix = "data:image/png;base64,";
        let image = png(1, 1);
        // Pad the PNG with trailing bytes so that prefix + base64 is exactly the limit.
        let payload_chars = (MAX_SIGNATURE_IMAGE_CHARS - prefix.len()) / 4 * 4;
        let mut padded = image.clone();
        padded.resize(payload_chars / 4 * 3, 0);
        let text = format!("{prefix}{}", b64(&padded));
        assert!(
            text.len() <= MAX_SIGNATURE_IMAGE_CHARS && text.len() + 4 > MAX_SIGNATURE_IMAGE_CHARS
        );
        assert!(parse_sign_body(JSON, &body(&capture(), &text)).is_ok());
        let exact = b64(&{
            let mut p = image.clone();
            p.resize(MAX_SIGNATURE_IMAGE_CHARS / 4 * 3, 0);
            p
        });
        assert_eq!(exact.len(), MAX_SIGNATURE_IMAGE_CHARS);
        assert!(parse_sign_body(JSON, &body(&capture(), &exact)).is_ok());
        let over = format!("{prefix}{exact}");
        assert!(
            err(JSON, &body(&capture(), &over))
                .starts_with("signature_image: must be at most 512000 characters")
        );
    }

    #[test]
    fn base64_must_be_standard_and_padded_and_non_empty() {
        let png = b64(&png(1, 1));
        for bad in ["AA", "AA=", "A===", "-_8=", "AA==\n", "AA ==", "*"] {
            assert_eq!(
                err(JSON, &body(bad, &png)),
                "biometric_data: must be standard padded base64 (RFC 4648, no line breaks)",
                "{bad:?}"
            );
        }
        assert_eq!(
            err(JSON, &body("", &png)),
            "biometric_data: must decode to at least 1 byte"
        );
        let d = err(JSON, &body(&capture(), "data:image/png;base64,@@@@"));
        assert!(
            d.starts_with("signature_image: must be standard padded base64"),
            "{d}"
        );
    }

    #[test]
    fn image_is_checked_by_content() {
        assert_eq!(
            err(JSON, &body(&capture(), &b64(b"GIF89a......"))),
            "signature_image: not a PNG or JPEG image"
        );
        assert_eq!(
            err(JSON, &body(&capture(), "")),
            "signature_image: not a PNG or JPEG image"
        );
        let jpeg_as_png = format!("data:image/png;base64,{}", b64(&jpeg(5, 5)));
        assert_eq!(
            err(JSON, &body(&capture(), &jpeg_as_png)),
            "signature_image: the data URL prefix does not match the image content"
        );
        let gif_prefix = format!("data:image/gif;base64,{}", b64(&png(5, 5)));
        assert!(
            err(JSON, &body(&capture(), &gif_prefix))
                .starts_with("signature_image: the only data URL prefixes")
        );
        let mut truncated = png(5, 5);
        truncated.truncate(20);
        assert!(err(JSON, &body(&capture(), &b64(&truncated))).starts_with("signature_image: the"));
        let mut no_ihdr = png(5, 5);
        no_ihdr[12..16].copy_from_slice(b"IDAT");
        assert!(
            err(JSON, &body(&capture(), &b64(&no_ihdr)))
                .starts_with("signature_image: the PNG header is malformed: ")
        );
        assert!(
            err(JSON, &body(&capture(), &b64(&[0xff, 0xd8, 0xff, 0xe0])))
                .starts_with("signature_image: the JPEG header is malformed: ")
        );
    }

    /// The findings of the outside review: each header parses as a real decoder would.
    #[test]
    fn image_headers_that_do_not_parse_are_refused() {
        let png_with = |at: usize, value: u8| {
            let mut image = png(5, 5);
            image[at] = value;
            let crc = crate::testing::png_crc(&image[12..29]);
            image[29..33].copy_from_slice(&crc.to_be_bytes());
            image
        };
        let mut zero_length_ihdr = png(5, 5);
        zero_length_ihdr[8..12].copy_from_slice(&0u32.to_be_bytes());
        let mut bad_crc = png(5, 5);
        bad_crc[32] ^= 1;
        let jpeg = jpeg(5, 5);
        let sof_at = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        let mut soi_and_sof_only = vec![0xff, 0xd8];
        soi_and_sof_only.extend_from_slice(&jpeg[sof_at..sof_at + 13]);
        let sos_at = jpeg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
        let cases = [
            ("bit depth 3", png_with(24, 3), "PNG"),
            ("colour type 9", png_with(25, 9), "PNG"),
            ("compression 5", png_with(26, 5), "PNG"),
            ("filter 1", png_with(27, 1), "PNG"),
            ("interlace 7", png_with(28, 7), "PNG"),
            ("IHDR of length 0", zero_length_ihdr, "PNG"),
            ("bad IHDR CRC", bad_crc, "PNG"),
            ("SOI + SOF only", soi_and_sof_only, "JPEG"),
            ("truncated SOS", jpeg[..sos_at + 6].to_vec(), "JPEG"),
            ("truncated SOF", jpeg[..sof_at + 8].to_vec(), "JPEG"),
        ];
        for (name, image, format) in cases {
            let d = err(JSON, &body(&capture(), &b64(&image)));
            assert!(
                d.starts_with(&format!(
                    "signature_image: the {format} header is malformed: "
                )),
                "{name}: {d}"
            );
        }
    }

    #[test]
    fn image_dimensions_boundaries() {
        for (w, h) in [(1, 1), (4096, 4096), (1, 4096)] {
            assert!(
                parse_sign_body(JSON, &body(&capture(), &b64(&png(w, h)))).is_ok(),
                "{w}x{h}"
            );
            assert!(
                parse_sign_body(JSON, &body(&capture(), &b64(&jpeg(w as u16, h as u16)))).is_ok(),
                "{w}x{h}"
            );
        }
        for (w, h) in [(0, 1), (1, 0), (4097, 1), (1, 4097)] {
            let d = err(JSON, &body(&capture(), &b64(&png(w, h))));
            assert!(
                d.starts_with("signature_image: width and height must each be between 1 and 4096"),
                "{d}"
            );
        }
    }

    #[test]
    fn biometric_data_must_be_a_capture_of_a_known_format() {
        let png = b64(&png(10, 10));
        assert_eq!(
            err(JSON, &body(&b64(b"pen"), &png)),
            crate::capture::UNKNOWN_FORMAT
        );
        let broken = br#"{"format":"sigdata/1","capture":{"width":0,"height":1,"pointer_type":"pen"},"strokes":[]}"#;
        assert_eq!(
            err(JSON, &body(&b64(broken), &png)),
            "biometric_data: capture.width: must be in (0, 10000], got 0"
        );
        let ok = parse_sign_body(JSON, &body(&capture(), &png)).unwrap();
        assert_eq!(
            serde_json::to_value(&ok.summary.biometric).unwrap(),
            serde_json::json!({"format": "sigdata/1", "strokes": 1, "samples": 24,
                "duration_ms": 460, "pressure": true, "pointer_type": "pen"})
        );
    }

    #[test]
    fn a_capture_of_no_signature_is_422_but_only_after_every_400() {
        let one_dot = br#"{"format":"sigdata/1","capture":{"width":600,"height":200,"pointer_type":"pen"},"strokes":[{"t":[0],"x":[10],"y":[12],"p":[0.5]}]}"#;
        match parse_sign_body(JSON, &body(&b64(one_dot), &b64(&png(10, 10)))) {
            Err(ApiError::Unprocessable(d)) => {
                assert_eq!(d, "biometric_data: 1 sample (at least 20 needed)")
            }
            other => panic!("expected 422, got {other:?}"),
        }
        // A bad image is a 400, which comes before the capture's 422.
        assert_eq!(
            err(JSON, &body(&b64(one_dot), &b64(b"GIF89a"))),
            "signature_image: not a PNG or JPEG image"
        );
        // The capture's own 400s come before the image's.
        assert_eq!(
            err(JSON, &body(&b64(b"pen"), &b64(b"GIF89a"))),
            crate::capture::UNKNOWN_FORMAT
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            /// Whatever the biometric data, the answer is a 400 or 422 naming it, never a 500.
            #[test]
            fn any_biometric_data_is_answered_by_name(data in proptest::collection::vec(any::<u8>(), 1..400)) {
                let result = parse_sign_body(JSON, &body(&b64(&data), &b64(&png(10, 10))));
                match result {
                    Ok(_) => {}
                    Err(ApiError::InvalidInput(d) | ApiError::Unprocessable(d)) => {
                        prop_assert!(d.starts_with("biometric_data: "), "{}", d)
                    }
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
            }
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                lambda_http::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn param_err(pairs: &[(&str, &str)]) -> String {
        match DeviceHeaders::from_headers(&headers(pairs)) {
            Err(ApiError::Parameter(d)) => d,
            other => panic!("expected PARAMETER_ERROR, got {other:?}"),
        }
    }

    #[test]
    fn device_headers_required_and_bounded() {
        let ok = DeviceHeaders::from_headers(&headers(&[
            ("X-Installation_Id", "inst"),
            ("x-fingerprint", "fp"),
            ("x-location", "88.52,-123.1"),
        ]))
        .unwrap();
        assert_eq!(
            ok.location,
            Some(Location {
                lat_e7: 885_200_000,
                lon_e7: -1_231_000_000
            })
        );
        assert_eq!(
            param_err(&[("x-fingerprint", "fp")]),
            "x-installation_id: header is required"
        );
        assert_eq!(
            param_err(&[("x-installation_id", "i")]),
            "x-fingerprint: header is required"
        );
        let long_id = "i".repeat(128);
        assert!(
            DeviceHeaders::from_headers(&headers(&[
                ("x-installation_id", &long_id),
                ("x-fingerprint", &"f".repeat(256))
            ]))
            .is_ok()
        );
        assert_eq!(
            param_err(&[
                ("x-installation_id", &"i".repeat(129)),
                ("x-fingerprint", "f")
            ]),
            "x-installation_id: must be 1-128 printable ASCII characters"
        );
        assert_eq!(
            param_err(&[
                ("x-installation_id", "i"),
                ("x-fingerprint", &"f".repeat(257))
            ]),
            "x-fingerprint: must be 1-256 printable ASCII characters"
        );
        assert_eq!(
            param_err(&[("x-installation_id", ""), ("x-fingerprint", "f")]),
            "x-installation_id: must be 1-128 printable ASCII characters"
        );
        assert_eq!(
            param_err(&[("x-installation_id", "a\tb"), ("x-fingerprint", "f")]),
            "x-installation_id: must be 1-128 printable ASCII characters"
        );
        assert_eq!(
            param_err(&[
                ("x-installation_id", "a"),
                ("x-installation_id", "b"),
                ("x-fingerprint", "f")
            ]),
            "x-installation_id: must be given once"
        );
    }

    #[test]
    fn location_rules() {
        let loc = |v: &str| {
            DeviceHeaders::from_headers(&headers(&[
                ("x-installation_id", "i"),
                ("x-fingerprint", "f"),
                ("x-location", v),
            ]))
        };
        for good in ["90,180", "-90,-180", "0,0", "88.52, -123.1", "+1.5,2"] {
            assert!(loc(good).is_ok(), "{good}");
        }
        for bad in [
            "90.0001,0",
            "0,180.5",
            "-91,0",
            "1",
            "1,2,3",
            "a,b",
            "NaN,0",
            "inf,0",
            "1e1,0",
            "",
            ",",
            "1.,2",
            ".5,2",
        ] {
            assert!(
                matches!(loc(bad), Err(ApiError::Parameter(d)) if d.starts_with("x-location:")),
                "{bad}"
            );
        }
    }
}

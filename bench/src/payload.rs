//! The payloads: a typical signature (a synthetic ten-second pen capture at 240 Hz in sigdata/1,
//! as `biosign sample-signature` makes it, and the PNG of its strokes) and the largest the contract
//! allows (a pen capture of exactly 307,200 base64 characters, a real PNG whose data URL is
//! 512,000 characters).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use biosign_shared::capture::sample::{self, SampleOptions};

const PNG_PREFIX: &str = "data:image/png;base64,";

/// A JSON sign request body, and its decoded biometric data (to time the validation alone).
pub struct Payload {
    pub name: String,
    pub body: Vec<u8>,
    pub biometric_data: Vec<u8>,
}

/// Deterministic, incompressible bytes (xorshift), so PNG compression cannot shrink the image.
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A valid grayscale PNG of noise, padded with a `tEXt` chunk to exactly `size` bytes.
pub fn png_of_size(size: usize) -> Vec<u8> {
    // Noise barely compresses: one byte per pixel plus a filter byte per row, plus overhead.
    let width = 512u32;
    let height = ((size.saturating_sub(2_000)) / (width as usize + 1)).max(1) as u32;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().expect("png header");
        writer
            .write_image_data(&noise((width * height) as usize, 0x9e37_79b9_7f4a_7c15))
            .expect("png data");
    }
    let iend = out.len() - 12;
    let padding = size
        .checked_sub(out.len() + 12)
        .expect("the PNG is already larger than the target");
    let mut chunk_data = b"Comment\0".to_vec();
    chunk_data.resize(padding.max(8), b'.');
    let mut chunk = (chunk_data.len() as u32).to_be_bytes().to_vec();
    let mut crc = crc32fast::Hasher::new();
    crc.update(b"tEXt");
    crc.update(&chunk_data);
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(&chunk_data);
    chunk.extend_from_slice(&crc.finalize().to_be_bytes());
    out.splice(iend..iend, chunk);
    assert_eq!(out.len(), size);
    out
}

fn body(biometric: &[u8], png: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "biometric_data": STANDARD.encode(biometric),
        "signature_image": format!("{PNG_PREFIX}{}", STANDARD.encode(png)),
    }))
    .expect("json")
}

pub fn typical() -> Payload {
    let signature = sample::pen_signature(1);
    Payload {
        name: format!(
            "typical (10 s pen capture: {} KB sigdata/1, {} KB PNG)",
            signature.biometric_data.len() / 1000,
            signature.png.len() / 1000
        ),
        body: body(&signature.biometric_data, &signature.png),
        biometric_data: signature.biometric_data,
    }
}

/// The longest pen capture whose sigdata/1 fits 230,400 bytes (307,200 base64 characters),
/// padded to exactly that with trailing whitespace (still the same JSON).
fn largest_capture() -> Vec<u8> {
    const LIMIT: usize = 307_200 / 4 * 3;
    let capture = |seconds: f64| {
        sample::document(&SampleOptions {
            seconds,
            ..SampleOptions::pen(2)
        })
        .to_json()
    };
    let mut seconds = 10.0;
    while capture(seconds + 1.0).len() <= LIMIT {
        seconds += 1.0;
    }
    let mut json = capture(seconds);
    json.resize(LIMIT, b' ');
    json
}

pub fn maximum() -> Payload {
    // The largest sizes whose base64 fits the limits exactly (multiples of 4 characters).
    let biometric = largest_capture();
    let png = png_of_size((512_000 - PNG_PREFIX.len()) / 4 * 3);
    let payload = Payload {
        name: "maximum (307,200 + 512,000 chars)".into(),
        body: body(&biometric, &png),
        biometric_data: biometric,
    };
    let value: serde_json::Value = serde_json::from_slice(&payload.body).expect("json");
    assert_eq!(
        value["biometric_data"].as_str().map(str::len),
        Some(307_200)
    );
    assert!(
        value["signature_image"]
            .as_str()
            .map(str::len)
            .is_some_and(|l| l <= 512_000 && l > 511_990)
    );
    payload
}

//! The payloads: a typical signature (about 30 KB of biometric data, a 20 KB PNG) and the
//! largest the contract allows (307,200 base64 characters of biometric data, a real PNG whose
//! data URL is 512,000 characters).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const PNG_PREFIX: &str = "data:image/png;base64,";

/// A JSON sign request body and its size.
pub struct Payload {
    pub name: &'static str,
    pub body: Vec<u8>,
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
    Payload {
        name: "typical (30 KB data, 20 KB PNG)",
        body: body(&noise(30_000, 1), &png_of_size(20_000)),
    }
}

pub fn maximum() -> Payload {
    // The largest sizes whose base64 fits the limits exactly (multiples of 4 characters).
    let biometric = noise(307_200 / 4 * 3, 2);
    let png = png_of_size((512_000 - PNG_PREFIX.len()) / 4 * 3);
    let payload = Payload {
        name: "maximum (307,200 + 512,000 chars)",
        body: body(&biometric, &png),
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

//! Fixtures for this crate's own tests (and, through the `testing` feature, the other crates'):
//! small real images of any size the validation accepts, a small valid capture, the test escrow
//! and a sample sign. Harnesses (the Lambda Runtime API, the HTTP server, store back doors) live
//! in the dev-only test-support crate `biosign-e2e` (`tests/`).

/// A real `width`×`height` PNG (1-bit greyscale, all black: IHDR, IDAT, IEND), which any
/// decoder decodes; the size is what the tests vary. A side of 0, which no encoder writes, gives
/// the same file with that side patched into the IHDR (and its CRC recomputed).
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width.max(1), height.max(1));
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let row_bytes = usize::try_from(width.max(1).div_ceil(8)).expect("a row fits in memory");
    let rows = usize::try_from(height.max(1)).expect("rows fit in memory");
    let mut writer = encoder.write_header().expect("a valid PNG header");
    writer
        .write_image_data(&vec![0; row_bytes * rows])
        .expect("image data of the right size");
    writer.finish().expect("the PNG is complete");
    if width == 0 || height == 0 {
        out[16..20].copy_from_slice(&width.to_be_bytes());
        out[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = png_crc(&out[12..29]);
        out[29..33].copy_from_slice(&crc.to_be_bytes());
    }
    out
}

/// The CRC-32 of a PNG chunk (ISO 3309, as the PNG specification uses it).
pub fn png_crc(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real baseline `width`×`height` JPEG, uniformly grey: SOI, DQT, SOF0 (one component), a DC
/// and an AC Huffman table of one code each, SOS, the entropy-coded blocks (each "DC difference
/// 0, end of block": two bits), EOI. Any decoder decodes it; it stays small at 4096×4096 (64 KiB).
pub fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
    let segment = |out: &mut Vec<u8>, code: u8, body: &[u8]| {
        out.extend_from_slice(&[0xff, code]);
        let length = u16::try_from(body.len() + 2).expect("a short segment");
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(body);
    };
    let mut out = vec![0xff, 0xd8];
    let mut dqt = vec![0x00];
    dqt.extend_from_slice(&[1; 64]);
    segment(&mut out, 0xdb, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&height.to_be_bytes());
    sof.extend_from_slice(&width.to_be_bytes());
    sof.extend_from_slice(&[1, 1, 0x11, 0]);
    segment(&mut out, 0xc0, &sof);
    // One code of length 1 ("0") per table: symbol 0 (DC difference 0; AC end of block).
    let mut one_code = [0u8; 17];
    one_code[1] = 1;
    for class_and_table in [0x00, 0x10] {
        let mut dht = vec![class_and_table];
        dht.extend_from_slice(&one_code[1..]);
        dht.push(0);
        segment(&mut out, 0xc4, &dht);
    }
    segment(&mut out, 0xda, &[1, 1, 0x00, 0, 63, 0]);
    let blocks = usize::from(width).div_ceil(8) * usize::from(height).div_ceil(8);
    out.extend(std::iter::repeat_n(0u8, blocks / 4));
    if blocks % 4 != 0 {
        // The last byte's unused bits are padded with ones (T.81 F.1.2.3).
        out.push(0xff >> (2 * (blocks % 4)));
    }
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// A small capture that passes every rule of `biometric-data.md`: sigdata/1, one pen stroke of
/// 24 samples every 20 ms along a 46 px line, with pressure. For tests that need valid biometric
/// data but are about something else; `capture::sample` has realistic ones.
pub fn minimal_capture() -> Vec<u8> {
    let column = |f: &dyn Fn(u32) -> String| (0..24).map(f).collect::<Vec<_>>().join(",");
    format!(
        r#"{{"format":"sigdata/1","capture":{{"width":300,"height":100,"pointer_type":"pen"}},"strokes":[{{"t":[{}],"x":[{}],"y":[{}],"p":[{}]}}]}}"#,
        column(&|i| (i * 20).to_string()),
        column(&|i| (40 + 2 * i).to_string()),
        column(&|i| (50 + i % 3).to_string()),
        column(&|i| format!("0.{}", 30 + i)),
    )
    .into_bytes()
}

/// A test-only escrow fixture (`shared/tests/fixtures/escrow/`, whose README lists them): their
/// private keys are public, never use them for real data.
pub fn escrow_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/escrow")
        .join(name)
}

/// The escrow recipient the tests seal to: `rsa2048.crt.pem`, opened by `rsa2048.key.pem`.
pub fn test_escrow() -> crate::seal::EscrowRecipients {
    crate::seal::EscrowRecipients::load(&escrow_fixture(TEST_ESCROW_CERT), crate::time::now())
        .expect("the escrow test fixture is a valid recipient")
}

/// The certificate of [`test_escrow`], and the key that opens its envelopes.
pub const TEST_ESCROW_CERT: &str = "rsa2048.crt.pem";
pub const TEST_ESCROW_KEY: &str = "rsa2048.key.pem";

/// A sign for `key` as the platform would create it at `now`: one signer, one document to
/// preview and sign, valid for seven days. Tests override fields with struct-update syntax.
pub fn new_sign(key: crate::ids::SignKey, now: crate::time::Timestamp) -> crate::model::NewSign {
    use crate::model::{Document, NewSign, Signer};
    NewSign {
        key,
        sign_process_id: "process-1".into(),
        signer: Signer {
            alias: "signer_1".into(),
            name: "Ana".into(),
            last_name: "García".into(),
            language: "ES".into(),
        },
        documents: vec![Document {
            id: "d1".into(),
            name: "contract.pdf".into(),
            sign_fields: vec!["SIGNATURE_CUSTOMER".into()],
        }],
        preview_documents: vec!["d1".into()],
        created_at: now,
        expires_at: now + chrono::Duration::days(7),
    }
}

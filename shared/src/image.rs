//! The signature image's header, read as a real decoder reads it, without decoding pixels.
//!
//! - **PNG**: the `png` crate's decoder reads the signature, the first chunk (which must be an
//!   IHDR of length 13 with a valid CRC and legal bit depth / colour type combination,
//!   compression 0, filter 0, interlace 0 or 1), and every chunk up to the first IDAT, checking
//!   lengths and CRCs as it goes; it stops before the image data.
//! - **JPEG**: [`jpeg_size`] walks the segments from SOI through the frame header (SOF) and on to
//!   the first scan header (SOS), checking each one's structure as ITU-T T.81 (Annex B) defines
//!   it. A JPEG without a scan is refused.
//!
//! Why a walker of our own for JPEG: `jpeg-decoder`'s `read_info` stops at the SOF (it never sees
//! an SOS, so SOI + SOF would pass), and `zune-jpeg`'s header pass is lenient by design outside
//! its strict mode (fill and stray bytes between segments) and belongs to a full SIMD decoder
//! whose releases are in flux; in a function built with `panic = "abort"`, a decoder's panic on
//! crafted input would take the process down. The walker below reads only what the contract
//! names, never indexes out of bounds (every read is a checked `get`), and is covered by
//! property tests.

use crate::model::ImageFormat;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = b"\xff\xd8\xff";

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Why an image was refused, in words for the client (the caller prefixes the field's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("not a PNG or JPEG image")]
    NotPngOrJpeg,
    #[error("the PNG header is malformed: {0}")]
    Png(String),
    #[error("the JPEG header is malformed: {0}")]
    Jpeg(String),
}

/// The format, by magic bytes, if it is one of the two accepted.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(PNG_MAGIC) {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(JPEG_MAGIC) {
        Some(ImageFormat::Jpeg)
    } else {
        None
    }
}

/// Reads the header of a PNG or JPEG image. The size is returned as the header states it; the
/// caller applies its own bounds. A side of 0 is returned as such rather than as a malformed
/// header, so that the caller words it as the size rule it breaks.
pub fn read_header(bytes: &[u8]) -> Result<ImageHeader, ImageError> {
    let format = sniff(bytes).ok_or(ImageError::NotPngOrJpeg)?;
    let (width, height) = match format {
        ImageFormat::Png => png_size(bytes).map_err(ImageError::Png)?,
        ImageFormat::Jpeg => jpeg_size(bytes).map_err(ImageError::Jpeg)?,
    };
    Ok(ImageHeader {
        format,
        width,
        height,
    })
}

fn png_size(bytes: &[u8]) -> Result<(u32, u32), String> {
    // The decoder refuses a zero side as an invalid header; report it as a size instead, when
    // the first chunk is where an IHDR would be.
    if bytes.get(8..16) == Some(b"\0\0\0\x0dIHDR".as_slice()) {
        let side = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
        };
        if let (Some(width), Some(height)) = (side(16), side(20)) {
            if width == 0 || height == 0 {
                return Ok((width, height));
            }
        }
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().map_err(|e| describe_png_error(&e))?;
    let info = reader.info();
    Ok((info.width, info.height))
}

fn describe_png_error(error: &png::DecodingError) -> String {
    match error {
        png::DecodingError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the image ends before its image data (IDAT)".into()
        }
        png::DecodingError::LimitsExceeded => "the header describes an image too large".into(),
        other => other.to_string(),
    }
}

/// The segments that carry no length (T.81 B.1.1.3): RSTn, SOI, EOI, TEM.
fn is_standalone(code: u8) -> bool {
    matches!(code, 0xd0..=0xd9 | 0x01)
}

/// The frame header (SOF) as far as a scan header needs it.
struct Frame {
    code: u8,
    width: u16,
    height: u16,
    /// (component id, quantisation table) per component.
    components: Vec<(u8, u8)>,
}

/// Walks a JPEG from SOI to its first SOS header and returns the frame's size.
pub fn jpeg_size(b: &[u8]) -> Result<(u32, u32), String> {
    if b.get(..2) != Some([0xff, 0xd8].as_slice()) {
        return Err("no SOI marker".into());
    }
    let mut pos = 2;
    let mut frame: Option<Frame> = None;
    let mut quant_tables = [false; 4];
    loop {
        // A marker: 0xFF, any number of 0xFF fill bytes (T.81 B.1.1.2), then its code.
        if b.get(pos) != Some(&0xff) {
            return Err(match b.get(pos) {
                None => "the image ends before its first scan (SOS)".into(),
                Some(_) => format!("expected a marker at byte {pos}"),
            });
        }
        while b.get(pos) == Some(&0xff) {
            pos += 1;
        }
        let code = *b
            .get(pos)
            .ok_or("the image ends before its first scan (SOS)")?;
        pos += 1;
        if code == 0x00 || is_standalone(code) {
            return Err(format!(
                "unexpected marker 0xFF{code:02X} before the first scan (SOS)"
            ));
        }
        let length = b
            .get(pos..pos + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or_else(|| format!("the segment 0xFF{code:02X} is truncated"))?;
        if length < 2 {
            return Err(format!(
                "the segment 0xFF{code:02X} has an invalid length {length}"
            ));
        }
        let body = b
            .get(pos + 2..pos + length)
            .ok_or_else(|| format!("the segment 0xFF{code:02X} is truncated"))?;
        pos += length;
        match code {
            0xc0..=0xc2 => {
                if frame.is_some() {
                    return Err("more than one frame header (SOF)".into());
                }
                frame = Some(parse_sof(code, body)?);
            }
            0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf => {
                return Err(format!(
                    "the coding process of SOF{} is not supported (baseline, extended or progressive Huffman only)",
                    code - 0xc0
                ));
            }
            0xc4 => parse_dht(body)?,
            0xdb => parse_dqt(body, &mut quant_tables)?,
            0xdd if body.len() != 2 => return Err("the DRI segment must have length 4".into()),
            0xdc => return Err("a DNL segment before the first scan".into()),
            0xda => {
                let frame = frame
                    .as_ref()
                    .ok_or("a scan (SOS) before the frame header (SOF)")?;
                parse_sos(frame, body)?;
                if let Some((id, _)) = frame
                    .components
                    .iter()
                    .find(|(_, table)| !quant_tables[usize::from(*table)])
                {
                    return Err(format!(
                        "component {id} uses a quantisation table that is not defined"
                    ));
                }
                return Ok((u32::from(frame.width), u32::from(frame.height)));
            }
            0x02..=0xbf => return Err(format!("reserved marker 0xFF{code:02X}")),
            // APPn, COM, DAC, JPGn, DHP, EXP: carried, not needed for the header.
            _ => {}
        }
    }
}

fn parse_sof(code: u8, body: &[u8]) -> Result<Frame, String> {
    let bad = |d: &str| Err(format!("the frame header (SOF{}) {d}", code - 0xc0));
    let [precision, h1, h0, w1, w0, count, rest @ ..] = body else {
        return bad("is truncated");
    };
    let precision_ok = match code {
        0xc0 => *precision == 8,
        _ => matches!(precision, 8 | 12),
    };
    if !precision_ok {
        return bad(&format!("has an unsupported sample precision {precision}"));
    }
    if !(1..=4).contains(count) {
        return bad(&format!("has {count} components (1 to 4 are supported)"));
    }
    if rest.len() != 3 * usize::from(*count) {
        return bad("has a length that does not match its component count");
    }
    let mut components: Vec<(u8, u8)> = Vec::with_capacity(usize::from(*count));
    for c in rest.chunks_exact(3) {
        let (id, sampling, table) = (c[0], c[1], c[2]);
        if components.iter().any(|(seen, _)| *seen == id) {
            return bad(&format!("repeats component {id}"));
        }
        let (h, v) = (sampling >> 4, sampling & 0x0f);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return bad(&format!("gives component {id} an invalid sampling factor"));
        }
        if table > 3 {
            return bad(&format!("gives component {id} quantisation table {table}"));
        }
        components.push((id, table));
    }
    Ok(Frame {
        code,
        width: u16::from_be_bytes([*w1, *w0]),
        height: u16::from_be_bytes([*h1, *h0]),
        components,
    })
}

fn parse_dqt(mut body: &[u8], defined: &mut [bool; 4]) -> Result<(), String> {
    if body.is_empty() {
        return Err("an empty quantisation table segment (DQT)".into());
    }
    while let [spec, rest @ ..] = body {
        let (precision, table) = (spec >> 4, spec & 0x0f);
        if precision > 1 || table > 3 {
            return Err(format!(
                "a quantisation table (DQT) with precision {precision} or number {table}"
            ));
        }
        let size = 64 * (usize::from(precision) + 1);
        body = rest
            .get(size..)
            .ok_or("a quantisation table (DQT) is truncated")?;
        defined[usize::from(table)] = true;
    }
    Ok(())
}

fn parse_dht(mut body: &[u8]) -> Result<(), String> {
    if body.is_empty() {
        return Err("an empty Huffman table segment (DHT)".into());
    }
    while let [spec, rest @ ..] = body {
        let (class, table) = (spec >> 4, spec & 0x0f);
        if class > 1 || table > 3 {
            return Err(format!(
                "a Huffman table (DHT) of class {class} or number {table}"
            ));
        }
        let counts = rest.get(..16).ok_or("a Huffman table (DHT) is truncated")?;
        // The counts must describe a prefix code: at each length no more codes than are left.
        let mut codes: u32 = 0;
        for (i, count) in counts.iter().enumerate() {
            codes += u32::from(*count);
            if codes > 1 << (i + 1) {
                return Err("a Huffman table (DHT) has more codes than its lengths allow".into());
            }
            codes <<= 1;
        }
        let total: usize = counts.iter().map(|c| usize::from(*c)).sum();
        if total > 256 {
            return Err("a Huffman table (DHT) has more than 256 symbols".into());
        }
        let symbols = rest
            .get(16..16 + total)
            .ok_or("a Huffman table (DHT) is truncated")?;
        if class == 0 && symbols.iter().any(|s| *s > 15) {
            return Err("a DC Huffman table (DHT) has a symbol above 15".into());
        }
        body = &rest[16 + total..];
    }
    Ok(())
}

fn parse_sos(frame: &Frame, body: &[u8]) -> Result<(), String> {
    let bad = |d: &str| Err(format!("the scan header (SOS) {d}"));
    let [count, rest @ ..] = body else {
        return bad("is truncated");
    };
    if !(1..=4).contains(count) {
        return bad(&format!("has {count} components (1 to 4 are allowed)"));
    }
    let n = usize::from(*count);
    if rest.len() != 2 * n + 3 {
        return bad("has a length that does not match its component count");
    }
    let (selectors, spectral) = rest.split_at(2 * n);
    let mut seen: Vec<u8> = Vec::with_capacity(n);
    for c in selectors.chunks_exact(2) {
        let (id, tables) = (c[0], c[1]);
        if !frame.components.iter().any(|(fid, _)| *fid == id) {
            return bad(&format!(
                "names component {id}, which the frame does not have"
            ));
        }
        if seen.contains(&id) {
            return bad(&format!("repeats component {id}"));
        }
        seen.push(id);
        if tables >> 4 > 3 || tables & 0x0f > 3 {
            return bad(&format!("gives component {id} an invalid Huffman table"));
        }
    }
    let (start, end, approximation) = (spectral[0], spectral[1], spectral[2]);
    let (high, low) = (approximation >> 4, approximation & 0x0f);
    let valid = if frame.code == 0xc2 {
        // Progressive: a DC scan (0..0), or an AC band of one component.
        start <= end
            && end <= 63
            && (start != 0 || end == 0)
            && (start == 0 || n == 1)
            && high <= 13
            && low <= 13
    } else {
        start == 0 && end == 63 && approximation == 0
    };
    if !valid {
        return bad("has spectral selection or approximation values invalid for its frame");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{jpeg_header as jpeg, png_crc, png_header as png};

    fn png_err(bytes: &[u8]) -> String {
        match read_header(bytes) {
            Err(ImageError::Png(d)) => d,
            other => panic!("expected a PNG header error, got {other:?}"),
        }
    }

    fn jpeg_err(bytes: &[u8]) -> String {
        match read_header(bytes) {
            Err(ImageError::Jpeg(d)) => d,
            other => panic!("expected a JPEG header error, got {other:?}"),
        }
    }

    /// A PNG whose IHDR data is replaced (`length` and fields), with a correct CRC unless
    /// `bad_crc`. Everything after the IHDR is the fixture's (IDAT, IEND).
    fn png_with_ihdr(length: u32, fields: &[u8], bad_crc: bool) -> Vec<u8> {
        let good = png(3, 2);
        let mut out = good[..8].to_vec();
        out.extend_from_slice(&length.to_be_bytes());
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(fields);
        out.extend_from_slice(&chunk);
        let crc = png_crc(&chunk) ^ u32::from(bad_crc);
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&good[33..]);
        out
    }

    /// IHDR fields for 3×2: width, height, then depth, colour, compression, filter, interlace.
    fn ihdr(depth: u8, colour: u8, compression: u8, filter: u8, interlace: u8) -> Vec<u8> {
        let mut fields = [3u32.to_be_bytes(), 2u32.to_be_bytes()].concat();
        fields.extend_from_slice(&[depth, colour, compression, filter, interlace]);
        fields
    }

    #[test]
    fn the_fixtures_are_images_the_reader_accepts() {
        for (w, h) in [(1, 1), (3, 2), (400, 150), (4096, 4096)] {
            assert_eq!(
                read_header(&png(w, h)),
                Ok(ImageHeader {
                    format: ImageFormat::Png,
                    width: w,
                    height: h
                })
            );
            assert_eq!(
                read_header(&jpeg(w as u16, h as u16)),
                Ok(ImageHeader {
                    format: ImageFormat::Jpeg,
                    width: w,
                    height: h
                })
            );
        }
        // The rebuilt IHDR of the tests below is the fixture's own when the fields are legal.
        assert_eq!(png_with_ihdr(13, &ihdr(1, 0, 0, 0, 0), false), png(3, 2));
    }

    #[test]
    fn png_header_fields_must_be_legal() {
        // Every legal combination of bit depth and colour type, both interlace methods.
        for (colour, depths) in [
            (0u8, &[1u8, 2, 4, 8, 16][..]),
            (2, &[8, 16]),
            (3, &[1, 2, 4, 8]),
            (4, &[8, 16]),
            (6, &[8, 16]),
        ] {
            for depth in depths {
                for interlace in [0, 1] {
                    let image = png_with_ihdr(13, &ihdr(*depth, colour, 0, 0, interlace), false);
                    assert!(
                        read_header(&image).is_ok(),
                        "depth {depth} colour {colour} interlace {interlace}"
                    );
                }
            }
        }
        for (fields, what) in [
            (ihdr(3, 6, 0, 0, 0), "bit depth 3"),
            (ihdr(16, 3, 0, 0, 0), "palette of depth 16"),
            (ihdr(4, 2, 0, 0, 0), "RGB of depth 4"),
            (ihdr(8, 9, 0, 0, 0), "colour type 9"),
            (ihdr(8, 6, 5, 0, 0), "compression 5"),
            (ihdr(8, 6, 0, 1, 0), "filter 1"),
            (ihdr(8, 6, 0, 0, 7), "interlace 7"),
        ] {
            let d = png_err(&png_with_ihdr(13, &fields, false));
            assert!(!d.is_empty(), "{what}");
        }
    }

    #[test]
    fn png_ihdr_length_crc_and_image_data_are_checked() {
        let fields = ihdr(8, 6, 0, 0, 0);
        png_err(&png_with_ihdr(0, &[], false));
        png_err(&png_with_ihdr(12, &fields[..12], false));
        png_err(&png_with_ihdr(
            14,
            &[fields.clone(), vec![0]].concat(),
            false,
        ));
        let d = png_err(&png_with_ihdr(13, &fields, true));
        assert!(d.to_lowercase().contains("crc"), "{d}");
        // No IDAT: the IHDR alone, then IEND.
        let mut no_idat = png(3, 2)[..33].to_vec();
        no_idat.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]);
        png_err(&no_idat);
        // Cut anywhere before the image data starts.
        let whole = png(3, 2);
        let idat_at = whole.windows(4).position(|w| w == b"IDAT").unwrap();
        for cut in 8..idat_at {
            png_err(&whole[..cut]);
        }
        // The first chunk must be the IHDR.
        let mut first_not_ihdr = whole.clone();
        first_not_ihdr[12..16].copy_from_slice(b"tEXt");
        png_err(&first_not_ihdr);
    }

    #[test]
    fn png_zero_sides_are_reported_as_sizes() {
        for (w, h) in [(0, 1), (1, 0)] {
            assert_eq!(
                read_header(&png(w, h)).map(|i| (i.width, i.height)),
                Ok((w, h))
            );
        }
    }

    /// The fixture JPEG's segments: (marker code, body), in order, and the scan data after.
    fn jpeg_segments(image: &[u8]) -> (Vec<(u8, Vec<u8>)>, Vec<u8>) {
        let mut segments = Vec::new();
        let mut pos = 2;
        loop {
            let code = image[pos + 1];
            let length = usize::from(u16::from_be_bytes([image[pos + 2], image[pos + 3]]));
            segments.push((code, image[pos + 4..pos + 2 + length].to_vec()));
            pos += 2 + length;
            if code == 0xda {
                return (segments, image[pos..].to_vec());
            }
        }
    }

    fn jpeg_from(segments: &[(u8, Vec<u8>)], tail: &[u8]) -> Vec<u8> {
        let mut out = vec![0xff, 0xd8];
        for (code, body) in segments {
            out.extend_from_slice(&[0xff, *code]);
            out.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
            out.extend_from_slice(body);
        }
        out.extend_from_slice(tail);
        out
    }

    #[test]
    fn jpeg_needs_well_formed_segments_up_to_a_scan() {
        let good = jpeg(5, 5);
        let (segments, tail) = jpeg_segments(&good);
        assert_eq!(
            jpeg_from(&segments, &tail),
            good,
            "the test rebuilds the fixture"
        );
        let codes: Vec<u8> = segments.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, [0xdb, 0xc0, 0xc4, 0xc4, 0xda]);
        let sof = segments.iter().position(|(c, _)| *c == 0xc0).unwrap();

        // SOI + SOF only, and SOI + SOF + EOI: no scan.
        let d = jpeg_err(&jpeg_from(&segments[sof..=sof], &[]));
        assert!(d.contains("ends before its first scan"), "{d}");
        let d = jpeg_err(&jpeg_from(&segments[..=sof], &[0xff, 0xd9]));
        assert!(d.contains("0xFFD9"), "{d}");
        // Truncated anywhere before the end of the scan header.
        let header_end = good.len() - tail.len();
        for cut in 3..header_end {
            jpeg_err(&good[..cut]);
        }
        // A segment whose length runs past the end, or is below 2.
        let mut long = good.clone();
        long[5] = 0xff; // the DQT's length
        jpeg_err(&long);
        let mut short = good.clone();
        short[4..6].copy_from_slice(&[0, 1]);
        jpeg_err(&short);
        // Stray bytes between segments.
        let mut stray = jpeg_from(&segments[..1], &[]);
        stray.push(0x00);
        stray.extend_from_slice(&good[stray.len() - 1..]);
        jpeg_err(&stray);
        // The scan before the frame; a second frame header; no quantisation table.
        let mut reordered = segments.clone();
        reordered.swap(sof, 4);
        jpeg_err(&jpeg_from(&reordered, &tail));
        let mut two_frames = segments.clone();
        two_frames.insert(sof, segments[sof].clone());
        jpeg_err(&jpeg_from(&two_frames, &tail));
        let d = jpeg_err(&jpeg_from(&segments[1..], &tail));
        assert!(d.contains("quantisation table"), "{d}");
        // Fill bytes before a marker are allowed (T.81 B.1.1.2).
        let mut filled = good.clone();
        filled.insert(2, 0xff);
        assert!(read_header(&filled).is_ok());
    }

    #[test]
    fn jpeg_segment_fields_are_checked() {
        let (segments, tail) = jpeg_segments(&jpeg(5, 5));
        let with = |code: u8, body: Vec<u8>| {
            let mut s = segments.clone();
            let i = s.iter().position(|(c, _)| *c == code).unwrap();
            s[i].1 = body;
            jpeg_from(&s, &tail)
        };
        let sof = |precision: u8, count: u8, components: &[u8]| {
            let mut body = vec![precision, 0, 5, 0, 5, count];
            body.extend_from_slice(components);
            body
        };
        for bad in [
            sof(12, 1, &[1, 0x11, 0]), // baseline is 8-bit
            sof(8, 0, &[]),            // no component
            sof(8, 5, &[1, 0x11, 0].repeat(5)),
            sof(8, 2, &[1, 0x11, 0]), // fewer components than counted
            sof(8, 1, &[1, 0x51, 0]), // sampling factor 5
            sof(8, 1, &[1, 0x10, 0]), // sampling factor 0
            sof(8, 1, &[1, 0x11, 4]), // quantisation table 4
            sof(8, 2, &[1, 0x11, 0, 1, 0x11, 0]), // a component twice
            vec![8, 0, 5],            // truncated
        ] {
            jpeg_err(&with(0xc0, bad));
        }
        let dqt = &segments[0].1;
        for bad in [vec![], vec![0x20], vec![0x04], dqt[..64].to_vec()] {
            jpeg_err(&with(0xdb, bad));
        }
        let dht = |spec: u8, counts: [u8; 16], symbols: &[u8]| {
            let mut body = vec![spec];
            body.extend_from_slice(&counts);
            body.extend_from_slice(symbols);
            body
        };
        let mut one = [0u8; 16];
        one[0] = 1;
        let mut three_of_length_one = [0u8; 16];
        three_of_length_one[0] = 3;
        for bad in [
            dht(0x20, one, &[0]),                       // class 2
            dht(0x04, one, &[0]),                       // table 4
            dht(0x00, one, &[]),                        // a symbol missing
            dht(0x00, one, &[16]),                      // DC symbol above 15
            dht(0x00, three_of_length_one, &[0, 1, 2]), // not a prefix code
            vec![],
        ] {
            jpeg_err(&with(0xc4, bad));
        }
        for bad in [
            vec![1, 2, 0x00, 0, 63, 0], // component 2 is not in the frame
            vec![0, 0, 63, 0],          // no component
            vec![2, 1, 0x00, 0, 63, 0], // count says 2, one given
            vec![1, 1, 0x40, 0, 63, 0], // Huffman table 4
            vec![1, 1, 0x00, 0, 62, 0], // baseline scans cover 0..63
            vec![1, 1, 0x00, 1, 63, 0],
            vec![1, 1, 0x00, 0, 63, 0x10],
            vec![1, 1],
        ] {
            jpeg_err(&with(0xda, bad));
        }
        // Unsupported coding processes and reserved markers.
        let mut lossless = segments.clone();
        lossless[1].0 = 0xc3;
        assert!(jpeg_err(&jpeg_from(&lossless, &tail)).contains("SOF3"));
        let mut reserved = segments.clone();
        reserved.insert(0, (0x02, vec![]));
        assert!(jpeg_err(&jpeg_from(&reserved, &tail)).contains("reserved"));
        // APPn and COM segments are carried through.
        let mut commented = segments.clone();
        commented.insert(0, (0xe0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0".to_vec()));
        commented.insert(1, (0xfe, b"a comment".to_vec()));
        assert!(read_header(&jpeg_from(&commented, &tail)).is_ok());
    }

    #[test]
    fn progressive_scans_follow_their_rules() {
        let (mut segments, tail) = jpeg_segments(&jpeg(5, 5));
        segments[1].0 = 0xc2;
        let with_scan = |scan: Vec<u8>| {
            let mut s = segments.clone();
            s[4].1 = scan;
            jpeg_from(&s, &tail)
        };
        assert!(
            read_header(&with_scan(vec![1, 1, 0x00, 0, 0, 0])).is_ok(),
            "DC scan"
        );
        assert!(
            read_header(&with_scan(vec![1, 1, 0x00, 1, 5, 0x01])).is_ok(),
            "AC band"
        );
        for bad in [
            vec![1, 1, 0x00, 0, 5, 0],  // DC and AC together
            vec![1, 1, 0x00, 6, 5, 0],  // start after end
            vec![1, 1, 0x00, 1, 64, 0], // end past 63
            vec![1, 1, 0x00, 1, 5, 0xe0],
        ] {
            jpeg_err(&with_scan(bad));
        }
    }

    #[test]
    fn other_content_is_neither() {
        for bytes in [
            &b""[..],
            b"GIF89a",
            b"\x89PNG",
            b"\xff\xd8",
            b"\xff\xd9\xff",
        ] {
            assert_eq!(
                read_header(bytes),
                Err(ImageError::NotPngOrJpeg),
                "{bytes:?}"
            );
        }
    }
}

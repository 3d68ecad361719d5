//! The biometric capture offline: `biosign convert` (between sigdata/1 and ISO/IEC 19794-7, for a
//! notary's expert) and `biosign sample-signature` (a realistic request body to sign with).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use biosign_shared::capture::{self, Format, convert, sample};
use clap::{Args, ValueEnum};

/// A format, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    #[value(name = "sigdata/1")]
    Sigdata1,
    #[value(name = "iso19794-7")]
    Iso19794_7,
}

impl From<FormatArg> for Format {
    fn from(value: FormatArg) -> Self {
        match value {
            FormatArg::Sigdata1 => Format::Sigdata1,
            FormatArg::Iso19794_7 => Format::Iso19794_7,
        }
    }
}

/// The options of `biosign convert`.
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// The format to write.
    #[arg(long, value_enum)]
    pub to: FormatArg,
    /// The biometric data to read (decoded, not base64); standard input if absent or `-`.
    pub input: Option<PathBuf>,
    /// Where to write; standard output if absent or `-`.
    pub output: Option<PathBuf>,
}

fn is_stdio(path: &Option<PathBuf>) -> bool {
    path.as_ref().is_none_or(|p| p.as_os_str() == "-")
}

/// Reads, checks as the API would (same messages), converts, writes. Returns the notes on what
/// the conversion had to change, for standard error.
pub fn convert(args: &ConvertArgs) -> anyhow::Result<Vec<String>> {
    let input = match &args.input {
        Some(path) if !is_stdio(&args.input) => {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        }
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            bytes
        }
    };
    let (output, notes) = convert_bytes(&input, args.to.into())?;
    match &args.output {
        Some(path) if !is_stdio(&args.output) => {
            std::fs::write(path, &output).with_context(|| format!("writing {}", path.display()))?
        }
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&output)?;
            stdout.flush()?;
        }
    }
    Ok(notes)
}

/// The conversion itself: data the API would refuse is refused with the API's message; data
/// already in the target format is written unchanged.
pub fn convert_bytes(input: &[u8], to: Format) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let (capture, _) = capture::validate(input).map_err(|e| anyhow::anyhow!("{}", e.details()))?;
    if capture.format == to {
        return Ok((input.to_vec(), Vec::new()));
    }
    let converted = convert::convert(&capture, to)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", to.name()))?;
    Ok((converted.bytes, converted.notes))
}

/// The options of `biosign sample-signature`.
#[derive(Debug, Clone, Args)]
pub struct SampleArgs {
    /// Different seeds give different signatures; the same seed, the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The format of `biometric_data`.
    #[arg(long, value_enum, default_value = "sigdata/1")]
    pub format: FormatArg,
}

/// A sign request body: a synthetic ten-second pen signature at 240 Hz (pressure, tilt, several
/// strokes) and the PNG rendered from the same strokes.
pub fn sample_body(args: &SampleArgs) -> anyhow::Result<String> {
    let signature = sample::pen_signature(args.seed);
    if signature.png.is_empty() {
        bail!("the sample image could not be rendered");
    }
    let biometric_data = match args.format {
        FormatArg::Sigdata1 => signature.biometric_data,
        FormatArg::Iso19794_7 => convert_bytes(&signature.biometric_data, Format::Iso19794_7)?.0,
    };
    Ok(serde_json::json!({
        "biometric_data": STANDARD.encode(biometric_data),
        "signature_image": format!("data:image/png;base64,{}", STANDARD.encode(&signature.png)),
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(body: &str, field: &str) -> Vec<u8> {
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let text = value[field].as_str().unwrap();
        STANDARD
            .decode(text.trim_start_matches("data:image/png;base64,"))
            .unwrap()
    }

    #[test]
    fn sample_bodies_pass_the_api_and_differ_by_seed() {
        let args = |seed, format| SampleArgs { seed, format };
        let one = sample_body(&args(1, FormatArg::Sigdata1)).unwrap();
        assert_eq!(one, sample_body(&args(1, FormatArg::Sigdata1)).unwrap());
        let two = sample_body(&args(2, FormatArg::Sigdata1)).unwrap();
        assert_ne!(
            decoded(&one, "biometric_data"),
            decoded(&two, "biometric_data")
        );
        assert_ne!(
            decoded(&one, "signature_image"),
            decoded(&two, "signature_image")
        );
        for body in [one, sample_body(&args(1, FormatArg::Iso19794_7)).unwrap()] {
            let signature =
                biosign_shared::request::parse_sign_body(Some("application/json"), body.as_bytes())
                    .unwrap();
            assert_eq!(signature.summary.image_format.content_type(), "image/png");
            assert!(signature.summary.biometric.samples > 2000);
        }
    }

    #[test]
    fn conversion_refuses_what_the_api_refuses_with_its_message() {
        let error = convert_bytes(b"pen", Format::Iso19794_7).unwrap_err();
        assert_eq!(error.to_string(), capture::UNKNOWN_FORMAT);
        let one_dot = br#"{"format":"sigdata/1","capture":{"width":600,"height":200,"pointer_type":"pen"},"strokes":[{"t":[0],"x":[10],"y":[12]}]}"#;
        let error = convert_bytes(one_dot, Format::Iso19794_7).unwrap_err();
        assert_eq!(
            error.to_string(),
            "biometric_data: 1 sample (at least 20 needed)"
        );
    }

    #[test]
    fn conversion_round_trips_and_leaves_the_target_format_alone() {
        let original = sample::pen_signature(3).biometric_data;
        let (iso, notes) = convert_bytes(&original, Format::Iso19794_7).unwrap();
        assert!(notes.is_empty());
        assert!(iso.starts_with(b"SDI\0 10\0"));
        let (again, _) = convert_bytes(&iso, Format::Iso19794_7).unwrap();
        assert_eq!(again, iso);
        let (back, _) = convert_bytes(&iso, Format::Sigdata1).unwrap();
        let (_, before) = capture::validate(&original).unwrap();
        let (_, after) = capture::validate(&back).unwrap();
        assert_eq!(after, before);
    }
}

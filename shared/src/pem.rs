//! PEM files read the way OpenSSL reads them: a sequence of blocks, any text between them (the
//! `subject=` lines of `openssl x509` output, comments) ignored. Used for the escrow certificates
//! and the TSA's.

/// A block that cannot be read: its number in the file (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PEM block {block} is unreadable: {reason}")]
pub struct BadBlock {
    pub block: usize,
    pub reason: String,
}

/// The blocks of a PEM file, (label, DER) each, in file order. A file without any is an empty
/// list (the caller says whether that is an error).
pub fn blocks(pem: &[u8]) -> Result<Vec<(String, Vec<u8>)>, BadBlock> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = find(rest, BEGIN) {
        let block = blocks.len() + 1;
        let bad = |reason: String| BadBlock { block, reason };
        let from_begin = &rest[start..];
        let end = find(from_begin, END).ok_or_else(|| bad("no END line".into()))?;
        let after_end = &from_begin[end + END.len()..];
        let close = find(after_end, b"-----").ok_or_else(|| bad("unterminated END line".into()))?;
        let block_len = end + END.len() + close + 5;
        let (label, der) =
            der::pem::decode_vec(&from_begin[..block_len]).map_err(|e| bad(e.to_string()))?;
        blocks.push((label.to_owned(), der));
        rest = &from_begin[block_len..];
    }
    Ok(blocks)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_skip_text_between_them_and_a_broken_one_is_named() {
        let pem = b"subject=CN=x\n-----BEGIN A-----\nAAEC\n-----END A-----\nnote\n-----BEGIN B-----\nAw==\n-----END B-----\n";
        assert_eq!(
            blocks(pem).unwrap(),
            vec![("A".to_owned(), vec![0, 1, 2]), ("B".to_owned(), vec![3])]
        );
        let no_end = b"-----BEGIN A-----\nAAEC\n-----END A-----\n-----BEGIN B-----\nAw==\n";
        assert_eq!(
            blocks(no_end).unwrap_err().to_string(),
            "PEM block 2 is unreadable: no END line"
        );
        let unterminated = b"-----BEGIN A-----\nAAEC\n-----END A";
        assert_eq!(
            blocks(unterminated).unwrap_err(),
            BadBlock {
                block: 1,
                reason: "unterminated END line".into()
            }
        );
        let bad_base64 = b"-----BEGIN A-----\n!!!!\n-----END A-----\n";
        assert_eq!(blocks(bad_base64).unwrap_err().block, 1);
        for nothing in [&b""[..], b"\n", b"no pem here", b"-----"] {
            assert!(blocks(nothing).unwrap().is_empty());
        }
    }
}

//! The canonical form of an evidence event: its RFC 8785 (JCS) serialisation.
//!
//! JCS sorts object keys by their UTF-16 code units, writes no whitespace, escapes strings as
//! ECMAScript's `JSON.stringify` does and numbers as ECMAScript's `Number.prototype.toString`.
//! Anyone can recompute an event's digest from its JSON with any JCS implementation.
//!
//! Events are also built to hold only *portable* values (see [`check_portable`]): strings,
//! booleans, nulls, objects, arrays and integers of magnitude below 2^53, never a fraction or an
//! exponent. For those, JCS gives the same bytes as the plainest serialisers (Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` among them), so a
//! verifier needs no JCS library at all. docs/evidence.md states this for readers.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The largest integer an event may hold: beyond it, a JSON number is not exactly a double, and
/// JCS (which writes every number as a double) would change it.
pub const MAX_PORTABLE_INTEGER: u64 = (1 << 53) - 1;

/// Why a value has no canonical form, or a text is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// The value cannot be serialised (a non-finite float, a map with non-string keys).
    #[error("not serialisable as JSON: {0}")]
    Unserialisable(String),
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The value holds something an event must not (see [`check_portable`]).
    #[error("{0}")]
    NotPortable(String),
    /// The text is JSON but not in canonical form (order, spacing, escapes, duplicate keys).
    #[error("not in canonical (RFC 8785) form")]
    NotCanonical,
}

/// The JCS serialisation of `value`.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    serde_json_canonicalizer::to_vec(value)
        .map_err(|e| CanonicalError::Unserialisable(e.to_string()))
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of the JCS serialisation of `value`.
pub fn digest<T: Serialize>(value: &T) -> Result<String, CanonicalError> {
    Ok(sha256_hex(&to_vec(value)?))
}

/// Checks that `value` holds only what an event may: no number other than an integer of
/// magnitude at most [`MAX_PORTABLE_INTEGER`]. Names the first offending path.
pub fn check_portable(value: &Value) -> Result<(), CanonicalError> {
    fn walk(value: &Value, path: &mut String) -> Result<(), CanonicalError> {
        match value {
            Value::Number(n) => {
                let magnitude = n
                    .as_u64()
                    .or_else(|| n.as_i64().map(i64::unsigned_abs))
                    .filter(|m| *m <= MAX_PORTABLE_INTEGER);
                match magnitude {
                    Some(_) => Ok(()),
                    None => Err(CanonicalError::NotPortable(format!(
                        "{path}: {n} is not an integer of magnitude below 2^53"
                    ))),
                }
            }
            Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let result = walk(item, path);
                path.truncate(len);
                result
            }),
            Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                let result = walk(item, path);
                path.truncate(len);
                result
            }),
            Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        }
    }
    walk(value, &mut String::new())
}

/// Parses one canonical event text: JSON, an object, portable, and byte for byte its own JCS
/// serialisation (which also rules out duplicate keys, whitespace and non-canonical escapes).
pub fn parse_canonical_object(
    text: &[u8],
) -> Result<serde_json::Map<String, Value>, CanonicalError> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| CanonicalError::NotJson(e.to_string()))?;
    check_portable(&value)?;
    if to_vec(&value)? != text {
        return Err(CanonicalError::NotCanonical);
    }
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(CanonicalError::NotPortable("not a JSON object".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jcs(input: &str) -> String {
        let value: Value = serde_json::from_str(input).expect("test input is JSON");
        String::from_utf8(to_vec(&value).expect("serialisable")).expect("UTF-8")
    }

    #[test]
    fn rfc8785_section_3_2_2_example() {
        // The input of RFC 8785 §3.2.2 (numbers, escapes, literals) and its canonical form.
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        assert_eq!(
            jcs(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn rfc8785_section_3_2_3_keys_sort_by_utf16_code_units() {
        // U+1F600 (UTF-16 D83D DE00) sorts before U+FB33 by code units, after it by code points.
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        assert_eq!(
            jcs(input),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
    }

    #[test]
    fn rfc8785_appendix_b_numbers() {
        // IEEE 754 bit patterns and their JCS (ECMAScript) renderings, from RFC 8785 Appendix B.
        let cases = [
            (0x0000000000000000_u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in cases {
            let number = f64::from_bits(bits);
            let rendered = String::from_utf8(to_vec(&number).unwrap()).unwrap();
            assert_eq!(rendered, expected, "bits {bits:016x}");
        }
    }

    #[test]
    fn nan_and_infinity_have_no_canonical_form() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                to_vec(&bad),
                Err(CanonicalError::Unserialisable(_))
            ));
        }
    }

    #[test]
    fn strings_escape_as_json_stringify_does() {
        // Only '"', '\\' and U+0000..U+001F are escaped; the five short forms where they exist,
        // else \u00xx in lower case. DEL, '/', non-ASCII and astral characters stay as they are.
        let text: String = (0u8..0x20).map(char::from).collect::<String>() + "\"\\/\u{7f}é€😀";
        let rendered = String::from_utf8(to_vec(&text).unwrap()).unwrap();
        assert_eq!(
            rendered,
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\\"\\\\/\u{7f}é€😀\""
        );
    }

    #[test]
    fn structs_serialise_with_sorted_keys_and_no_whitespace() {
        #[derive(Serialize)]
        struct Event {
            seq: u64,
            event_type: &'static str,
            prev_event_sha256: Option<String>,
            nested: Value,
        }
        let event = Event {
            seq: 2,
            event_type: "SIGN",
            prev_event_sha256: None,
            nested: json!({"b": [1, {"d": true, "c": null}], "a": ""}),
        };
        assert_eq!(
            String::from_utf8(to_vec(&event).unwrap()).unwrap(),
            r#"{"event_type":"SIGN","nested":{"a":"","b":[1,{"c":null,"d":true}]},"prev_event_sha256":null,"seq":2}"#
        );
        assert_eq!(
            digest(&event).unwrap(),
            sha256_hex(&to_vec(&event).unwrap())
        );
    }

    #[test]
    fn portable_values_are_integers_below_2_53() {
        assert!(check_portable(&json!({"a": [1, -9007199254740991_i64, "x", null, true]})).is_ok());
        let cases = [
            (json!({"location": {"lat": 40.5}}), ".location.lat"),
            (json!({"n": [1, 9007199254740992_u64]}), ".n[1]"),
            (json!({"n": -9007199254740992_i64}), ".n"),
            (json!({"n": 1.0}), ".n"),
        ];
        for (value, path) in cases {
            match check_portable(&value) {
                Err(CanonicalError::NotPortable(message)) => {
                    assert!(message.starts_with(&format!("{path}: ")), "{message}")
                }
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_canonical_text_parses_and_anything_else_is_refused() {
        let good = br#"{"a":1,"b":"\u001f/"}"#;
        assert_eq!(parse_canonical_object(good).unwrap()["a"], json!(1));
        let not_canonical: [&[u8]; 6] = [
            br#"{"b":"x","a":1}"#, // key order
            br#"{"a": 1}"#,        // whitespace
            br#"{"a":1,"a":1}"#,   // duplicate key
            br#"{"a":"\/"}"#,      // needless escape
            br#"{"a":"\u001F"}"#,  // upper-case hex
            b"{\"a\":1}\n",        // trailing newline
        ];
        for text in not_canonical {
            assert_eq!(
                parse_canonical_object(text),
                Err(CanonicalError::NotCanonical),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        assert!(matches!(
            parse_canonical_object(br#"{"a":1.5}"#),
            Err(CanonicalError::NotPortable(_))
        ));
        assert!(matches!(
            parse_canonical_object(b"[1]"),
            Err(CanonicalError::NotPortable(_))
        ));
        assert!(matches!(
            parse_canonical_object(b"{"),
            Err(CanonicalError::NotJson(_))
        ));
    }
}

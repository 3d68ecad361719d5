//! ISO 8601 durations as the tool's options take them (`P7D`, `PT15M`, `P1DT12H`, `P2W`), parsed
//! by jiff's Temporal (ISO 8601) duration parser. Years and months are refused: their length
//! depends on the calendar; a day is 24 hours. Whole numbers and upper-case designators only (the
//! syntax the tool has always taken; jiff alone would also take lower case, a leading `+` and
//! decimal fractions). A leading `-` gives a past time, for creating already-expired signs.

use chrono::Duration;
use jiff::SpanRelativeTo;
use jiff::fmt::temporal::SpanParser;

/// Only the ISO 8601 form: `Span`'s `FromStr` would also take jiff's "friendly" form (`1 day`).
static PARSER: SpanParser = SpanParser::new();

pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not an ISO 8601 duration such as P7D, PT15M or P1DT12H");
    let designator_or_digit = |c: char| c.is_ascii_digit() || "PYMWDTHS".contains(c);
    if !text
        .strip_prefix('-')
        .unwrap_or(text)
        .chars()
        .all(designator_or_digit)
    {
        return Err(bad());
    }
    let span = PARSER.parse_span(text).map_err(|_| bad())?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(format!(
            "{text:?}: years and months are not supported; use days"
        ));
    }
    let exact = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad())?;
    Duration::try_seconds(exact.as_secs()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_durations() {
        assert_eq!(parse("PT15M").unwrap(), Duration::minutes(15));
        assert_eq!(parse("P7D").unwrap(), Duration::days(7));
        assert_eq!(parse("P2W").unwrap(), Duration::weeks(2));
        assert_eq!(
            parse("P1DT12H30M5S").unwrap(),
            Duration::seconds(86_400 + 12 * 3600 + 30 * 60 + 5)
        );
        assert_eq!(parse("-PT1S").unwrap(), Duration::seconds(-1));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", "P", "PT", "7D", "P1Y", "P1M", "PT1H1H", "PT1M1H", "P1.5D", "P1DT", "P D", "PT15",
            "1 day", "1h", "P1D ", "PT0.5S", "PT1.5S", "PT1.5H", "PT1,5H", "p7d", "pt15m", "+P7D",
            "--P1D", "P-1D",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn says_why() {
        assert_eq!(
            parse("P1Y").unwrap_err(),
            r#""P1Y": years and months are not supported; use days"#
        );
        assert_eq!(
            parse("an hour").unwrap_err(),
            r#""an hour" is not an ISO 8601 duration such as P7D, PT15M or P1DT12H"#
        );
    }
}

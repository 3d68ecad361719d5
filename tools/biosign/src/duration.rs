//! ISO 8601 durations as the tool's options take them (`P7D`, `PT15M`, `P1DT12H`, `P2W`).
//! Years and months are refused: their length depends on the calendar. A leading `-` (an
//! extension) gives a past time, for creating already-expired signs.

use chrono::Duration;

pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not an ISO 8601 duration such as P7D, PT15M or P1DT12H");
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return Err(bad()),
        None => (rest, None),
    };
    let mut total = Duration::zero();
    let mut any = false;
    const DATE_UNITS: &[(char, i64)] = &[('W', 604_800), ('D', 86_400)];
    const TIME_UNITS: &[(char, i64)] = &[('H', 3_600), ('M', 60), ('S', 1)];
    for (is_date, part, units) in [
        (true, date, DATE_UNITS),
        (false, time.unwrap_or(""), TIME_UNITS),
    ] {
        let mut number = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            if is_date && (c == 'Y' || c == 'M') {
                return Err(format!(
                    "{text:?}: years and months are not supported; use days"
                ));
            }
            // Units must appear in order, each at most once.
            let seconds = allowed
                .by_ref()
                .find(|(unit, _)| *unit == c)
                .map(|(_, s)| *s)
                .ok_or_else(bad)?;
            let n: i64 = number.parse().map_err(|_| bad())?;
            total +=
                Duration::try_seconds(n.checked_mul(seconds).ok_or_else(bad)?).ok_or_else(bad)?;
            number.clear();
            any = true;
        }
        if !number.is_empty() {
            return Err(bad());
        }
    }
    if !any {
        return Err(bad());
    }
    Ok(if negative { -total } else { total })
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
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

//! Human durations for settings: `30s`, `5m`, `1h30m`, `250ms`, and a bare `0`.

use std::time::Duration;

/// Parses a duration such as `30s`, `5m`, `1h30m`, `250ms`, `2d` or `0`.
///
/// A bare number other than `0` is refused: `60` could mean seconds or
/// milliseconds, and a setting that silently means the wrong one is worse
/// than an error.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("expected a duration such as 30s, 5m or 0".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err("expected a duration such as 30s, 5m or 0".into());
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| "number too large".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "missing unit after {value}: add one, e.g. {value}s"
                ));
            }
            other => return Err(format!("unknown unit '{other}': use ms, s, m, h or d")),
        };
        let part = value
            .checked_mul(millis_per_unit)
            .map(Duration::from_millis)
            .ok_or_else(|| "duration too large".to_string())?;
        total = total
            .checked_add(part)
            .ok_or_else(|| "duration too large".to_string())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("0", 0)]
    #[case("30s", 30_000)]
    #[case("5m", 300_000)]
    #[case("1h30m", 5_400_000)]
    #[case("250ms", 250)]
    #[case("2d", 172_800_000)]
    #[case(" 10s ", 10_000)]
    fn accepts_durations_with_units(#[case] text: &str, #[case] millis: u64) {
        assert_eq!(parse_duration(text), Ok(Duration::from_millis(millis)));
    }

    #[rstest]
    #[case("banana", "expected a duration")]
    #[case("", "expected a duration")]
    #[case("60", "missing unit")]
    #[case("5 m", "unknown unit")]
    #[case("5x", "unknown unit 'x'")]
    #[case("-5s", "expected a duration")]
    #[case("99999999999999999999s", "too large")]
    #[case("9999999999999999d", "too large")]
    fn refuses_malformed_durations_with_a_reason(#[case] text: &str, #[case] reason: &str) {
        let err = parse_duration(text).expect_err(text);
        assert!(err.contains(reason), "{text:?} gave {err:?}");
    }
}

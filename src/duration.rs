//! Durations as people and providers write them: `90s`, `2m`, `1h30m`, `644ms`,
//! `1.984999999s`, `9m38.016s`, `6m0s`: one or more `NUMBER UNIT` with units h, m, s, ms.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration: write e.g. \"90s\", \"2m\", \"1h30m\" or \"500ms\"")]
pub struct BadDuration(pub String);

/// Parses a duration of one or more `NUMBER UNIT` parts (h, m, s, ms; decimals allowed).
pub fn parse(text: &str) -> Result<Duration, BadDuration> {
    parse_ms(text)
        .map(|ms| Duration::from_micros((ms * 1000.0).round() as u64))
        .ok_or_else(|| BadDuration(text.to_string()))
}

/// Parses a duration to milliseconds (fractional), or `None` when it is not one.
pub fn parse_ms(text: &str) -> Option<f64> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0f64;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number: f64 = s[start..i].parse().ok()?;
        let unit_ms = if s[i..].starts_with("ms") {
            i += 2;
            1.0
        } else if s[i..].starts_with('h') {
            i += 1;
            3_600_000.0
        } else if s[i..].starts_with('m') {
            i += 1;
            60_000.0
        } else if s[i..].starts_with('s') {
            i += 1;
            1000.0
        } else {
            return None;
        };
        total += number * unit_ms;
    }
    total.is_finite().then_some(total)
}

/// Formats a duration the way it is parsed: `1h30m`, `2m`, `90s` → `1m30s`, `500ms`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_forms() {
        assert_eq!(parse_ms("644ms"), Some(644.0));
        assert_eq!(parse_ms("7m12s"), Some(432_000.0));
        assert_eq!(parse_ms("9m38.016s").map(|x| x.round()), Some(578_016.0));
        assert_eq!(parse_ms("2m59.56s").map(|x| x.round()), Some(179_560.0));
        assert_eq!(parse_ms("6m0s"), Some(360_000.0));
        assert_eq!(parse_ms("1h2m3s"), Some(3_723_000.0));
        assert_eq!(parse_ms("1.984999999s").map(|x| x.round()), Some(1985.0));
    }

    #[test]
    fn config_forms_and_errors() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse("").is_err());
        assert!(parse("10").is_err());
        assert!(parse("5 minutes").is_err());
        assert!(parse("s").is_err());
    }

    #[test]
    fn format_roundtrips() {
        for s in ["1h30m", "2m", "1m30s", "500ms", "0s", "1h2m3s"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}

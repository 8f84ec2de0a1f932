//! Durations as people and providers write them: `90s`, `2m`, `1h30m`, `644ms`,
//! `1.984999999s`, `9m38.016s`, `6m0s`, `1d12h`: one or more `NUMBER UNIT` with units
//! d, h, m, s, ms.
//!
//! Every duration rota shows is written by one of three formatters here:
//! - [`format`], exact and parseable again (config values, timeouts, `max_wait` messages);
//! - [`short`], a wait rounded up to the second in at most two units (the TUI's gauges
//!   and status line, `rota status`, `rota ask`'s notices);
//! - [`go`], the form Go prints and providers send in headers (the simulator's replies).

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration: write e.g. \"90s\", \"2m\", \"1h30m\" or \"500ms\"")]
pub struct BadDuration(pub String);

/// Parses a duration of one or more `NUMBER UNIT` parts (d, h, m, s, ms; decimals allowed).
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
        } else if s[i..].starts_with('d') {
            i += 1;
            86_400_000.0
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

/// Formats a duration the way it is parsed, exact to the millisecond: `1h30m`, `2m`,
/// `1m30s`, `1.5s`, `500ms`, `0s` (hours are not folded into days).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis().min(u128::from(u64::MAX)) as u64;
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, ms / 60_000 % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if !ms.is_multiple_of(60_000) || out.is_empty() {
        out.push_str(&seconds(ms % 60_000));
        out.push('s');
    }
    out
}

/// Formats a wait for a glance: rounded up to the whole second, in at most two units, the
/// second one two digits wide: `7s`, `2m05s`, `3h10m`.
pub fn short(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Formats how long something quick took: tenths of a second under ten seconds (`0.4s`,
/// `1.2s`), else as [`short`].
pub fn tenths(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        short(ms)
    }
}

/// Formats a duration the way Go's `time.Duration` prints one, as providers send it in
/// rate-limit headers: `644ms`, `1.984s`, `6m0s`, `1h2m3s`, `24h0m0s`.
pub fn go(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, ms / 60_000 % 60);
    let secs = seconds(ms % 60_000);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// Milliseconds as seconds with only the decimals needed: `0`, `5`, `1.5`, `38.016`.
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1_000) {
        return format!("{}", ms / 1_000);
    }
    let frac = format!("{:03}", ms % 1_000);
    format!("{}.{}", ms / 1_000, frac.trim_end_matches('0'))
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
        assert_eq!(parse_ms("1d12h"), Some(129_600_000.0));
    }

    #[test]
    fn config_forms_and_errors() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse("").is_err());
        assert!(parse("10").is_err());
        assert!(parse("5 minutes").is_err());
        assert!(parse("s").is_err());
        for bad in ["d", "7dd", "-1d", "7d5", "seven days"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_roundtrips() {
        for s in [
            "1h30m", "2m", "1m30s", "500ms", "0s", "1h2m3s", "1.5s", "1m0.25s", "25h",
        ] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(
            format(Duration::MAX),
            format(Duration::from_millis(u64::MAX))
        );
    }

    #[test]
    fn short_rounds_up_to_two_units() {
        assert_eq!(short(0), "0s");
        assert_eq!(short(150), "1s");
        assert_eq!(short(7_000), "7s");
        assert_eq!(short(6_001), "7s");
        assert_eq!(short(125_000), "2m05s");
        assert_eq!(short(3_600_000), "1h00m");
        assert_eq!(short(11_400_000), "3h10m");
    }

    #[test]
    fn tenths_are_for_quick_things() {
        assert_eq!(tenths(412), "0.4s");
        assert_eq!(tenths(1_250), "1.2s");
        assert_eq!(tenths(9_960), "10.0s");
        assert_eq!(tenths(20_000), short(20_000));
    }

    #[test]
    fn go_durations_look_like_go_and_parse_back() {
        assert_eq!(go(644), "644ms");
        assert_eq!(go(1_984), "1.984s");
        assert_eq!(go(360_000), "6m0s");
        assert_eq!(go(578_016), "9m38.016s");
        assert_eq!(go(3_723_000), "1h2m3s");
        assert_eq!(go(1_500), "1.5s");
        assert_eq!(go(86_400_000), "24h0m0s");
        for ms in [20, 999, 1_000, 59_999, 61_000, 86_400_000] {
            assert_eq!(
                parse_ms(&go(ms)).map(|x| x.round() as u64),
                Some(ms),
                "{ms}"
            );
        }
    }
}

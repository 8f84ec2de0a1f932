//! `rota usage [--since DUR] [--json]`: the request ledger summed per provider/model.

use crate::cli::CliError;
use crate::model::{Millis, now_ms};
use crate::store::db::Db;
use crate::store::ledger::{UsageRow, usage_summary};
use std::io::Write;

/// Runs `rota usage`. `demo`: the demo keeps state in a temporary directory, so there is
/// no ledger to read.
pub fn run(since: Option<&str>, json: bool, demo: bool) -> Result<i32, CliError> {
    let now = now_ms();
    let since_ms = since
        .map(|s| parse_since(s).map(|d| now.saturating_sub(d)))
        .transpose()?;
    let path = crate::config::data_dir().map(|d| d.join("rota.db"));
    let rows = match path.as_ref().filter(|p| !demo && p.exists()) {
        Some(p) => {
            let db = Db::open(p).map_err(|e| CliError::failed(e.to_string()))?;
            usage_summary(&db, since_ms).map_err(|e| CliError::failed(e.to_string()))?
        }
        None => Vec::new(),
    };
    let text = if json {
        render_json(since_ms, &rows)
    } else if rows.is_empty() {
        match since {
            Some(s) => format!("no requests recorded in the last {s}\n"),
            None => {
                "no requests recorded yet: `rota ask` and `rota chat` record each one\n".to_string()
            }
        }
    } else {
        render_table(&rows)
    };
    // A closed pipe (`rota usage | head -1`) is not an error worth reporting.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(crate::cli::exit::OK)
}

/// Parses `--since` ([`crate::duration`]'s units with days: `7d`, `24h`, `90m`, `30s`,
/// `1d12h`, …) into milliseconds.
pub fn parse_since(text: &str) -> Result<Millis, CliError> {
    crate::duration::parse_ms(text)
        .map(|ms| ms.round() as Millis)
        .ok_or_else(|| {
            CliError::usage(format!("`{text}` is not a duration"))
                .hint("write e.g. --since 7d, 24h, 90m or 30s")
        })
}

/// `{"since": RFC3339 | null, "rows": [...]}` plus a newline.
pub fn render_json(since: Option<Millis>, rows: &[UsageRow]) -> String {
    let v = serde_json::json!({
        "since": since.map(rfc3339),
        "rows": rows,
    });
    format!("{v}\n")
}

fn rfc3339(ms: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The aligned plain-text table.
pub fn render_table(rows: &[UsageRow]) -> String {
    let header = [
        "MODEL",
        "REQS",
        "OK",
        "429",
        "ROTATED",
        "PROMPT",
        "COMPLETION",
        "COST",
        "EST.ERR",
        "P50",
        "P95",
    ];
    let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v}ms"));
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let mut total = [0u64; 6];
    let mut cost = 0.0;
    for r in rows {
        table.push(vec![
            format!("{}/{}", r.provider, r.model),
            r.requests.to_string(),
            r.ok.to_string(),
            r.rate_limited.to_string(),
            r.rotations.to_string(),
            r.prompt_tokens.to_string(),
            r.completion_tokens.to_string(),
            format!("${:.4}", r.cost_usd),
            r.estimate_error_pct
                .map_or("-".to_string(), |e| format!("{e:.1}%")),
            ms(r.latency_p50_ms),
            ms(r.latency_p95_ms),
        ]);
        for (t, v) in total.iter_mut().zip([
            r.requests,
            r.ok,
            r.rate_limited,
            r.rotations,
            r.prompt_tokens,
            r.completion_tokens,
        ]) {
            *t += v;
        }
        cost += r.cost_usd;
    }
    if rows.len() > 1 {
        let mut t = vec!["total".to_string()];
        t.extend(total.iter().map(|v| v.to_string()));
        t.push(format!("${cost:.4}"));
        t.extend(["", "", ""].map(String::from));
        table.push(t);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &table {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_days_and_duration_units() {
        assert_eq!(parse_since("7d").unwrap(), 7 * 86_400_000);
        assert_eq!(parse_since("24h").unwrap(), 86_400_000);
        assert_eq!(parse_since("90m").unwrap(), 5_400_000);
        assert_eq!(parse_since("30s").unwrap(), 30_000);
        assert_eq!(parse_since("1d12h").unwrap(), 129_600_000);
        for bad in ["", "d", "7", "seven days", "7dd", "-1d", "7d5"] {
            let e = parse_since(bad).unwrap_err();
            assert_eq!(e.code, crate::cli::exit::USAGE, "{bad}");
        }
    }

    fn row(model: &str, requests: u64) -> UsageRow {
        UsageRow {
            provider: "groq".into(),
            model: model.into(),
            requests,
            ok: requests - 1,
            rate_limited: 1,
            rotations: 1,
            prompt_tokens: 1200,
            completion_tokens: 300,
            cost_usd: 0.0125,
            estimate_error_pct: Some(2.5),
            latency_p50_ms: Some(420),
            latency_p95_ms: None,
        }
    }

    #[test]
    fn table_is_aligned_with_a_total() {
        let t = render_table(&[row("llama-3.1-8b-instant", 12), row("qwen", 3)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("MODEL"));
        assert!(lines[1].starts_with("groq/llama-3.1-8b-instant  "));
        assert!(lines[3].starts_with("total"));
        // Right-aligned numeric columns end at the same place: the REQS column.
        let end = lines[0].find("REQS").unwrap() + 4;
        assert_eq!(&lines[1][end - 2..end], "12");
        assert_eq!(&lines[2][end - 1..end], "3");
        assert_eq!(&lines[3][end - 2..end], "15");
        assert!(lines[1].contains("2.5%") && lines[1].contains("420ms"));
        assert!(lines[1].contains("$0.0125") && lines[3].contains("$0.0250"));
    }

    #[test]
    fn json_has_since_and_rows() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(Some(0), &[row("m", 2)])).unwrap();
        assert_eq!(v["since"], "1970-01-01T00:00:00Z");
        assert_eq!(v["rows"][0]["requests"], 2);
        assert_eq!(v["rows"][0]["rate_limited"], 1);
        let v: serde_json::Value = serde_json::from_str(&render_json(None, &[])).unwrap();
        assert!(v["since"].is_null());
        assert_eq!(v["rows"], serde_json::json!([]));
    }
}

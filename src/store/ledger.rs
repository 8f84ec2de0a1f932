//! The request ledger: one row per attempt (a request sent to one model with one key),
//! pruned past a horizon, and summed per provider/model for `rota usage`.

use crate::engine::Pool;
use crate::model::{Millis, ModelRef, Reason, Task, Usage};
use crate::secret::ApiKey;
use crate::store::db::{Db, DbError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The answer arrived whole.
    Ok,
    /// The provider or the connection failed (see the reason).
    Failed,
    /// The user or rota stopped it.
    Cancelled,
}

impl Outcome {
    /// The lowercase name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "cancelled" => Outcome::Cancelled,
            _ => Outcome::Failed,
        }
    }
}

/// One attempt, as the router records it when the attempt ends.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRow {
    /// When the attempt started (ms since the epoch).
    pub at_ms: Millis,
    /// What it served: a chat pool, or transcription (stored as `fast`, …, `transcription`).
    pub task: Pool,
    /// The model it went to.
    pub model: ModelRef,
    /// The account of the key (`None`: the key is its own account).
    pub account: Option<String>,
    /// The key's last four characters (see [`key_suffix`]); only these are ever stored,
    /// whatever is passed here.
    pub key_suffix: String,
    /// The prompt tokens rota estimated (and reserved) before sending.
    pub estimated_prompt_tokens: u64,
    /// The tokens the provider reported (`None` when it reported none).
    pub usage: Option<Usage>,
    /// What it cost, when the price is known.
    pub cost_usd: Option<f64>,
    /// From sending to the end of the answer or the failure.
    pub latency_ms: u64,
    /// From sending to the first answer token, when one came.
    pub first_token_ms: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed (`None` for ok).
    pub reason: Option<Reason>,
    /// Whether rota rotated to another model or key after this attempt.
    pub rotated: bool,
    /// The request id (the provider's, or rota's when the provider gave none).
    pub request_id: Option<String>,
}

/// The name stored for what an attempt served.
fn task_name(p: Pool) -> &'static str {
    match p {
        Pool::Chat(t) => t.as_str(),
        Pool::Transcription => "transcription",
    }
}

/// [`task_name`] read back (an unknown name reads as the `auto` chat task).
fn parse_task(s: &str) -> Pool {
    match s {
        "transcription" => Pool::Transcription,
        _ => Pool::Chat(s.parse().unwrap_or(Task::Auto)),
    }
}

/// The form of a key the ledger keeps: its last four characters.
pub fn key_suffix(key: &ApiKey) -> String {
    key.suffix()
}

/// The last four characters of `s` without a leading `…`: what is stored for a key.
fn last4(s: &str) -> String {
    let s = s.trim_start_matches('…');
    let chars: Vec<char> = s.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// The ledger's write side: records attempts and, at most once an hour per process,
/// deletes rows older than the horizon.
#[derive(Debug)]
pub struct Ledger {
    horizon_ms: Millis,
    /// When this process last pruned (ms of the row that triggered it; 0: never).
    last_prune: AtomicU64,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new(Self::DEFAULT_HORIZON)
    }
}

impl Ledger {
    /// Rows older than this are deleted by default.
    pub const DEFAULT_HORIZON: Duration = Duration::from_secs(90 * 86_400);
    /// A process prunes at most this often.
    pub const PRUNE_EVERY_MS: Millis = 3_600_000;

    /// A ledger that keeps `horizon` of history.
    pub fn new(horizon: Duration) -> Self {
        Self {
            horizon_ms: Millis::try_from(horizon.as_millis()).unwrap_or(Millis::MAX),
            last_prune: AtomicU64::new(0),
        }
    }

    /// Appends one attempt. The first record of a process, and then one an hour (by the
    /// rows' own times), also deletes rows older than the horizon, in the same transaction.
    pub fn record(&self, db: &Db, row: &AttemptRow) -> Result<(), DbError> {
        let last = self.last_prune.load(Ordering::Relaxed);
        let prune = last == 0 || row.at_ms >= last.saturating_add(Self::PRUNE_EVERY_MS);
        let suffix = last4(&row.key_suffix);
        let usage = row.usage;
        db.write(|tx| {
            tx.execute(
                "INSERT INTO attempts (at_ms, task, provider, model, account, key_suffix,
                     estimated_tokens, prompt_tokens, completion_tokens, cost_usd, latency_ms,
                     first_token_ms, outcome, reason, rotated, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                rusqlite::params![
                    row.at_ms as i64,
                    task_name(row.task),
                    row.model.provider,
                    row.model.id,
                    row.account,
                    suffix,
                    row.estimated_prompt_tokens as i64,
                    usage.map(|u| u.prompt_tokens as i64),
                    usage.map(|u| u.completion_tokens as i64),
                    row.cost_usd,
                    row.latency_ms as i64,
                    row.first_token_ms.map(|v| v as i64),
                    row.outcome.as_str(),
                    row.reason.map(|r| r.as_str()),
                    row.rotated,
                    row.request_id,
                ],
            )?;
            if prune {
                delete_before(tx, row.at_ms.saturating_sub(self.horizon_ms))?;
            }
            Ok(())
        })?;
        if prune {
            self.last_prune.store(row.at_ms.max(1), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Deletes rows older than the horizon as of `now`; returns how many went.
    pub fn prune(&self, db: &Db, now: Millis) -> Result<usize, DbError> {
        let n = db.write(|tx| delete_before(tx, now.saturating_sub(self.horizon_ms)))?;
        self.last_prune.store(now.max(1), Ordering::Relaxed);
        Ok(n)
    }
}

fn delete_before(tx: &rusqlite::Transaction<'_>, cutoff: Millis) -> rusqlite::Result<usize> {
    tx.execute("DELETE FROM attempts WHERE at_ms < ?1", [cutoff as i64])
}

/// The attempts since `since` (all when `None`), oldest first.
pub fn attempts(db: &Db, since: Option<Millis>) -> Result<Vec<AttemptRow>, DbError> {
    db.read(|c| {
        let mut st = c.prepare(
            "SELECT at_ms, task, provider, model, account, key_suffix, estimated_tokens,
                    prompt_tokens, completion_tokens, cost_usd, latency_ms, first_token_ms,
                    outcome, reason, rotated, request_id
             FROM attempts WHERE at_ms >= ?1 ORDER BY at_ms, id",
        )?;
        let rows = st.query_map([since.unwrap_or(0) as i64], |r| {
            let prompt: Option<i64> = r.get(7)?;
            let completion: Option<i64> = r.get(8)?;
            let task: String = r.get(1)?;
            let outcome: String = r.get(12)?;
            let reason: Option<String> = r.get(13)?;
            Ok(AttemptRow {
                at_ms: r.get::<_, i64>(0)?.max(0) as Millis,
                task: parse_task(&task),
                model: ModelRef::new(r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                account: r.get(4)?,
                key_suffix: r.get(5)?,
                estimated_prompt_tokens: r.get::<_, i64>(6)?.max(0) as u64,
                usage: match (prompt, completion) {
                    (None, None) => None,
                    (p, c) => Some(Usage {
                        prompt_tokens: p.unwrap_or(0).max(0) as u64,
                        completion_tokens: c.unwrap_or(0).max(0) as u64,
                    }),
                },
                cost_usd: r.get(9)?,
                latency_ms: r.get::<_, i64>(10)?.max(0) as u64,
                first_token_ms: r.get::<_, Option<i64>>(11)?.map(|v| v.max(0) as u64),
                outcome: Outcome::parse(&outcome),
                reason: reason
                    .and_then(|s| serde_json::from_value(serde_json::Value::String(s)).ok()),
                rotated: r.get(14)?,
                request_id: r.get(15)?,
            })
        })?;
        rows.collect()
    })
}

/// The ledger summed for one provider/model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsageRow {
    /// The provider (`groq`, `custom:local`, …).
    pub provider: String,
    /// The model id.
    pub model: String,
    /// Attempts sent.
    pub requests: u64,
    /// Attempts that ended ok.
    pub ok: u64,
    /// Attempts that failed with reason `rate_limited` (429).
    pub rate_limited: u64,
    /// Attempts followed by a rotation.
    pub rotations: u64,
    /// Prompt tokens the provider reported.
    pub prompt_tokens: u64,
    /// Completion tokens the provider reported.
    pub completion_tokens: u64,
    /// Known cost in US dollars.
    pub cost_usd: f64,
    /// Median of |estimated − real| / real prompt tokens over ok attempts, in percent
    /// (`None` with no ok attempt that reported usage).
    pub estimate_error_pct: Option<f64>,
    /// Median latency of ok attempts (nearest rank).
    pub latency_p50_ms: Option<u64>,
    /// 95th percentile latency of ok attempts (nearest rank).
    pub latency_p95_ms: Option<u64>,
}

/// Sums the ledger since `since` (all when `None`) per provider/model, sorted by them.
pub fn usage_summary(db: &Db, since: Option<Millis>) -> Result<Vec<UsageRow>, DbError> {
    #[derive(Default)]
    struct Acc {
        row: Option<UsageRow>,
        errors: Vec<f64>,
        latencies: Vec<u64>,
    }
    let mut groups: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for a in attempts(db, since)? {
        let key = (a.model.provider.clone(), a.model.id.clone());
        let acc = groups.entry(key).or_default();
        let row = acc.row.get_or_insert_with(|| UsageRow {
            provider: a.model.provider.clone(),
            model: a.model.id.clone(),
            requests: 0,
            ok: 0,
            rate_limited: 0,
            rotations: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            estimate_error_pct: None,
            latency_p50_ms: None,
            latency_p95_ms: None,
        });
        row.requests += 1;
        row.rotations += u64::from(a.rotated);
        row.rate_limited += u64::from(a.reason == Some(Reason::RateLimited));
        row.cost_usd += a.cost_usd.unwrap_or(0.0);
        if let Some(u) = a.usage {
            row.prompt_tokens += u.prompt_tokens;
            row.completion_tokens += u.completion_tokens;
        }
        if a.outcome == Outcome::Ok {
            row.ok += 1;
            acc.latencies.push(a.latency_ms);
            if let Some(u) = a.usage.filter(|u| u.prompt_tokens > 0) {
                let real = u.prompt_tokens as f64;
                let est = a.estimated_prompt_tokens as f64;
                acc.errors.push((est - real).abs() / real * 100.0);
            }
        }
    }
    Ok(groups
        .into_values()
        .filter_map(|mut acc| {
            let mut row = acc.row.take()?;
            row.estimate_error_pct = median(&mut acc.errors);
            acc.latencies.sort_unstable();
            row.latency_p50_ms = nearest_rank(&acc.latencies, 50);
            row.latency_p95_ms = nearest_rank(&acc.latencies, 95);
            Some(row)
        })
        .collect())
}

/// The median (mean of the two middle values for an even count).
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The `p`th percentile of sorted values by nearest rank: the smallest value with at
/// least p% of the values at or below it.
fn nearest_rank(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(nearest_rank(&v, 50), Some(10));
        assert_eq!(nearest_rank(&v, 95), Some(19));
        assert_eq!(nearest_rank(&[7], 95), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn last4_keeps_only_the_suffix() {
        assert_eq!(last4("gsk_test_0001_abcd"), "abcd");
        assert_eq!(last4("…abcd"), "abcd");
        assert_eq!(last4("ab"), "ab");
    }
}

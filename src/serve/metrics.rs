//! What `GET /metrics` reports, in Prometheus' text format: attempts per provider, model
//! and account by outcome, the providers' 429s, rotations, tokens, cost, answer latency,
//! the HTTP requests `rota serve` took, and gauges of every window's use against its limit.
//! Counters are fed from the router's events, the same ones `--json` prints.

use crate::engine::Status;
use crate::model::Reason;
use crate::router::events::Event;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// `(provider, model)`.
type ModelKey = (String, String);
/// `(provider, model, account)`.
pub type AccountKey = (String, String, String);

/// A latency histogram: counts per bucket (not cumulative), sum and count.
#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    over: u64,
    sum: f64,
}

impl Histogram {
    fn add(&mut self, secs: f64) {
        self.sum += secs;
        match BUCKETS.iter().position(|b| secs <= *b) {
            Some(i) => self.counts[i] += 1,
            None => self.over += 1,
        }
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.over
    }
}

#[derive(Default)]
struct Counters {
    attempts: BTreeMap<(AccountKey, String), u64>,
    provider_429: BTreeMap<AccountKey, u64>,
    rotations: BTreeMap<String, u64>,
    tokens: BTreeMap<(ModelKey, &'static str), u64>,
    cost: BTreeMap<ModelKey, f64>,
    latency: BTreeMap<ModelKey, Histogram>,
    http: BTreeMap<(&'static str, u16), u64>,
}

/// Every counter of one `rota serve`.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    in_flight: AtomicI64,
}

/// One request's view of its events: which attempt an outcome belongs to.
pub struct Tracker<'m> {
    metrics: &'m Metrics,
    current: Option<AccountKey>,
}

impl Metrics {
    /// Starts following one request's events.
    pub fn track(&self) -> Tracker<'_> {
        self.track_from(None)
    }

    /// Goes on following one request's events in another tracker (a task that took the
    /// request over), from the attempt [`Tracker::current`] named.
    pub fn track_from(&self, current: Option<AccountKey>) -> Tracker<'_> {
        Tracker {
            metrics: self,
            current,
        }
    }

    /// Counts one HTTP request `rota serve` answered.
    pub fn http(&self, route: &'static str, status: u16) {
        if let Ok(mut c) = self.counters.lock() {
            *c.http.entry((route, status)).or_default() += 1;
        }
    }

    /// One more (or, with `-1`, one less) request in flight.
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// The Prometheus text: every counter, then the windows of `status` as gauges.
    pub fn render(&self, status: Option<&Status>) -> String {
        let mut out = String::new();
        let Ok(c) = self.counters.lock() else {
            return out;
        };
        head(
            &mut out,
            "rota_attempts_total",
            "counter",
            "Provider calls by provider, model, account and outcome (ok, or the reason it failed).",
        );
        for (((p, m, a), outcome), n) in &c.attempts {
            line(
                &mut out,
                "rota_attempts_total",
                &[
                    ("provider", p),
                    ("model", m),
                    ("account", a),
                    ("outcome", outcome),
                ],
                *n as f64,
            );
        }
        head(
            &mut out,
            "rota_provider_429_total",
            "counter",
            "429 answers from providers (rota rotated away from each).",
        );
        for ((p, m, a), n) in &c.provider_429 {
            line(
                &mut out,
                "rota_provider_429_total",
                &[("provider", p), ("model", m), ("account", a)],
                *n as f64,
            );
        }
        head(
            &mut out,
            "rota_rotations_total",
            "counter",
            "Rotations to another model or key, by reason.",
        );
        for (reason, n) in &c.rotations {
            line(
                &mut out,
                "rota_rotations_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
        head(
            &mut out,
            "rota_tokens_total",
            "counter",
            "Tokens the providers counted, by direction (in: prompt, out: answer).",
        );
        for (((p, m), dir), n) in &c.tokens {
            line(
                &mut out,
                "rota_tokens_total",
                &[("provider", p), ("model", m), ("direction", dir)],
                *n as f64,
            );
        }
        head(
            &mut out,
            "rota_cost_usd_total",
            "counter",
            "What the answers cost, in USD, at the catalog's prices.",
        );
        for ((p, m), usd) in &c.cost {
            line(
                &mut out,
                "rota_cost_usd_total",
                &[("provider", p), ("model", m)],
                *usd,
            );
        }
        head(
            &mut out,
            "rota_answer_seconds",
            "histogram",
            "From a request leaving for the provider to the last byte of its answer.",
        );
        for ((p, m), h) in &c.latency {
            let mut cumulative = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let le = b.to_string();
                line(
                    &mut out,
                    "rota_answer_seconds_bucket",
                    &[("provider", p), ("model", m), ("le", &le)],
                    cumulative as f64,
                );
            }
            line(
                &mut out,
                "rota_answer_seconds_bucket",
                &[("provider", p), ("model", m), ("le", "+Inf")],
                h.count() as f64,
            );
            line(
                &mut out,
                "rota_answer_seconds_sum",
                &[("provider", p), ("model", m)],
                h.sum,
            );
            line(
                &mut out,
                "rota_answer_seconds_count",
                &[("provider", p), ("model", m)],
                h.count() as f64,
            );
        }
        head(
            &mut out,
            "rota_http_requests_total",
            "counter",
            "Requests rota serve answered, by route and status.",
        );
        for ((route, status), n) in &c.http {
            let s = status.to_string();
            line(
                &mut out,
                "rota_http_requests_total",
                &[("route", route), ("status", &s)],
                *n as f64,
            );
        }
        drop(c);
        head(
            &mut out,
            "rota_in_flight_requests",
            "gauge",
            "Requests rota serve is answering now.",
        );
        line(
            &mut out,
            "rota_in_flight_requests",
            &[],
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        if let Some(s) = status {
            windows(&mut out, s);
        }
        out
    }
}

impl Tracker<'_> {
    /// The attempt under way (provider, model, account), if any.
    pub fn current(&self) -> Option<AccountKey> {
        self.current.clone()
    }

    /// Counts what one event says.
    pub fn observe(&mut self, ev: &Event) {
        let Ok(mut c) = self.metrics.counters.lock() else {
            return;
        };
        match ev {
            Event::ModelSelected {
                provider,
                model,
                account,
                ..
            } => self.current = Some((provider.clone(), model.clone(), account.clone())),
            Event::ModelRotation { reason, .. } => {
                *c.rotations.entry(reason.as_str().to_string()).or_default() += 1;
                if *reason == Reason::RateLimited
                    && let Some(k) = &self.current
                {
                    *c.provider_429.entry(k.clone()).or_default() += 1;
                }
                self.end_attempt(&mut c, reason.as_str());
            }
            Event::Done {
                provider,
                model,
                usage,
                cost_usd,
                latency_ms,
                ..
            } => {
                let m = (provider.clone(), model.clone());
                *c.tokens.entry((m.clone(), "in")).or_default() += usage.prompt_tokens;
                *c.tokens.entry((m.clone(), "out")).or_default() += usage.completion_tokens;
                *c.cost.entry(m.clone()).or_default() += cost_usd;
                self.answered(&mut c, m, *latency_ms);
            }
            Event::Transcript {
                provider,
                model,
                latency_ms,
                ..
            } => self.answered(&mut c, (provider.clone(), model.clone()), *latency_ms),
            // A research turn answered (its tool calls, or the final answer before `done`):
            // its attempt is `ok`; `done` then finds no attempt left to count again.
            Event::Step { .. } => self.end_attempt(&mut c, "ok"),
            Event::Error { kind, .. } => self.end_attempt(&mut c, kind),
            _ => {}
        }
    }
}

impl Tracker<'_> {
    /// An answer (or a transcript) arrived: its latency, and its attempt counted as `ok`.
    fn answered(&mut self, c: &mut Counters, m: ModelKey, latency_ms: u64) {
        c.latency
            .entry(m)
            .or_default()
            .add(latency_ms as f64 / 1000.0);
        self.end_attempt(c, "ok");
    }

    /// The attempt under way ended as `outcome`: counted once (a later event finds none).
    fn end_attempt(&mut self, c: &mut Counters, outcome: &str) {
        if let Some(k) = self.current.take() {
            *c.attempts.entry((k, outcome.to_string())).or_default() += 1;
        }
    }
}

/// The gauges of every window of every model in a pool (each model once).
fn windows(out: &mut String, s: &Status) {
    head(
        out,
        "rota_window_used",
        "gauge",
        "Used (granted and reserved) in each window of the busiest account of a model.",
    );
    let mut limits = String::new();
    head(
        &mut limits,
        "rota_window_limit",
        "gauge",
        "The limit in force in each window (configured, or learned from a provider).",
    );
    let mut seen = std::collections::BTreeSet::new();
    for e in s.pools.values().flatten().chain(&s.transcription) {
        if !seen.insert((e.provider.as_str(), e.model.as_str())) {
            continue;
        }
        for (w, ws) in &e.windows {
            let labels = [
                ("provider", e.provider.as_str()),
                ("model", e.model.as_str()),
                ("window", w.as_str()),
            ];
            line(out, "rota_window_used", &labels, ws.used as f64);
            if let Some(l) = ws.limit {
                line(&mut limits, "rota_window_limit", &labels, l as f64);
            }
        }
    }
    out.push_str(&limits);
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as Prometheus reads it: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Usage;

    fn selected(model: &str) -> Event {
        Event::ModelSelected {
            provider: "groq".into(),
            model: model.into(),
            key: "…0001".into(),
            account: "a".into(),
            estimated_tokens: 10,
            attempt: 1,
        }
    }

    #[test]
    fn a_rotated_then_answered_request_counts_each_attempt_once() {
        let m = Metrics::default();
        let mut t = m.track();
        t.observe(&selected("m1"));
        t.observe(&Event::ModelRotation {
            from: "groq/m1".into(),
            to: Some("groq/m2".into()),
            key: "…0001".into(),
            reason: Reason::RateLimited,
            window: None,
            retry_after_ms: None,
            limit: None,
        });
        t.observe(&selected("m2"));
        t.observe(&Event::Done {
            provider: "groq".into(),
            model: "m2".into(),
            usage: Usage {
                prompt_tokens: 12,
                completion_tokens: 30,
            },
            estimated_prompt_tokens: 12,
            cost_usd: 0.5,
            latency_ms: 300,
            first_token_ms: 100,
            attempts: 2,
            finish_reason: Some("stop".into()),
            max_tokens: 100,
            sources: Vec::new(),
        });
        m.http("/v1/chat/completions", 200);
        let text = m.render(None);
        for want in [
            r#"rota_attempts_total{provider="groq",model="m1",account="a",outcome="rate_limited"} 1"#,
            r#"rota_attempts_total{provider="groq",model="m2",account="a",outcome="ok"} 1"#,
            r#"rota_provider_429_total{provider="groq",model="m1",account="a"} 1"#,
            r#"rota_rotations_total{reason="rate_limited"} 1"#,
            r#"rota_tokens_total{provider="groq",model="m2",direction="out"} 30"#,
            r#"rota_answer_seconds_bucket{provider="groq",model="m2",le="0.25"} 0"#,
            r#"rota_answer_seconds_bucket{provider="groq",model="m2",le="0.5"} 1"#,
            r#"rota_answer_seconds_count{provider="groq",model="m2"} 1"#,
            r#"rota_http_requests_total{route="/v1/chat/completions",status="200"} 1"#,
        ] {
            assert!(text.contains(want), "{want} missing from:\n{text}");
        }
    }

    #[test]
    fn every_research_turn_is_an_answered_attempt_counted_once() {
        let m = Metrics::default();
        let mut t = m.track();
        let step = |n| Event::Step {
            n,
            provider: "groq".into(),
            model: "m1".into(),
        };
        t.observe(&selected("m1"));
        t.observe(&step(1));
        t.observe(&selected("m1"));
        t.observe(&step(2));
        t.observe(&Event::Done {
            provider: "groq".into(),
            model: "m1".into(),
            usage: Usage::default(),
            estimated_prompt_tokens: 0,
            cost_usd: 0.0,
            latency_ms: 10,
            first_token_ms: 5,
            attempts: 1,
            finish_reason: None,
            max_tokens: 10,
            sources: Vec::new(),
        });
        let text = m.render(None);
        let want = r#"rota_attempts_total{provider="groq",model="m1",account="a",outcome="ok"} 2"#;
        assert!(text.contains(want), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

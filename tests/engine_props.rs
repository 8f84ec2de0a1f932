//! Property tests of the engine: random interleavings of reserve, complete, release, fail
//! and clock steps never let counted usage pass a window's limit after the safety margin,
//! and a `Wait` names exactly the first instant the same demand fits; the engine's caches
//! never change a decision.

use proptest::prelude::*;
use rota::catalog::ModelSpec;
use rota::engine::fleet::{Fleet, FleetParts, ProviderParts, slot_id};
use rota::engine::window::cap;
use rota::engine::{
    Candidate, Classified, Decision, Demand, EngineState, Grant, KeyRef, Pool, RateReading,
    complete, fail, release, reserve, sync_headers,
};
use rota::model::{Limits, Millis, ModelRef, Reason, Task, Usage, Window};
use std::collections::BTreeMap;

fn key(provider: &str, account: &str, n: u32) -> KeyRef {
    KeyRef {
        provider: provider.into(),
        account: account.into(),
        masked: format!("…{n:04}"),
        ..KeyRef::default()
    }
}

fn build(margin: f64, rpm: u64, tpm: u64, rpd: u64) -> Fleet {
    let spec = |p: &str, id: &str, l: Limits| {
        let mut s = ModelSpec::bare(ModelRef::new(p, id));
        s.tools = true;
        s.context_window = Some(8_192);
        s.limits = l;
        s
    };
    let l1 = Limits {
        rpm: Some(rpm),
        tpm: Some(tpm),
        rpd: Some(rpd),
        tpd: Some(tpm * 4),
        ..Limits::default()
    };
    let l2 = Limits {
        rpm: Some(rpm + 1),
        tpm: Some(tpm / 2 + 100),
        ..Limits::default()
    };
    let models = vec![
        spec("groq", "a", l1),
        spec("groq", "b", l2),
        spec("openai", "c", l1),
    ];
    let providers = vec![
        ProviderParts {
            name: "groq".into(),
            enabled: true,
            keys: vec![
                key("groq", "x", 1),
                key("groq", "x", 2),
                key("groq", "y", 3),
            ],
        },
        ProviderParts {
            name: "openai".into(),
            enabled: true,
            keys: vec![key("openai", "o", 4)],
        },
    ];
    let pools = [(
        Task::Fast,
        models.iter().map(|m| m.model.clone()).collect::<Vec<_>>(),
    )]
    .into_iter()
    .collect();
    Fleet::from_parts(FleetParts {
        models,
        providers,
        pools,
        transcription_order: vec![],
        safety_margin: margin,
        max_file_bytes: 25_000_000,
        max_cooldown_ms: 3_600_000,
    })
}

#[derive(Clone, Debug)]
enum Op {
    Reserve {
        prompt: u64,
        max: u64,
        skip_first: bool,
    },
    Complete {
        pick: usize,
        permille: u64,
    },
    Release {
        pick: usize,
    },
    Fail {
        pick: usize,
        kind: u8,
        limit: u64,
        retry: Option<u64>,
    },
    Step {
        ms: u64,
    },
    /// A decision on copies at a slightly earlier instant (another process's clock, a
    /// clock stepped back): the cached and the fresh copy must agree there too.
    Peek {
        prompt: u64,
        max: u64,
        back: u64,
    },
    Sync {
        pick: usize,
        tpm: bool,
        limit: u64,
        remaining: u64,
        reset_ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u64..600, 1u64..600, any::<bool>()).prop_map(|(prompt, max, skip_first)| Op::Reserve { prompt, max, skip_first }),
        2 => (any::<usize>(), 0u64..=1000).prop_map(|(pick, permille)| Op::Complete { pick, permille }),
        1 => any::<usize>().prop_map(|pick| Op::Release { pick }),
        1 => (any::<usize>(), 0u8..6, 1u64..3_000, proptest::option::of(0u64..90_000))
            .prop_map(|(pick, kind, limit, retry)| Op::Fail { pick, kind, limit, retry }),
        3 => prop_oneof![0u64..2_000, 0u64..70_000, 0u64..7_200_000].prop_map(|ms| Op::Step { ms }),
        2 => (1u64..600, 1u64..600, 0u64..5_000).prop_map(|(prompt, max, back)| Op::Peek { prompt, max, back }),
        1 => (any::<usize>(), any::<bool>(), 1u64..4_000, 0u64..4_000, 1u64..120_000)
            .prop_map(|(pick, tpm, limit, remaining, reset_ms)| Op::Sync { pick, tpm, limit, remaining, reset_ms }),
    ]
}

/// The ground truth: what the provider counts, per grant id.
struct Ledger {
    counted: BTreeMap<u64, (String, Millis, u64)>,
}

impl Ledger {
    fn used(&self, slot: &str, w: Window, now: Millis) -> u64 {
        self.counted
            .values()
            .filter(|(s, t, _)| s == slot && t + w.span_ms() > now)
            .map(|(_, _, tok)| match w {
                Window::Rpm | Window::Rpd => 1,
                _ => *tok,
            })
            .sum()
    }
}

fn demand(prompt: u64, max: u64, skip_first: bool) -> Demand {
    Demand {
        prompt_tokens: prompt,
        max_tokens: max,
        skip_models: if skip_first {
            vec![ModelRef::new("groq", "a")]
        } else {
            vec![]
        },
        ..Demand::new(Pool::Chat(Task::Fast))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn usage_stays_under_the_margin_and_waits_are_exact(
        margin in 0.0f64..0.3,
        rpm in 1u64..6,
        tpm in 500u64..3_000,
        rpd in 3u64..30,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let fleet = build(margin, rpm, tpm, rpd);
        let mut st = EngineState::default();
        let mut now: Millis = 1_700_000_000_000;
        let mut open: Vec<Grant> = Vec::new();
        let mut seen: Vec<Candidate> = Vec::new();
        let mut ledger = Ledger { counted: BTreeMap::new() };
        for op in ops {
            match op {
                Op::Step { ms } => now += ms,
                Op::Peek { prompt, max, back } => {
                    let d = demand(prompt, max, false);
                    let json = serde_json::to_string(&st).unwrap();
                    let mut fresh: EngineState = serde_json::from_str(&json).unwrap();
                    let mut cached = st.clone();
                    let at = now - back;
                    prop_assert_eq!(
                        reserve(&fleet, &mut cached, &d, at),
                        reserve(&fleet, &mut fresh, &d, at),
                        "at now - {}", back
                    );
                }
                Op::Reserve { prompt, max, skip_first } => {
                    let d = demand(prompt, max, skip_first);
                    // A copy through JSON has none of the state's caches (slot hints,
                    // bounds): the cached and the fresh state must decide the same.
                    let json = serde_json::to_string(&st).unwrap();
                    let mut fresh: EngineState = serde_json::from_str(&json).unwrap();
                    let expected = reserve(&fleet, &mut fresh, &d, now);
                    let decision = reserve(&fleet, &mut st, &d, now);
                    prop_assert_eq!(&decision, &expected);
                    match decision {
                        Decision::Grant(g) => {
                            let slot = slot_id(&g.candidate.key.account, &g.candidate.model);
                            ledger.counted.insert(g.id, (slot.clone(), now, g.tokens));
                            let spec = fleet.spec(&g.candidate.model).unwrap();
                            let s = st.slots[slot.as_str()].clone();
                            for w in [Window::Rpm, Window::Tpm, Window::Rpd, Window::Tpd] {
                                if let (Some(l), _) = s.effective(spec.limits.get(w), w) {
                                    let used = ledger.used(&slot, w, now);
                                    prop_assert!(
                                        used <= cap(l, margin),
                                        "{w} of {slot}: {used} > cap({l}, {margin})"
                                    );
                                }
                            }
                            seen.push(g.candidate.clone());
                            open.push(g);
                        }
                        Decision::Wait { until, next } => {
                            prop_assert!(until > now, "wait until {until} is not after {now}");
                            let mut at = st.clone();
                            match reserve(&fleet, &mut at, &d, until) {
                                Decision::Grant(g) => prop_assert_eq!(g.candidate.model, next),
                                other => prop_assert!(false, "at until {until}: {other:?}"),
                            }
                            let mut before = st.clone();
                            let early = reserve(&fleet, &mut before, &d, until - 1);
                            prop_assert!(
                                matches!(early, Decision::Wait { until: u, .. } if u == until),
                                "at until - 1: {early:?}"
                            );
                        }
                        Decision::Unfit(_) => {}
                    }
                }
                Op::Sync { pick, tpm, limit, remaining, reset_ms } => {
                    if !seen.is_empty() {
                        let c = seen[pick % seen.len()].clone();
                        let window = if tpm { Window::Tpm } else { Window::Rpd };
                        let limit = if tpm { limit } else { 1 + limit % 30 };
                        let r = RateReading {
                            window,
                            limit: Some(limit),
                            remaining: Some(remaining.min(limit)),
                            reset_ms: Some(reset_ms),
                        };
                        sync_headers(&fleet, &mut st, &c, &[r], now);
                    }
                }
                Op::Complete { pick, permille } => {
                    if !open.is_empty() {
                        let g = open.remove(pick % open.len());
                        let real = g.tokens * permille / 1000;
                        let usage = Usage { prompt_tokens: real / 2, completion_tokens: real - real / 2 };
                        complete(&fleet, &mut st, &g, &usage, now);
                        if let Some(e) = ledger.counted.get_mut(&g.id) {
                            e.2 = real;
                        }
                    }
                }
                Op::Release { pick } => {
                    if !open.is_empty() {
                        let g = open.remove(pick % open.len());
                        release(&mut st, &g);
                        ledger.counted.remove(&g.id);
                    }
                }
                Op::Fail { pick, kind, limit, retry } => {
                    if !open.is_empty() {
                        let g = open.remove(pick % open.len());
                        let (reason, window) = match kind {
                            0 => (Reason::RateLimited, Some(Window::Tpm)),
                            1 => (Reason::RateLimited, Some(Window::Rpm)),
                            2 => (Reason::RequestTooLarge, Some(Window::Tpm)),
                            3 => (Reason::Overloaded, None),
                            4 => (Reason::ServerError, None),
                            _ => (Reason::Timeout, None),
                        };
                        let limit = match window {
                            Some(Window::Rpm) => Some(1 + limit % 5),
                            Some(_) => Some(limit),
                            None => None,
                        };
                        let c = Classified { reason, window, limit, retry_after_ms: retry, message: String::new() };
                        fail(&fleet, &mut st, &g, &c, now);
                        // Documented: 429, too large, overloaded are released; 5xx and
                        // timeouts stay counted.
                        if matches!(reason, Reason::RateLimited | Reason::RequestTooLarge | Reason::Overloaded) {
                            ledger.counted.remove(&g.id);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn state_survives_a_json_roundtrip_mid_run(
        ops in proptest::collection::vec((1u64..300, 0u64..30_000), 1..40),
    ) {
        let fleet = build(0.05, 3, 2_000, 10);
        let mut st = EngineState::default();
        let mut now = 0;
        for (tokens, step) in ops {
            now += step;
            let _ = reserve(&fleet, &mut st, &demand(tokens, tokens, false), now);
            let json = serde_json::to_string(&st).unwrap();
            let back: EngineState = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &st);
        }
    }
}

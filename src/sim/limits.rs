//! Sliding-window limits of one account on one model, counted the way providers count:
//! every window keeps a log of (arrival, amount); admission checks every window at once and
//! records the request in all of them, so a burst never gets more than a window allows.
//!
//! To keep the log small at high rates, entries less than 1/6000 of the window after a
//! bucket's first arrival join that bucket; it expires with its newest arrival (never early)
//! and is found again by its first arrival (for the true-up).

use crate::model::{Limits, Millis, Unit, Window};
use std::collections::VecDeque;

/// Buckets per window span.
const RESOLUTION: u64 = 6_000;

/// One bucket of a log.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// First arrival (the bucket's key).
    first: Millis,
    /// Newest arrival (when it expires, plus the span).
    last: Millis,
    /// Amount recorded.
    amount: u64,
}

/// One window's log.
#[derive(Debug, Default)]
struct Log {
    /// Buckets, oldest first.
    entries: VecDeque<Bucket>,
    /// Sum of the amounts.
    used: u64,
}

impl Log {
    fn expire(&mut self, now: Millis, span: Millis) {
        while let Some(b) = self.entries.front() {
            if b.last + span <= now {
                self.used -= b.amount;
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// Records `amount` and returns the key of its bucket.
    fn add(&mut self, now: Millis, span: Millis, amount: u64) -> Millis {
        let grain = (span / RESOLUTION).max(1);
        self.used += amount;
        match self.entries.back_mut() {
            Some(b) if now.saturating_sub(b.first) < grain => {
                b.last = b.last.max(now);
                b.amount += amount;
                b.first
            }
            _ => {
                self.entries.push_back(Bucket {
                    first: now,
                    last: now,
                    amount,
                });
                now
            }
        }
    }

    /// Takes `amount` back from the bucket keyed `at` (if it still exists).
    fn refund(&mut self, at: Millis, amount: u64) {
        if let Ok(i) = self.entries.binary_search_by_key(&at, |b| b.first) {
            let take = amount.min(self.entries[i].amount);
            self.entries[i].amount -= take;
            self.used -= take;
        }
    }

    /// How long until `used + need <= limit`, from the log.
    fn wait_for(&self, now: Millis, span: Millis, need: u64, limit: u64) -> Millis {
        let mut used = self.used;
        for b in &self.entries {
            if used + need <= limit {
                break;
            }
            used -= b.amount;
            if used + need <= limit {
                return (b.last + span).saturating_sub(now);
            }
        }
        0
    }

    /// How long until every entry has expired.
    fn until_empty(&self, now: Millis, span: Millis) -> Millis {
        self.entries
            .back()
            .map(|b| (b.last + span).saturating_sub(now))
            .unwrap_or(0)
    }
}

/// What a request asks of the windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ask {
    /// Tokens (prompt estimate + max_tokens), for tpm/tpd.
    pub tokens: u64,
    /// Audio seconds, for ash/asd.
    pub audio_secs: u64,
}

impl Ask {
    fn amount(&self, w: Window) -> u64 {
        match w.unit() {
            Unit::Requests => 1,
            Unit::Tokens => self.tokens,
            Unit::AudioSeconds => self.audio_secs,
        }
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request alone exceeds the window's whole limit.
    TooLarge {
        /// The window.
        window: Window,
        /// Its limit.
        limit: u64,
        /// What was asked.
        requested: u64,
    },
    /// The window is full now; it frees enough in `wait_ms`.
    Over {
        /// The window.
        window: Window,
        /// Its limit.
        limit: u64,
        /// Used in the window now.
        used: u64,
        /// What was asked.
        requested: u64,
        /// Time until it fits.
        wait_ms: Millis,
    },
}

/// Proof of admission: where the request was recorded, for the true-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticket {
    stamps: [Millis; 6],
    ask: Ask,
}

/// A window's state for the rate-limit headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The limit.
    pub limit: u64,
    /// What is left now.
    pub remaining: u64,
    /// Time until the window is empty again.
    pub reset_ms: Millis,
}

/// All windows of one account on one model.
#[derive(Debug)]
pub struct Windows {
    limits: Limits,
    logs: [Log; 6],
}

impl Windows {
    /// Empty windows with these limits (windows without a limit are not counted).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            logs: Default::default(),
        }
    }

    /// The limits enforced.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Admits the request (recording it in every window) or says why not. A request too
    /// large for a window wins over a full window; among full windows the longest wait wins.
    pub fn admit(&mut self, now: Millis, ask: Ask) -> Result<Ticket, Refusal> {
        let mut worst: Option<Refusal> = None;
        for (i, w) in Window::ALL.into_iter().enumerate() {
            let Some(limit) = self.limits.get(w) else {
                continue;
            };
            let need = ask.amount(w);
            let log = &mut self.logs[i];
            log.expire(now, w.span_ms());
            if need > limit {
                return Err(Refusal::TooLarge {
                    window: w,
                    limit,
                    requested: need,
                });
            }
            if log.used + need > limit {
                let wait_ms = log.wait_for(now, w.span_ms(), need, limit);
                let longer = match worst {
                    Some(Refusal::Over { wait_ms: prev, .. }) => wait_ms > prev,
                    _ => true,
                };
                if longer {
                    worst = Some(Refusal::Over {
                        window: w,
                        limit,
                        used: log.used,
                        requested: need,
                        wait_ms,
                    });
                }
            }
        }
        if let Some(r) = worst {
            return Err(r);
        }
        let mut stamps = [0; 6];
        for (i, w) in Window::ALL.into_iter().enumerate() {
            if self.limits.get(w).is_some() {
                stamps[i] = self.logs[i].add(now, w.span_ms(), ask.amount(w));
            }
        }
        Ok(Ticket { stamps, ask })
    }

    /// Replaces what a ticket reserved with what was really used (`actual` ≤ reserved; a
    /// larger actual is recorded as the reserved amount). `requested: false` also takes the
    /// request itself back (a request that never reached the model).
    pub fn true_up(&mut self, ticket: &Ticket, actual: Ask, requested: bool) {
        for (i, w) in Window::ALL.into_iter().enumerate() {
            if self.limits.get(w).is_none() {
                continue;
            }
            let reserved = ticket.ask.amount(w);
            let keep = match w.unit() {
                Unit::Requests => u64::from(requested),
                _ => actual.amount(w),
            };
            if keep < reserved {
                self.logs[i].refund(ticket.stamps[i], reserved - keep);
            }
        }
    }

    /// The state of one window now, if it has a limit.
    pub fn reading(&mut self, now: Millis, w: Window) -> Option<Reading> {
        let limit = self.limits.get(w)?;
        let i = Window::ALL.iter().position(|x| *x == w)?;
        let log = &mut self.logs[i];
        log.expire(now, w.span_ms());
        Some(Reading {
            limit,
            remaining: limit.saturating_sub(log.used),
            reset_ms: log.until_empty(now, w.span_ms()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: u64, tpm: u64) -> Limits {
        Limits {
            rpm: Some(rpm),
            tpm: Some(tpm),
            ..Limits::default()
        }
    }

    #[test]
    fn grants_up_to_the_limit_then_refuses_with_the_exact_wait() {
        let mut w = Windows::new(limits(3, 1_000));
        let ask = Ask {
            tokens: 100,
            audio_secs: 0,
        };
        for t in [0, 1_000, 2_000] {
            assert!(w.admit(t, ask).is_ok());
        }
        match w.admit(5_000, ask) {
            Err(Refusal::Over {
                window,
                used,
                wait_ms,
                ..
            }) => {
                assert_eq!(window, Window::Rpm);
                assert_eq!(used, 3);
                assert_eq!(wait_ms, 55_000);
            }
            other => panic!("{other:?}"),
        }
        assert!(w.admit(60_000, ask).is_ok());
    }

    #[test]
    fn too_large_and_true_up() {
        let mut w = Windows::new(limits(100, 1_000));
        let big = Ask {
            tokens: 1_001,
            audio_secs: 0,
        };
        assert!(matches!(
            w.admit(0, big),
            Err(Refusal::TooLarge {
                window: Window::Tpm,
                ..
            })
        ));
        let ask = Ask {
            tokens: 900,
            audio_secs: 0,
        };
        let t = w.admit(0, ask).unwrap();
        assert!(w.admit(10, ask).is_err());
        w.true_up(
            &t,
            Ask {
                tokens: 50,
                audio_secs: 0,
            },
            true,
        );
        assert_eq!(w.reading(20, Window::Tpm).unwrap().remaining, 950);
        assert!(w.admit(20, ask).is_ok());
        assert_eq!(w.reading(20, Window::Rpm).unwrap().remaining, 98);
    }

    #[test]
    fn true_up_finds_a_shared_bucket() {
        let mut w = Windows::new(limits(100, 1_000));
        let ask = Ask {
            tokens: 400,
            audio_secs: 0,
        };
        let t1 = w.admit(0, ask).unwrap();
        let t2 = w.admit(3, ask).unwrap();
        let used = Ask {
            tokens: 100,
            audio_secs: 0,
        };
        w.true_up(&t1, used, true);
        w.true_up(&t2, used, true);
        assert_eq!(w.reading(5, Window::Tpm).unwrap().remaining, 800);
        // The shared bucket expires with its newest arrival, never early.
        assert_eq!(w.reading(60_002, Window::Tpm).unwrap().remaining, 800);
        assert_eq!(w.reading(60_003, Window::Tpm).unwrap().remaining, 1_000);
    }
}

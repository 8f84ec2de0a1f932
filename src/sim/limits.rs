//! Sliding-window limits of one account on one model, counted the way providers count:
//! every window keeps a log of (arrival, amount); admission checks every window at once and
//! records the request in all of them, so a burst never gets more than a window allows.
//!
//! To keep the log small at high rates, entries closer together than 1/6000 of the window
//! share one bucket, stamped with the newest arrival (so a bucket never expires early).

use crate::model::{Limits, Millis, Unit, Window};
use std::collections::VecDeque;

/// Buckets per window span.
const RESOLUTION: u64 = 6_000;

/// One window's log.
#[derive(Debug, Default)]
struct Log {
    /// (newest arrival in the bucket, amount), oldest first.
    entries: VecDeque<(Millis, u64)>,
    /// Sum of `entries`.
    used: u64,
}

impl Log {
    fn expire(&mut self, now: Millis, span: Millis) {
        while let Some(&(t, a)) = self.entries.front() {
            if t + span <= now {
                self.entries.pop_front();
                self.used -= a;
            } else {
                break;
            }
        }
    }

    fn add(&mut self, now: Millis, span: Millis, amount: u64) -> Millis {
        let grain = (span / RESOLUTION).max(1);
        match self.entries.back_mut() {
            Some((t, a)) if now.saturating_sub(*t) < grain || now < *t => {
                *t = (*t).max(now);
                *a += amount;
                self.used += amount;
                *t
            }
            _ => {
                self.entries.push_back((now, amount));
                self.used += amount;
                now
            }
        }
    }

    /// Takes `amount` back from the bucket stamped `at` (if it still exists).
    fn refund(&mut self, at: Millis, amount: u64) {
        if let Ok(i) = self.entries.binary_search_by_key(&at, |e| e.0) {
            let take = amount.min(self.entries[i].1);
            self.entries[i].1 -= take;
            self.used -= take;
        }
    }

    /// How long until `used + need <= limit`, from the log.
    fn wait_for(&self, now: Millis, span: Millis, need: u64, limit: u64) -> Millis {
        let mut used = self.used;
        for &(t, a) in &self.entries {
            if used + need <= limit {
                break;
            }
            used -= a;
            if used + need <= limit {
                return (t + span).saturating_sub(now);
            }
        }
        0
    }

    /// How long until every entry has expired.
    fn until_empty(&self, now: Millis, span: Millis) -> Millis {
        self.entries
            .back()
            .map(|&(t, _)| (t + span).saturating_sub(now))
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
}

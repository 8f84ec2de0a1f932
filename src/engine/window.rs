//! Sliding windows: a time-ordered log of (instant, amounts) with a running sum.
//!
//! Minute windows keep one mark per reservation (exact). Hour and day windows merge marks of
//! the same wall-clock minute into one bucket stamped with its *latest* addition, so a bucket
//! never leaves the window before any of its requests would (conservative, ≤ 1/60 or 1/1440 of
//! the window too pessimistic). A mark counts while `now < at + hold`, where `hold` is the
//! window's span plus a guard of 1 % (see [`hold_ms`]).

use crate::model::{Millis, Window};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Index of requests in an amounts triple.
pub const REQ: usize = 0;
/// Index of tokens in an amounts triple.
pub const TOK: usize = 1;
/// Index of audio seconds in an amounts triple.
pub const AUD: usize = 2;

/// What one reservation counts: requests, tokens, audio seconds.
pub type Amounts = [u64; 3];

/// The guard added to every window before a freed slot is reused: 1 % of its span (600 ms on
/// a minute window). A provider starts counting when a request arrives, a little after we
/// reserved it, so our log frees a slot slightly before the provider does.
pub fn guard_ms(w: Window) -> Millis {
    w.span_ms() / 100
}

/// How long a mark counts in a window: span plus guard.
pub fn hold_ms(w: Window) -> Millis {
    w.span_ms() + guard_ms(w)
}

/// Which amount of a triple a window counts.
pub fn unit_index(w: Window) -> usize {
    match w {
        Window::Rpm | Window::Rpd => REQ,
        Window::Tpm | Window::Tpd => TOK,
        Window::Ash | Window::Asd => AUD,
    }
}

/// The bucket width of a window's log (0: exact).
pub fn bucket_ms(w: Window) -> Millis {
    match w {
        Window::Rpm | Window::Tpm => 0,
        _ => 60_000,
    }
}

/// The most a window may hold after the safety margin: `floor(limit × (1 − margin))`, but at
/// least 1 when the limit is at least 1 (a limit of 1 request must stay usable).
pub fn cap(limit: u64, margin: f64) -> u64 {
    if limit == 0 {
        return 0;
    }
    let m = margin.clamp(0.0, 0.99);
    ((limit as f64 * (1.0 - m)).floor() as u64).max(1)
}

fn add3(into: &mut Amounts, a: &Amounts) {
    for (x, y) in into.iter_mut().zip(a) {
        *x += y;
    }
}

/// One entry of a log: when, and how much of each unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark(pub Millis, pub Amounts);

/// A time-ordered log with running sums.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// Marks, oldest first.
    pub marks: VecDeque<Mark>,
    /// Sum of every mark's amounts.
    pub sum: Amounts,
}

impl Log {
    /// Records `a` at `t`; with `bucket > 0` merges into the bucket of the same `t / bucket`.
    pub fn add(&mut self, t: Millis, a: Amounts, bucket: Millis) {
        add3(&mut self.sum, &a);
        if let Some(back) = self.marks.back_mut() {
            if bucket > 0 && back.0 / bucket == t / bucket {
                back.0 = back.0.max(t);
                add3(&mut back.1, &a);
                return;
            }
            if t < back.0 {
                // Out of order (another process's clock): keep the log sorted.
                let pos = self.marks.partition_point(|m| m.0 <= t);
                if bucket > 0 && pos > 0 && self.marks[pos - 1].0 / bucket == t / bucket {
                    add3(&mut self.marks[pos - 1].1, &a);
                } else {
                    self.marks.insert(pos, Mark(t, a));
                }
                return;
            }
        }
        self.marks.push_back(Mark(t, a));
    }

    /// Drops marks that no longer count at `now`.
    pub fn prune(&mut self, now: Millis, hold: Millis) {
        while let Some(front) = self.marks.front() {
            if front.0 + hold > now {
                break;
            }
            for i in 0..3 {
                self.sum[i] = self.sum[i].saturating_sub(front.1[i]);
            }
            self.marks.pop_front();
        }
    }

    /// Amount `i` counted at `now` (marks not yet pruned are skipped).
    pub fn used(&self, now: Millis, hold: Millis, i: usize) -> u64 {
        let mut expired = 0;
        for m in &self.marks {
            if m.0 + hold > now {
                break;
            }
            expired += m.1[i];
        }
        self.sum[i].saturating_sub(expired)
    }

    /// Changes the mark holding instant `t` by `delta` per unit (never below 0). Does nothing
    /// when that mark has left the log.
    pub fn adjust(&mut self, t: Millis, delta: [i64; 3], bucket: Millis) {
        if let Some(key) = t.checked_div(bucket) {
            let pos = self.marks.partition_point(|m| m.0 / bucket < key);
            if pos < self.marks.len() && self.marks[pos].0 / bucket == key {
                self.change(pos, delta);
            }
            return;
        }
        // Several marks may share an instant (reservations made, re-dated or settled in the
        // same millisecond): they are one amount there. Take the change from one mark that
        // can absorb it whole, else spread it over them, so the instant's total changes by
        // exactly `delta` whenever it can.
        let start = self.marks.partition_point(|m| m.0 < t);
        let end = start + self.marks.range(start..).take_while(|m| m.0 == t).count();
        if start == end {
            return;
        }
        let whole =
            (start..end).find(|&p| (0..3).all(|i| self.marks[p].1[i] as i64 + delta[i] >= 0));
        if let Some(p) = whole {
            self.change(p, delta);
            return;
        }
        for i in 0..3 {
            let mut left = delta[i];
            for p in start..end {
                if left == 0 {
                    break;
                }
                let mut d = [0i64; 3];
                d[i] = if left > 0 {
                    left
                } else {
                    left.max(-(self.marks[p].1[i] as i64))
                };
                left -= d[i];
                self.change(p, d);
            }
        }
    }

    /// Changes one mark by `delta` (never below zero), keeping the running sums.
    fn change(&mut self, p: usize, delta: [i64; 3]) {
        let m = &mut self.marks[p];
        for ((cur, sum), d) in m.1.iter_mut().zip(self.sum.iter_mut()).zip(delta) {
            let new = (*cur as i64 + d).max(0) as u64;
            *sum = *sum - *cur + new;
            *cur = new;
        }
    }

    /// Marks of amount `i` that still count at `now`, as (instant they stop counting, amount),
    /// in that order.
    pub fn releases(
        &self,
        now: Millis,
        hold: Millis,
        i: usize,
    ) -> impl Iterator<Item = (Millis, u64)> + '_ {
        self.marks
            .iter()
            .map(move |m| (m.0 + hold, m.1[i]))
            .filter(move |(free, a)| *free > now && *a > 0)
    }
}

/// Extra usage the provider reported beyond our own log (from `remaining` headers): counts
/// in `window` until `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extra {
    /// The window it counts in.
    pub window: Window,
    /// How much the provider counted beyond us.
    pub amount: u64,
    /// When it stops counting (the provider's reset).
    pub until: Millis,
}

/// The three logs of one account on one model, and the provider's extra counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    /// Exact log for RPM and TPM.
    pub minute: Log,
    /// One-minute buckets for ASH (only reservations with audio).
    pub hour: Log,
    /// One-minute buckets for RPD, TPD and ASD.
    pub day: Log,
    /// Provider-reported usage beyond ours.
    pub extras: Vec<Extra>,
}

impl Windows {
    fn log(&self, w: Window) -> &Log {
        match w {
            Window::Rpm | Window::Tpm => &self.minute,
            Window::Ash => &self.hour,
            _ => &self.day,
        }
    }

    /// Records a reservation at `t`.
    pub fn add(&mut self, t: Millis, a: Amounts) {
        self.minute.add(t, a, 0);
        if a[AUD] > 0 {
            self.hour.add(t, a, 60_000);
        }
        self.day.add(t, a, 60_000);
    }

    /// Changes the reservation made at `t` by `delta` per unit.
    pub fn adjust(&mut self, t: Millis, delta: [i64; 3], had_audio: bool) {
        self.minute.adjust(t, delta, 0);
        if had_audio {
            self.hour.adjust(t, delta, 60_000);
        }
        self.day.adjust(t, delta, 60_000);
    }

    /// Drops everything that no longer counts at `now`.
    pub fn prune(&mut self, now: Millis) {
        self.minute.prune(now, hold_ms(Window::Rpm));
        self.hour.prune(now, hold_ms(Window::Ash));
        self.day.prune(now, hold_ms(Window::Rpd));
        self.extras.retain(|e| e.until > now);
    }

    /// What window `w` counts at `now` (our log plus the provider's extra).
    pub fn used(&self, w: Window, now: Millis) -> u64 {
        let own = self.log(w).used(now, hold_ms(w), unit_index(w));
        let extra: u64 = self
            .extras
            .iter()
            .filter(|e| e.window == w && e.until > now)
            .map(|e| e.amount)
            .fold(0u64, u64::saturating_add);
        own.saturating_add(extra)
    }

    /// The earliest instant ≥ `now` at which `need` more fits under `cap` in window `w`, if
    /// nothing else is added; `None` when it never does (`need > cap`).
    pub fn fits_at(&self, w: Window, need: u64, cap: u64, now: Millis) -> Option<Millis> {
        if need > cap {
            return None;
        }
        let used = self.used(w, now);
        let total = used.saturating_add(need);
        if total <= cap {
            return Some(now);
        }
        let mut excess = total - cap;
        if !self.extras.iter().any(|e| e.window == w && e.until > now) {
            for (at, amount) in self.log(w).releases(now, hold_ms(w), unit_index(w)) {
                if amount >= excess {
                    return Some(at);
                }
                excess -= amount;
            }
            return None;
        }
        let mut extras: Vec<(Millis, u64)> = self
            .extras
            .iter()
            .filter(|e| e.window == w && e.until > now)
            .map(|e| (e.until, e.amount))
            .collect();
        extras.sort_unstable();
        let mut xi = extras.into_iter().peekable();
        let mut li = self
            .log(w)
            .releases(now, hold_ms(w), unit_index(w))
            .peekable();
        loop {
            let take_log = match (li.peek(), xi.peek()) {
                (Some(l), Some(x)) => l.0 <= x.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            let (at, amount) = if take_log { li.next() } else { xi.next() }?;
            if amount >= excess {
                return Some(at);
            }
            excess -= amount;
        }
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.minute.marks.is_empty() && self.day.marks.is_empty() && self.extras.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_of_one_instant_change_together_when_no_single_one_can() {
        // Two reservations at 5: one settled below its reservation, one re-dated away after
        // a settle took tokens from its mark. The instant holds [1, 81]: taking a whole
        // reservation [-1, -81] must leave [0, 0], whatever mark holds what.
        let mut log = Log::default();
        log.add(5, [0, 0, 0], 0);
        log.add(5, [1, 60, 0], 0);
        log.add(5, [0, 21, 0], 0);
        log.adjust(5, [-1, -81, 0], 0);
        assert_eq!(log.sum, [0, 0, 0]);
        // A change too large for the instant takes what is there, never more.
        log.add(7, [1, 10, 0], 0);
        log.adjust(7, [-2, -50, 0], 0);
        assert_eq!(log.sum, [0, 0, 0]);
        // No mark at the instant: nothing changes.
        log.add(9, [1, 10, 0], 0);
        log.adjust(8, [-1, -10, 0], 0);
        assert_eq!(log.sum, [1, 10, 0]);
    }

    #[test]
    fn minute_window_frees_exactly_after_span_plus_guard() {
        let mut w = Windows::default();
        w.add(1_000, [1, 100, 0]);
        w.add(2_000, [1, 100, 0]);
        assert_eq!(w.used(Window::Rpm, 2_000), 2);
        // cap 2 requests: a third fits when the first mark leaves: 1000 + 60000 + 600.
        assert_eq!(w.fits_at(Window::Rpm, 1, 2, 2_000), Some(61_600));
        assert_eq!(w.used(Window::Rpm, 61_599), 2);
        assert_eq!(w.used(Window::Rpm, 61_600), 1);
        // 150 tokens under cap 250 needs both marks gone... no: 200 + 150 - 250 = 100 → first.
        assert_eq!(w.fits_at(Window::Tpm, 150, 250, 2_000), Some(61_600));
        assert_eq!(w.fits_at(Window::Tpm, 250, 250, 2_000), Some(62_600));
        assert_eq!(w.fits_at(Window::Tpm, 251, 250, 2_000), None);
    }

    #[test]
    fn day_buckets_merge_per_minute_and_keep_latest_instant() {
        let mut w = Windows::default();
        w.add(60_000, [1, 10, 0]);
        w.add(119_999, [1, 10, 0]);
        w.add(120_000, [1, 10, 0]);
        assert_eq!(w.day.marks.len(), 2);
        assert_eq!(w.day.marks[0].0, 119_999);
        let hold = hold_ms(Window::Rpd);
        assert_eq!(w.used(Window::Rpd, 119_999 + hold - 1), 3);
        assert_eq!(w.used(Window::Rpd, 119_999 + hold), 1);
        assert_eq!(w.fits_at(Window::Rpd, 1, 3, 200_000), Some(119_999 + hold));
    }

    #[test]
    fn adjust_trues_up_and_down() {
        let mut w = Windows::default();
        w.add(5_000, [1, 1_000, 0]);
        w.add(5_000, [1, 500, 0]);
        w.adjust(5_000, [0, -800, 0], false);
        assert_eq!(w.used(Window::Tpm, 5_000), 700);
        assert_eq!(w.used(Window::Tpd, 5_000), 700);
        w.adjust(5_000, [0, 300, 0], false);
        assert_eq!(w.used(Window::Tpm, 5_000), 1_000);
        assert_eq!(w.minute.sum[TOK], 1_000);
    }

    #[test]
    fn extras_count_until_they_expire_and_merge_into_fit_time() {
        let mut w = Windows::default();
        w.add(0, [1, 100, 0]);
        w.extras.push(Extra {
            window: Window::Tpm,
            amount: 500,
            until: 10_000,
        });
        assert_eq!(w.used(Window::Tpm, 0), 600);
        assert_eq!(w.fits_at(Window::Tpm, 500, 600, 0), Some(10_000));
        assert_eq!(w.fits_at(Window::Tpm, 550, 600, 0), Some(60_600));
        w.prune(10_000);
        assert_eq!(w.used(Window::Tpm, 10_000), 100);
    }

    #[test]
    fn cap_keeps_margin_but_never_zero_for_positive_limits() {
        assert_eq!(cap(1_000, 0.05), 950);
        assert_eq!(cap(1, 0.05), 1);
        assert_eq!(cap(0, 0.05), 0);
        assert_eq!(cap(30, 0.0), 30);
    }
}

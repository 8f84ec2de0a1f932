//! The clock the router decides by and the sim keeps its windows by: the system's, or a
//! manual one for tests and simulations. Every reading of "now" in the router goes through
//! it, so a test can move time on (for rota and its simulated fleet together) instead of
//! sleeping through a rate-limit window.

use crate::model::{Millis, now_ms};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Tests only: moves this process's clock by this many milliseconds (may be negative), to
/// show that hosts whose clocks disagree still share limits through Redis.
pub const TEST_OFFSET_ENV: &str = "ROTA_TEST_CLOCK_OFFSET_MS";

/// What to add to the system clock to read the shared store's clock (0 without one).
static SHARED_CORRECTION: AtomicI64 = AtomicI64::new(0);

/// The system clock in epoch milliseconds, moved by [`TEST_OFFSET_ENV`].
fn system_ms() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    let offset = *OFFSET.get_or_init(|| {
        std::env::var(TEST_OFFSET_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    });
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    ms.saturating_add(offset)
}

/// The process's wall clock in epoch milliseconds: the system's, aligned to the shared
/// store's clock once [`align_to_shared`] has run (every rota process on every host then
/// reads the same time, whatever their own clocks say).
pub fn wall_ms() -> Millis {
    let ms = system_ms().saturating_add(SHARED_CORRECTION.load(Ordering::Relaxed));
    ms.max(0) as Millis
}

/// A shared store read its server's clock as `server_ms` just now: from here on this
/// process's wall clock reads the server's time (a decision made inside the store's
/// transaction then dates everything as the server does).
pub fn align_to_shared(server_ms: Millis) {
    let server = i64::try_from(server_ms).unwrap_or(i64::MAX);
    SHARED_CORRECTION.store(server.saturating_sub(system_ms()), Ordering::Relaxed);
}

/// Where the router reads the time from.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Wall-clock time; waits really sleep.
    #[default]
    System,
    /// A clock that moves only when told to: by a wait (see [`Clock::manual`]) or by the
    /// test that holds it (see [`Clock::driven`]).
    Manual(Arc<ManualClock>),
}

/// The time of a [`Clock::Manual`], in epoch milliseconds.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicU64,
    /// A wait moves the clock to its end itself; otherwise it waits for [`Clock::advance`].
    jumps: bool,
    moved: Notify,
}

impl Clock {
    /// A manual clock at `at` (epoch milliseconds) that a wait moves forward to the wait's
    /// end at once (never back: concurrent waiters leave it at the latest end). For
    /// sequential tests: one job at a time waits out a window in no time.
    pub fn manual(at: Millis) -> Self {
        Self::new_manual(at, true)
    }

    /// A manual clock at `at` that only [`Clock::advance`] moves; a wait returns once the
    /// clock has reached its end. For concurrent tests, where a wait that jumped at once
    /// would carry requests still in flight into the next window.
    pub fn driven(at: Millis) -> Self {
        Self::new_manual(at, false)
    }

    fn new_manual(at: Millis, jumps: bool) -> Self {
        Clock::Manual(Arc::new(ManualClock {
            now: AtomicU64::new(at),
            jumps,
            moved: Notify::new(),
        }))
    }

    /// Now, in epoch milliseconds.
    pub fn now(&self) -> Millis {
        match self {
            Clock::System => now_ms(),
            Clock::Manual(m) => m.now.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward by `ms` and wakes the waits it ends (a system clock
    /// cannot be moved: no effect).
    pub fn advance(&self, ms: u64) {
        if let Clock::Manual(m) = self {
            m.now.fetch_add(ms, Ordering::SeqCst);
            m.moved.notify_waiters();
        }
    }

    /// Waits until `at`: sleeps on the system clock; moves a jumping manual clock to `at`;
    /// waits for a driven one to be moved past `at`.
    pub async fn sleep_until(&self, at: Millis) {
        match self {
            Clock::System => {
                let ms = at.saturating_sub(now_ms());
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Clock::Manual(m) if m.jumps => {
                m.now.fetch_max(at, Ordering::SeqCst);
                m.moved.notify_waiters();
                tokio::task::yield_now().await;
            }
            Clock::Manual(m) => loop {
                let moved = m.moved.notified();
                tokio::pin!(moved);
                // Registered before the check, so an advance in between is not missed.
                moved.as_mut().enable();
                if m.now.load(Ordering::SeqCst) >= at {
                    return;
                }
                moved.await;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_to_the_end_of_each_wait_and_never_back() {
        let c = Clock::manual(1_000);
        c.sleep_until(1_500).await;
        assert_eq!(c.now(), 1_500);
        // Two waiters: the clock ends at the later end, whatever their order.
        let (a, b) = (c.clone(), c.clone());
        tokio::join!(a.sleep_until(61_500), b.sleep_until(31_500));
        assert_eq!(c.now(), 61_500);
        c.sleep_until(2_000).await;
        assert_eq!(
            c.now(),
            61_500,
            "a wait that has passed does not move it back"
        );
        c.advance(1);
        assert_eq!(c.now(), 61_501);
    }

    #[tokio::test]
    async fn a_driven_clock_wakes_a_wait_only_when_moved_past_its_end() {
        let c = Clock::driven(0);
        let w = c.clone();
        let waiting = tokio::spawn(async move { w.sleep_until(60_000).await });
        tokio::task::yield_now().await;
        c.advance(30_000);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "woke before its end");
        assert_eq!(c.now(), 30_000, "a wait does not move a driven clock");
        c.advance(30_000);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woke at its end")
            .expect("join");
    }
}

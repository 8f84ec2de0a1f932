//! The `redis` backend: the engine state on a Redis server, shared by every rota process on
//! every machine that names it, so a team's hosts together keep each account's limits.
//!
//! The state is kept as the records [`super::mirror`] describes: one key per slot (which
//! expires two days after its last write, so no key outlives what it counts), one key of
//! globals, a commit counter, a sorted set naming each record with the commit that last
//! wrote it, and a grant counter. Each process keeps the state decoded ([`Mirror`]).
//!
//! A decision is two server-side scripts, each atomic in Redis:
//! 1. **read** returns the server's clock (`TIME`), the commit counter, the records written
//!    since the commit this process last saw, and a fresh grant id;
//! 2. the engine decides on the mirror at the server's time, and **commit** writes the
//!    records the decision changed, only if the commit counter is still the one read
//!    (compare-and-set); otherwise nothing is written, the mirror undoes the decision, and
//!    it is made again on fresh records.
//!
//! Every commit of every host is therefore serialized on the counter: a decision is applied
//! only on exactly the state it was made on, as with SQLite's write lock, but without a
//! lock held across the network. docs/state.md argues it in full.

use super::mirror::{Commit, Mirror};
use super::{Store, StoreError};
use crate::engine::EngineState;
use crate::model::Millis;
use redis::aio::ConnectionManager;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A record key expires this long after its last write: a day of windows and a margin.
const RECORD_TTL_MS: u64 = 2 * 86_400_000;

/// How long a decision waits for an unreachable Redis to come back before it fails.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// How many times a decision is made again after other hosts committed first, before the
/// store says it is busy.
const CONFLICT_TRIES: u32 = 500;

/// Returns the server's time, the commit counter, a grant id (when asked), whether the
/// server lost the state this process saw (the counter went back, or the epoch key, set
/// once when the state starts, is another one), the epoch, and the records written
/// after commit `since`: names, values (empty: removed or expired) and, for a slot, every
/// hour of its day log (hour, value, hour, value, …).
const READ_SCRIPT: &str = r#"
local p = ARGV[1]
local since = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('GET', p .. 'epoch')
if not epoch then
  epoch = t[1] .. '.' .. t[2]
  redis.call('SET', p .. 'epoch', epoch)
end
local seq = tonumber(redis.call('GET', p .. 'seq') or '0')
local lost = 0
if seq < since or (ARGV[4] ~= '' and ARGV[4] ~= epoch) then
  lost = 1
  since = -1
end
local names, values, days = {}, {}, {}
if seq ~= since then
  names = redis.call('ZRANGEBYSCORE', p .. 'changes', '(' .. since, '+inf')
  for i, n in ipairs(names) do
    values[i] = redis.call('GET', p .. 'r:' .. n) or ''
    if n == '#globals' then
      days[i] = {}
    else
      days[i] = redis.call('HGETALL', p .. 'd:' .. n)
    end
  end
end
local grant = 0
if ARGV[3] == '1' then
  if redis.call('EXISTS', p .. 'grant') == 0 then
    redis.call('SET', p .. 'grant', now * 1000)
  end
  grant = redis.call('INCR', p .. 'grant')
end
return {now, seq, grant, lost, names, values, days, epoch}
"#;

/// Writes `ARGV[4]` records (`name`, `value`; an empty value removes), then day-log hours
/// (`slot`, `hour`, `value`; empty removes) as commit `base + 1`, only if the commit counter
/// is still `base`. Returns the new counter, or -1 when another commit came first (nothing
/// written).
const COMMIT_SCRIPT: &str = r#"
local p = ARGV[1]
local seq = tonumber(redis.call('GET', p .. 'seq') or '0')
if seq ~= tonumber(ARGV[2]) then
  return -1
end
seq = seq + 1
redis.call('SET', p .. 'seq', seq)
local ttl = ARGV[3]
local last = 4 + 2 * tonumber(ARGV[4])
for i = 5, last, 2 do
  local n, v = ARGV[i], ARGV[i + 1]
  local k = p .. 'r:' .. n
  if v == '' then
    redis.call('DEL', k)
  elseif n == '#globals' then
    redis.call('SET', k, v)
  else
    redis.call('SET', k, v, 'PX', ttl)
  end
  redis.call('ZADD', p .. 'changes', seq, n)
end
for i = last + 1, #ARGV, 3 do
  local n, h, v = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local k = p .. 'd:' .. n
  if v == '' then
    redis.call('HDEL', k, h)
  else
    redis.call('HSET', k, h, v)
    redis.call('PEXPIRE', k, ttl)
  end
  redis.call('ZADD', p .. 'changes', seq, n)
end
return seq
"#;

/// `url` as it may be shown: a password replaced by `***`. Anything but a `redis://` or
/// `rediss://` URL that parses is not shown at all (it could hold a password anywhere).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if matches!(u.scheme(), "redis" | "rediss") => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        _ => "(a URL that is not redis://host:port/db, not shown)".to_string(),
    }
}

/// One record the read script returned: name, value (empty: removed or expired), and a
/// slot's day-log hours.
type ReadRecord = (String, Vec<u8>, Vec<(u64, Vec<u8>)>);

/// What the read script returned.
struct Read {
    now: Millis,
    /// How long the call took, to place the server's time in it.
    took: Duration,
    epoch: String,
    seq: i64,
    grant: u64,
    lost: bool,
    records: Vec<ReadRecord>,
}

/// The read script's reply: time, counter, grant, lost, names, values, day hours (flat),
/// epoch.
type ReadReply = (
    i64,
    i64,
    i64,
    i64,
    Vec<String>,
    Vec<Vec<u8>>,
    Vec<Vec<Vec<u8>>>,
    String,
);

/// Engine state on a Redis server (`[state] backend = "redis"`).
pub struct RedisStore {
    /// Runs the connection; its own, so the store can be called from any thread, inside
    /// or outside the caller's runtime.
    runtime: Option<tokio::runtime::Runtime>,
    conn: ConnectionManager,
    /// The URL without its password, for messages.
    label: String,
    /// The start of every key.
    prefix: String,
    mirror: Mutex<Option<Mirror>>,
    /// Since when Redis has not answered (`None`: it answers): every decision gives up
    /// [`RedisStore::with_wait`] after that, however long it queued behind others.
    down_since: Mutex<Option<Instant>>,
    read: redis::Script,
    commit: redis::Script,
    wait: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.label)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Never blocks: safe inside or outside a runtime.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl RedisStore {
    /// A store on the Redis at `url`, its keys starting with `prefix:`. Does not connect:
    /// see [`RedisStore::check`]. Fails only on a URL that cannot be used.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let label = redact_url(url);
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::Shared(format!(
                "the Redis URL {label} cannot be used ({}): write it as redis://[user:password@]host:port/db, or rediss:// for TLS",
                crate::secret::mask_keys(&e.to_string())
            ))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rota-redis")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Shared(format!("cannot start the Redis client: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = {
            let _inside = runtime.enter();
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
                StoreError::Shared(format!("cannot set up the Redis client for {label}: {e}"))
            })?
        };
        Ok(Self {
            runtime: Some(runtime),
            conn,
            label,
            prefix: format!("{prefix}:"),
            mirror: Mutex::new(None),
            down_since: Mutex::new(None),
            read: redis::Script::new(READ_SCRIPT),
            commit: redis::Script::new(COMMIT_SCRIPT),
            wait: DEFAULT_WAIT,
        })
    }

    /// The same store, waiting at most `wait` for an unreachable Redis before a decision
    /// fails (default [`DEFAULT_WAIT`]).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The URL as shown (no password).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Reads the shared state once: whether Redis answers, with the error that says what to
    /// do when it does not.
    pub fn check(&self) -> Result<(), StoreError> {
        // Once, without waiting for Redis to come: a command at start says at once.
        self.look(Duration::ZERO, |_| ())
    }

    /// Brings the process's copy up to date (waiting up to `wait` for an unreachable Redis)
    /// and returns what `see` makes of it.
    fn look<T>(
        &self,
        wait: Duration,
        see: impl FnOnce(&EngineState) -> T,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let mut cache = self.mirror.lock().unwrap_or_else(|p| p.into_inner());
        let mut m = cache.take().unwrap_or_else(Mirror::empty);
        let done = self.refresh(&mut m, false, started, wait);
        let seen = done.map(|_| see(&m.state));
        *cache = Some(m);
        seen
    }

    /// Runs the Redis call `fut` on the store's runtime and waits for it (from any
    /// thread). A stopped runtime reads as a lost connection.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>> + Send + 'static,
    ) -> redis::RedisResult<T> {
        let stopped =
            || redis::RedisError::from((redis::ErrorKind::Io, "the Redis client stopped"));
        let rt = self.runtime.as_ref().ok_or_else(stopped)?;
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| stopped())?
    }

    /// The error for the user: what went wrong with Redis, named without its password,
    /// and what to do.
    fn unreachable(&self, e: &redis::RedisError) -> StoreError {
        let what = crate::secret::mask_keys(&e.to_string());
        let label = &self.label;
        let msg = if is_transient(e) {
            format!(
                "cannot reach Redis at {label} ({what}): start it or check the URL and network, or set [state] fallback = \"local\" to go on with this machine's own limits"
            )
        } else if matches!(
            e.kind(),
            redis::ErrorKind::AuthenticationFailed
                | redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
        ) {
            format!(
                "Redis at {label} refused rota ({what}): check the user and password in redis_url or $REDIS_URL, and that the user may run EVALSHA, GET, SET, ZADD and the hash commands on keys under the prefix"
            )
        } else if matches!(
            e.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        ) {
            format!(
                "Redis at {label} is a read-only replica ({what}): point redis_url at the primary"
            )
        } else {
            format!(
                "Redis at {label} failed rota's request ({what}): check that it is Redis 6 or newer and not a cluster (docs/state.md)"
            )
        };
        StoreError::Shared(msg)
    }

    /// Runs the read script: what changed since commit `since`.
    fn read_since(&self, since: i64, epoch: &str, grant: bool) -> Result<Read, redis::RedisError> {
        let mut conn = self.conn.clone();
        let script = self.read.clone();
        let prefix = self.prefix.clone();
        let epoch = epoch.to_string();
        let sent = Instant::now();
        let got = self.run(async move {
            script
                .arg(prefix)
                .arg(since)
                .arg(if grant { "1" } else { "0" })
                .arg(epoch)
                .invoke_async::<ReadReply>(&mut conn)
                .await
        });
        let took = sent.elapsed();
        let (now, seq, grant, lost, names, values, days, epoch) = got?;
        let records = names
            .into_iter()
            .zip(values)
            .zip(days)
            .map(|((n, v), flat)| {
                let hours = flat
                    .chunks_exact(2)
                    .filter_map(|kv| {
                        let h = std::str::from_utf8(&kv[0]).ok()?.parse().ok()?;
                        Some((h, kv[1].clone()))
                    })
                    .collect();
                (n, v, hours)
            })
            .collect();
        Ok(Read {
            now: now.max(0) as Millis,
            took,
            epoch,
            seq,
            grant: grant.max(0) as u64,
            lost: lost != 0,
            records,
        })
    }

    /// Runs the commit script: `Some(new counter)`, or `None` when another commit came
    /// first.
    fn commit_on(&self, base: i64, commit: &Commit) -> Result<Option<i64>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let script = self.commit.clone();
        let mut args: Vec<Vec<u8>> =
            Vec::with_capacity(4 + 2 * commit.records.len() + 3 * commit.days.len());
        args.push(self.prefix.clone().into_bytes());
        args.push(base.to_string().into_bytes());
        args.push(RECORD_TTL_MS.to_string().into_bytes());
        args.push(commit.records.len().to_string().into_bytes());
        for (name, bytes) in &commit.records {
            args.push(name.clone().into_bytes());
            args.push(bytes.clone().unwrap_or_default());
        }
        for d in &commit.days {
            args.push(d.slot.clone().into_bytes());
            args.push(d.hour.to_string().into_bytes());
            args.push(d.bytes.clone().unwrap_or_default());
        }
        let got = self.run(async move {
            let mut inv = script.prepare_invoke();
            for a in &args {
                inv.arg(a.as_slice());
            }
            inv.invoke_async::<i64>(&mut conn).await
        });
        let seq = got?;
        Ok((seq >= 0).then_some(seq))
    }

    /// Reads what changed into the mirror, retrying while Redis is unreachable: until
    /// `wait` has passed since `started` (when the caller asked) or since Redis stopped
    /// answering, whichever was first.
    fn refresh(
        &self,
        m: &mut Mirror,
        grant: bool,
        started: Instant,
        wait: Duration,
    ) -> Result<(), StoreError> {
        let down = |now: Option<Instant>| {
            let mut d = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
            match now {
                Some(t) => *d.get_or_insert(t),
                None => {
                    *d = None;
                    started
                }
            }
        };
        let read = loop {
            match self.read_since(m.seq, &m.epoch, grant) {
                Ok(r) => {
                    down(None);
                    break r;
                }
                Err(e) if is_transient(&e) => {
                    let now = Instant::now();
                    let since = down(Some(now)).min(started);
                    if now >= since + wait {
                        return Err(self.unreachable(&e));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(self.unreachable(&e)),
            }
        };
        for (name, value, hours) in &read.records {
            m.apply(name, (!value.is_empty()).then_some(value.as_slice()));
            if name != super::mirror::GLOBALS {
                m.replace_day(name, hours);
            }
        }
        m.seq = read.seq;
        m.epoch = read.epoch;
        m.settle_applied();
        if read.lost {
            // The server lost what this process saw (restarted without its data): this
            // process's view is the best there is; write it back with this commit.
            tracing::warn!(
                "Redis at {} lost rota's shared state; writing this host's view back",
                self.label
            );
            m.mark_all_unsaved();
        }
        // The server read its clock about halfway through the call.
        let half = u64::try_from(read.took.as_millis() / 2).unwrap_or(0);
        crate::clock::align_to_shared(read.now.saturating_add(half));
        if grant {
            m.state.next_grant_id = read.grant;
        }
        Ok(())
    }
}

/// Whether the error is Redis being unreachable (down, restarting, network), which may pass.
fn is_transient(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(e.kind(), redis::ErrorKind::Io)
        || e.to_string().contains("LOADING")
}

impl Store for RedisStore {
    fn transact(&self, f: &mut dyn FnMut(&mut EngineState)) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut cache = self.mirror.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..CONFLICT_TRIES {
            let mut m = cache.take().unwrap_or_else(Mirror::empty);
            if let Err(e) = self.refresh(&mut m, true, started, self.wait) {
                // Nothing was applied: the mirror is still what it was.
                *cache = Some(m);
                return Err(e);
            }
            m.begin();
            f(&mut m.state);
            let commit = m
                .prepare_commit()
                .map_err(|e| StoreError::Backend(format!("cannot encode the engine state: {e}")))?;
            if commit.is_empty() {
                *cache = Some(m);
                return Ok(());
            }
            match self.commit_on(m.seq, &commit) {
                Ok(Some(seq)) => {
                    m.committed(commit, seq);
                    *cache = Some(m);
                    return Ok(());
                }
                Ok(None) => {
                    // Another host committed first: undo, read what it wrote, decide again.
                    m.undo(&commit);
                    *cache = Some(m);
                }
                Err(e) if e.is_connection_refusal() => {
                    // Never sent: undo, and decide again once Redis answers (or give up).
                    m.undo(&commit);
                    *cache = Some(m);
                }
                Err(e) => {
                    // Whether the commit landed is unknown. The copy keeps the change (the
                    // safe side) and reads every record again next time: what Redis holds
                    // replaces it, and if Redis lost everything (a restart) this view is
                    // written back whole. The change is not made again anywhere else.
                    m.seq = -1;
                    *cache = Some(m);
                    if !is_transient(&e) {
                        return Err(self.unreachable(&e));
                    }
                    self.down_since
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert_with(Instant::now);
                    return Err(StoreError::Uncertain(format!(
                        "Redis at {} stopped answering while saving a change ({}): it may or may not have been saved; start Redis or check the network, then try again",
                        self.label,
                        crate::secret::mask_keys(&e.to_string())
                    )));
                }
            }
        }
        Err(StoreError::Busy(format!(
            "Redis at {}: {CONFLICT_TRIES} decisions in a row lost to other hosts' commits",
            self.label
        )))
    }

    fn snapshot(&self) -> Result<EngineState, StoreError> {
        self.look(self.wait, EngineState::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown() {
        assert_eq!(
            redact_url("redis://rota:s3cret-pass@cache.example:6380/2"),
            "redis://rota:***@cache.example:6380/2"
        );
        assert_eq!(
            redact_url("rediss://cache.example/0"),
            "rediss://cache.example/0"
        );
        for bad in [
            "redis://:s3cret@[bad",
            ":s3cret@10.0.0.5:6379",
            "user:s3cret@host",
            "http://u:s3cret@host",
        ] {
            assert!(!redact_url(bad).contains("s3cret"), "{bad}");
        }
    }

    #[test]
    fn a_bad_url_says_how_to_write_one() {
        let e = RedisStore::new("redis://:pw@host:notaport/0", "rota").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("redis://[user:password@]host:port/db"), "{s}");
        assert!(!s.contains("pw@"), "{s}");
    }

    /// The test Redis (`ROTA_REDIS_URL`), or `None` with a note on stderr; with
    /// `ROTA_REDIS_REQUIRED=1` a missing one fails the test.
    fn test_url(test: &str) -> Option<String> {
        match std::env::var("ROTA_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(u) => Some(u),
            None if std::env::var("ROTA_REDIS_REQUIRED").is_ok_and(|v| v == "1") => {
                panic!("{test}: ROTA_REDIS_REQUIRED=1 but ROTA_REDIS_URL is not set")
            }
            None => {
                eprintln!("SKIPPED {test}: ROTA_REDIS_URL is not set (see .ci/redis-setup.sh)");
                None
            }
        }
    }

    /// A key prefix no other test uses.
    fn unique_prefix(test: &str) -> String {
        format!(
            "rota-test-{test}-{}-{}",
            std::process::id(),
            crate::model::now_ms()
        )
    }

    #[test]
    fn stores_of_several_processes_and_threads_lose_no_update() {
        let Some(url) = test_url("stores_of_several_processes_and_threads_lose_no_update") else {
            return;
        };
        let prefix = unique_prefix("no-lost-update");
        let stores: Vec<_> = (0..2)
            .map(|_| std::sync::Arc::new(RedisStore::new(&url, &prefix).unwrap()))
            .collect();
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let s = stores[i % 2].clone();
                std::thread::spawn(move || {
                    for n in 0..50 {
                        s.transact(&mut |st| {
                            st.slots.get_or_default("a@groq/m").backoff += 1;
                            if n % 10 == 0 {
                                st.slots.get_or_default(&format!("t{i}@groq/m")).backoff += 1;
                            }
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        for s in &stores {
            let st = s.snapshot().unwrap();
            assert_eq!(st.slots["a@groq/m"].backoff, 200);
            assert_eq!(st.slots["t3@groq/m"].backoff, 5);
        }
        // A third process starting now reads it all.
        let late = RedisStore::new(&url, &prefix).unwrap();
        assert_eq!(late.snapshot().unwrap().slots["a@groq/m"].backoff, 200);
    }

    #[test]
    fn grant_ids_are_unique_across_processes_and_decisions_use_the_server_clock() {
        let Some(url) = test_url("grant_ids_are_unique_across_processes") else {
            return;
        };
        let prefix = unique_prefix("grants");
        let (a, b) = (
            RedisStore::new(&url, &prefix).unwrap(),
            RedisStore::new(&url, &prefix).unwrap(),
        );
        let mut ids = std::collections::BTreeSet::new();
        for i in 0..20 {
            let s = if i % 2 == 0 { &a } else { &b };
            s.transact(&mut |st| {
                ids.insert(st.next_grant_id);
            })
            .unwrap();
        }
        assert_eq!(ids.len(), 20);
        // The process clock now reads the server's (the same machine's here).
        let drift = crate::model::now_ms().abs_diff(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        );
        assert!(drift < 1_000, "{drift}");
    }

    #[test]
    fn an_unreachable_redis_is_a_clear_error_naming_the_url_without_its_password() {
        // Port 1 on loopback: nothing listens there.
        let s = RedisStore::new("redis://rota:hunter2@127.0.0.1:1/0", "rota")
            .unwrap()
            .with_wait(Duration::from_millis(300));
        let e = s.transact(&mut |_| {}).unwrap_err().to_string();
        assert!(
            e.contains("cannot reach Redis at redis://rota:***@127.0.0.1:1/0"),
            "{e}"
        );
        assert!(e.contains("fallback = \"local\""), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_host_finds_redis_emptied_even_after_others_counted_past_it_and_writes_its_view_back() {
        let Some(url) = test_url("redis_emptied") else {
            return;
        };
        let prefix = unique_prefix("emptied");
        let (a, b) = (
            RedisStore::new(&url, &prefix).unwrap(),
            RedisStore::new(&url, &prefix).unwrap(),
        );
        for _ in 0..5 {
            a.transact(&mut |st| st.slots.get_or_default("a@groq/m").backoff += 1)
                .unwrap();
        }
        // Only B knows this slot when the server loses everything.
        b.transact(&mut |st| st.slots.get_or_default("b@groq/m").backoff = 4)
            .unwrap();
        assert_eq!(b.snapshot().unwrap().slots["a@groq/m"].backoff, 5);
        // The server loses everything (a restart without persistence).
        let mut c = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut c)
            .unwrap();
        let _: () = redis::cmd("DEL").arg(keys).query(&mut c).unwrap();
        // A writes its view back and counts on, past the number B last saw.
        for _ in 0..20 {
            a.transact(&mut |st| st.slots.get_or_default("a@groq/m").backoff += 1)
                .unwrap();
        }
        // B notices all the same and writes what it knew back.
        b.transact(&mut |_| {}).unwrap();
        let late = RedisStore::new(&url, &prefix).unwrap().snapshot().unwrap();
        assert_eq!(late.slots["b@groq/m"].backoff, 4, "B's view is back");
        assert_eq!(late.slots["a@groq/m"].backoff, 25);
    }
}

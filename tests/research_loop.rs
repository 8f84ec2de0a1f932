//! The research task's tool loop against the in-process sim over loopback: parallel
//! searches run at once and come back in call order, a 429 mid-loop goes on at another
//! model with the whole history, the step bound forces an answer, and the paths without a
//! Tavily key or with Tavily failing still answer.

mod shared_support;
use rota::config::{Backend, Config};
use rota::model::{ModelRef, Reason, Task};
use rota::router::events::Event;
use rota::router::{ChatRequest, End, Router};
use rota::sim::{Scenario, SimHandle};
use rota::store::MemoryStore;
use shared_support::ask_events as run;
use std::sync::Arc;
use std::time::Duration;

/// One Groq account with two research models (`r1`, `r2`) that search `calls` at a time;
/// `r1_limits` and `extra` are appended to `r1` and the scenario.
fn scenario(calls: u32, r1_limits: &str, extra: &str) -> String {
    format!(
        r#"
[defaults]
max_tokens = 64
answer_tokens = 12
tokens_per_sec = 0
ttft = "0ms"

[[providers]]
name = "groq"

[[providers.accounts]]
name = "a"
keys = ["gsk_test_0001"]

[[providers.models]]
id = "r1"
tasks = ["research"]
tools = true
parallel_tool_calls = {calls}
{r1_limits}

[[providers.models]]
id = "r2"
tasks = ["research"]
tools = true
parallel_tool_calls = {calls}
{extra}
"#
    )
}

async fn start(toml: &str) -> SimHandle {
    let s = Scenario::from_toml(toml).unwrap();
    rota::sim::start(s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The demo's config for this fleet, in memory, researching with the sim's search.
fn config(sim: &SimHandle, pool: &[&str]) -> Config {
    let mut c = rota::cli::demo::demo_config(sim, &std::env::temp_dir()).unwrap();
    c.state.backend = Backend::Memory;
    c.state.data_dir = None;
    c.defaults.max_wait = Duration::from_secs(5);
    c.pools.insert(
        Task::Research,
        pool.iter()
            .map(|m| m.parse::<ModelRef>().unwrap())
            .collect(),
    );
    c
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![rota::message::Message::user(text)],
        task: Some(Task::Research),
        max_tokens: Some(64),
        ..ChatRequest::default()
    }
}

fn calls(ev: &[Event]) -> Vec<(String, String)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::ToolCall { id, name, .. } => Some((id.clone(), name.clone())),
            _ => None,
        })
        .collect()
}

fn results(ev: &[Event]) -> Vec<(String, bool, Option<String>)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::ToolResult { id, ok, error, .. } => Some((id.clone(), *ok, error.clone())),
            _ => None,
        })
        .collect()
}

fn answer(ev: &[Event]) -> String {
    ev.iter()
        .filter_map(|e| match e {
            Event::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn done_sources(ev: &[Event]) -> Vec<String> {
    match ev.last() {
        Some(Event::Done { sources, .. }) => sources.clone(),
        other => panic!("the last event is not done: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_searches_run_at_once_and_come_back_in_call_order() {
    let sim = start(&format!(
        "{}\n[search]\nlatency = \"400ms\"\n",
        scenario(3, "", "")
    ))
    .await;
    let r = Router::new(config(&sim, &["groq/r1"]), Arc::new(MemoryStore::default()));
    let (end, ev) = run(&r, request("free tier rate limits")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    let called = calls(&ev);
    // `--json` prints a call's arguments as the object the model wrote.
    let line = ev
        .iter()
        .find(|e| matches!(e, Event::ToolCall { .. }))
        .map(Event::to_json_line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(v["arguments"]["query"].is_string(), "{line}");
    assert_eq!(called.len(), 3, "{ev:#?}");
    assert!(
        called
            .iter()
            .all(|(id, name)| name == "web_search" && id.starts_with("call_"))
    );
    let got = results(&ev);
    let ids: Vec<&String> = got.iter().map(|(id, ..)| id).collect();
    let want: Vec<&String> = called.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, want, "results in the order of the calls");
    assert!(got.iter().all(|(_, ok, _)| *ok), "{got:?}");
    let stats = sim.stats();
    assert_eq!(stats["search"]["requests"], 3, "{stats}");
    assert!(
        stats["search"]["peak_concurrency"].as_u64() >= Some(2),
        "the searches overlapped: {stats}"
    );
    // Two model turns: the searches, then the answer with its sources.
    let steps: Vec<u32> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Step { n, .. } => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [1, 2]);
    let sources = done_sources(&ev);
    assert!(!sources.is_empty());
    assert!(answer(&ev).contains("Sources:\n1. "), "{}", answer(&ev));
    assert!(answer(&ev).contains(&sources[0]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_mid_loop_goes_on_at_another_model_with_the_whole_history() {
    // The sim lets `r1` take one request a minute; rota does not know it.
    let sim = start(&scenario(2, "rpm = 1", "")).await;
    let mut c = config(&sim, &["groq/r1", "groq/r2"]);
    for m in &mut c.models {
        m.limits = Default::default();
    }
    let r = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, ev) = run(&r, request("groq limits")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    let rotation = ev.iter().find_map(|e| match e {
        Event::ModelRotation {
            from, to, reason, ..
        } => Some((from.clone(), to.clone(), *reason)),
        _ => None,
    });
    assert_eq!(
        rotation,
        Some((
            "groq/r1".into(),
            Some("groq/r2".into()),
            Reason::RateLimited
        )),
        "{ev:#?}"
    );
    // Step 2 was answered by r2, from the history with the tool results (its estimate
    // counts them: far more than the first turn's).
    let selected: Vec<(String, u64)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::ModelSelected {
                model,
                estimated_tokens,
                ..
            } => Some((model.clone(), *estimated_tokens)),
            _ => None,
        })
        .collect();
    assert_eq!(selected.len(), 3, "{selected:?}");
    assert_eq!(selected[2].0, "r2");
    assert!(selected[2].1 > selected[0].1 + 100, "{selected:?}");
    assert!(matches!(ev.last(), Some(Event::Done { model, .. }) if model == "r2"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_step_bound_sends_the_last_turn_without_tools() {
    let sim = start(&scenario(2, "", "")).await;
    let mut c = config(&sim, &["groq/r1"]);
    c.tools.max_steps = 1;
    let r = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, ev) = run(&r, request("anything")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    assert!(
        calls(&ev).is_empty(),
        "no tools offered on the last turn: {ev:#?}"
    );
    assert!(done_sources(&ev).is_empty());
    // The call budget bounds the loop too: one call, then the answer.
    let mut c = config(&sim, &["groq/r1"]);
    c.tools.max_tool_calls = 1;
    let r = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, ev) = run(&r, request("anything")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    let got = results(&ev);
    assert_eq!(got.len(), 2, "{ev:#?}");
    assert!(got[0].1, "{got:?}");
    assert!(
        got[1].2.as_deref().is_some_and(|e| e.contains("budget")),
        "{got:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn without_a_tavily_key_it_says_so_once_and_reads_pages_only() {
    let sim = start(&scenario(2, "", "")).await;
    let mut c = config(&sim, &["groq/r1"]);
    c.tools.tavily_key = None;
    let r = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, ev) = run(&r, request("anything")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    let notices: Vec<&Event> = ev
        .iter()
        .filter(|e| matches!(e, Event::Notice { message } if message.contains("TAVILY_API_KEY")))
        .collect();
    assert_eq!(notices.len(), 1, "{ev:#?}");
    assert!(
        calls(&ev).iter().all(|(_, name)| name == "fetch_url"),
        "{ev:#?}"
    );
    assert_eq!(sim.stats()["search"]["requests"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn tavily_failures_are_results_the_model_reads_and_it_still_answers() {
    for (status, words) in [
        (432, "plan limit"),
        (429, "rate limit"),
        (401, "refused the key"),
    ] {
        let sim = start(&format!(
            "{}\n[search]\nstatus = {status}\n",
            scenario(2, "", "")
        ))
        .await;
        let r = Router::new(config(&sim, &["groq/r1"]), Arc::new(MemoryStore::default()));
        let (end, ev) = run(&r, request("anything")).await;
        assert_eq!(end, End::Answered, "{status}: {ev:#?}");
        let got = results(&ev);
        assert!(!got.is_empty(), "{status}: {ev:#?}");
        assert!(
            got.iter()
                .all(|(_, ok, e)| !ok && e.as_deref().is_some_and(|e| e.contains(words))),
            "{status}: {got:?}"
        );
        if status == 429 {
            // Tavily's 429 rests web search (a second wait): the next research sends none.
            let sent = sim.stats()["search"]["requests"].clone();
            let (end, ev) = run(&r, request("again")).await;
            assert_eq!(end, End::Answered, "{ev:#?}");
            assert_eq!(sim.stats()["search"]["requests"], sent);
            assert!(
                results(&ev)
                    .iter()
                    .all(|(_, _, e)| e.as_deref().is_some_and(|e| e.contains("resting"))),
                "{ev:#?}"
            );
        }
        sim.shutdown().await;
    }
}

/// `rota --demo batch`: a research line runs the loop and its OUT line lists its sources;
/// a plain line has none.
#[test]
fn batch_research_lines_list_their_sources() {
    let home = tempfile::tempdir().unwrap();
    let input = home.path().join("in.jsonl");
    let out = home.path().join("out.jsonl");
    std::fs::write(
        &input,
        "{\"id\":1,\"prompt\":\"groq limits\",\"task\":\"research\"}\n{\"id\":2,\"prompt\":\"hello\",\"task\":\"fast\"}\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rota"))
        .args(["--demo", "batch", "-o"])
        .arg(&out)
        .arg(&input)
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("TAVILY_API_KEY")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_id = |id: u64| lines.iter().find(|l| l["id"] == id).unwrap();
    let sources = by_id(1)["sources"].as_array().cloned().unwrap_or_default();
    assert!(!sources.is_empty(), "{text}");
    assert!(
        sources
            .iter()
            .all(|s| s.as_str().is_some_and(|u| u.contains("/tavily/page/")))
    );
    assert!(by_id(2).get("sources").is_none(), "{text}");
}

/// When no model that takes parallel calls is free, the step goes on at a sequential tool
/// model, and says so.
#[tokio::test]
async fn a_busy_parallel_pool_falls_back_to_a_sequential_tool_model() {
    let sim = start(&format!(
        "{}\n[[providers.models]]\nid = \"r3\"\ntasks = [\"research\"]\ntools = true\nparallel_tool_calls = 1\n",
        scenario(2, "", "")
    ))
    .await;
    let mut c = config(&sim, &["groq/r1", "groq/r3"]);
    // rota knows r1 takes one request a minute: the second turn finds it busy.
    for m in &mut c.models {
        if m.model.id == "r1" {
            m.limits.rpm = Some(1);
        }
    }
    c.defaults.safety_margin = 0.0;
    let r = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, ev) = run(&r, request("groq limits")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::Notice { message } if message.contains("one tool call per turn"))
        ),
        "{ev:#?}"
    );
    let steps: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Step { model, .. } => Some(model.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(steps, ["r1", "r3"], "{ev:#?}");
    assert_eq!(sim.stats()["totals"]["429"], 0);
    sim.shutdown().await;
}

/// A free Groq key: one sequential tool model (`r1`) whose whole minute (8K tokens) is
/// also the largest request it takes, and searches with long extracts. Without fitting, the history
/// outgrows the request after a few searches; with it, every turn is sent, the oldest
/// results are cut, and the model answers. Every turn re-sends the history, so the minute
/// fills: rota and the sim share a clock whose waits jump, instead of waiting real minutes.
#[tokio::test]
async fn long_searches_are_cut_to_fit_a_free_tier_request_and_the_model_still_answers() {
    let clock = rota::clock::Clock::manual(rota::model::now_ms());
    let toml = scenario(
        1,
        "tpm = 8000",
        "\n[search]\nwanted = 6\nextract_chars = 3000\n",
    );
    let scenario = Scenario::from_toml(&toml).unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let sim = rota::sim::start_with_clock(scenario, addr, clock.clone())
        .await
        .unwrap();
    let mut c = config(&sim, &["groq/r1"]);
    c.defaults.max_wait = Duration::from_secs(600);
    let r = Router::new(c, Arc::new(MemoryStore::default())).with_clock(clock);
    let mut req = request("groq free tier limits");
    req.max_tokens = None;
    let (end, ev) = run(&r, req).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    let searches = results(&ev);
    assert_eq!(
        searches.len(),
        5,
        "five turns search, the sixth answers: {ev:#?}"
    );
    assert!(searches.iter().all(|(_, ok, _)| *ok), "{searches:?}");
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::Notice { message } if message.contains("were cut so the research fits"))
        ),
        "{ev:#?}"
    );
    // Every prompt fitted the model's 8K minute (less the 5 % margin: 7,600) with a third
    // of it left for the answer.
    for e in &ev {
        if let Event::ModelSelected {
            estimated_tokens, ..
        } = e
        {
            assert!(*estimated_tokens <= 5_067, "{ev:#?}");
        }
    }
    assert_eq!(sim.stats()["totals"]["429"], 0);
    assert!(!done_sources(&ev).is_empty());
    sim.shutdown().await;
}

/// When the history outgrows every parallel tool model (a small context window here), the
/// turn goes on at a sequential tool model that takes it, as when none is free.
#[tokio::test]
async fn a_history_too_large_for_the_parallel_models_goes_on_at_a_sequential_one() {
    let sim = start(&format!(
        "{}\n[[providers.models]]\nid = \"r3\"\ntasks = [\"research\"]\ntools = true\nparallel_tool_calls = 1\n\n[search]\nextract_chars = 3000\n",
        scenario(2, "", "")
    ))
    .await;
    let mut c = config(&sim, &["groq/r1", "groq/r3"]);
    for m in &mut c.models {
        if m.model.id == "r1" {
            m.context_window = Some(1_200);
        }
        if m.model.id == "r3" {
            m.context_window = Some(131_072);
        }
    }
    let r = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, ev) = run(&r, request("groq limits")).await;
    assert_eq!(end, End::Answered, "{ev:#?}");
    let steps: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Step { model, .. } => Some(model.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(steps.first().map(String::as_str), Some("r1"), "{ev:#?}");
    assert_eq!(steps.last().map(String::as_str), Some("r3"), "{ev:#?}");
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::Notice { message } if message.contains("one tool call per turn"))
        ),
        "{ev:#?}"
    );
    sim.shutdown().await;
}

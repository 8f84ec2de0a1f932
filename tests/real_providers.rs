//! The providers as they are in late 2026: every provider alone serves every task it has a
//! model for, reasoning models stream their thinking, OpenAI's reasoning models get
//! `max_completion_tokens`, and an answer cut at `max_tokens` says so.

mod shared_support;
use rota::config::{Backend, Config};
use rota::model::Task;
use rota::router::events::Event;
use rota::router::{ChatRequest, End, Router};
use rota::sim::{Scenario, SimHandle};
use rota::store::MemoryStore;
use shared_support::ask_events as run;
use std::sync::Arc;
use std::time::Duration;

async fn demo_sim() -> SimHandle {
    rota::sim::start(Scenario::default_fleet(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The demo's config over the default fleet with only `provider`'s keys, pools rebuilt from
/// the catalog as a user with that one key gets them.
fn alone(sim: &SimHandle, provider: &str) -> Config {
    let mut c = rota::cli::demo::demo_config(sim, &std::env::temp_dir()).unwrap();
    c.state.backend = Backend::Memory;
    c.state.data_dir = None;
    c.defaults.max_wait = Duration::from_secs(20);
    c.providers.retain(|p| p.name == provider);
    c.pools = rota::config::default_pools(&c.models, &c.providers);
    c
}

fn ask(text: &str, task: Task) -> ChatRequest {
    ChatRequest {
        messages: vec![rota::message::Message::user(text)],
        task: Some(task),
        ..ChatRequest::default()
    }
}

fn done(evs: &[Event]) -> Option<(&str, &str, Option<&str>, u64)> {
    evs.iter().find_map(|e| match e {
        Event::Done {
            provider,
            model,
            finish_reason,
            max_tokens,
            ..
        } => Some((
            provider.as_str(),
            model.as_str(),
            finish_reason.as_deref(),
            *max_tokens,
        )),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_alone_answers_every_task() {
    let sim = demo_sim().await;
    let mut table = Vec::new();
    for provider in ["groq", "openai", "together"] {
        let c = alone(&sim, provider);
        let router = Router::new(c.clone(), Arc::new(MemoryStore::default()));
        for task in Task::POOLS {
            let pool = &c.pools[&task];
            assert!(
                !pool.is_empty(),
                "{provider} alone: the {task} pool is empty"
            );
            assert!(pool.iter().all(|m| m.provider == provider), "{pool:?}");
            let (end, evs) = run(&router, ask("hello there", task)).await;
            assert_eq!(end, End::Answered, "{provider} {task}: {evs:?}");
            let (p, m, finish, _) = done(&evs).unwrap();
            assert_eq!(p, provider);
            assert!(finish.is_some(), "{provider} {task}: no finish_reason");
            table.push(format!("{provider:8} {task:8} {m}"));
        }
    }
    println!("{}", table.join("\n"));
    sim.shutdown().await;
}

#[test]
fn groq_key_alone_builds_every_pool_from_the_environment() {
    let env = |k: &str| (k == "GROQ_API_KEY").then(|| "gsk_test_0001".to_string());
    let c = rota::config::parse("", "(test)", &env).unwrap();
    for task in Task::POOLS {
        let pool = &c.pools[&task];
        let groq: Vec<_> = pool.iter().filter(|m| m.provider == "groq").collect();
        assert!(!groq.is_empty(), "{task}: {pool:?}");
    }
    assert_eq!(
        c.pools[&Task::Fast][0].to_string(),
        "groq/openai/gpt-oss-20b"
    );
}

#[test]
fn a_custom_model_with_tasks_joins_those_pools_without_parallel_tools() {
    let toml = r#"
[[providers.custom]]
name = "local"
base_url = "http://127.0.0.1:8000/v1"
[[providers.custom.models]]
id = "qwen2.5-7b-instruct"
tasks = ["fast", "code"]
"#;
    let c = rota::config::parse(toml, "(test)", &|_: &str| None).unwrap();
    for task in [Task::Fast, Task::Code] {
        assert!(
            c.pools[&task]
                .iter()
                .any(|m| m.to_string() == "custom:local/qwen2.5-7b-instruct"),
            "{task}: {:?}",
            c.pools[&task]
        );
    }
    assert!(
        !c.pools[&Task::Research]
            .iter()
            .any(|m| m.provider == "custom:local")
    );
}

#[test]
fn a_config_naming_a_retired_model_points_at_its_replacement() {
    for toml in [
        "[pools]\nfast = [\"groq/llama-3.1-8b-instant\"]\n",
        "[[models]]\nprovider = \"groq\"\nid = \"llama-3.3-70b-versatile\"\ntpm = 1\n",
    ] {
        let e = rota::config::parse(toml, "c.toml", &|_: &str| None)
            .err()
            .unwrap_or_else(|| panic!("accepted: {toml}"))
            .to_string();
        assert!(e.contains("retired"), "{e}");
        assert!(e.contains("gpt-oss"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groq_streams_its_thinking_as_reasoning_events_before_the_answer() {
    let sim = demo_sim().await;
    let router = Router::new(alone(&sim, "groq"), Arc::new(MemoryStore::default()));
    let (end, evs) = run(&router, ask("why is the sky blue", Task::Fast)).await;
    assert_eq!(end, End::Answered, "{evs:?}");
    let first_reasoning = evs
        .iter()
        .position(|e| matches!(e, Event::Reasoning { .. }))
        .expect("no reasoning event");
    let first_delta = evs
        .iter()
        .position(|e| matches!(e, Event::Delta { .. }))
        .expect("no delta");
    assert!(first_reasoning < first_delta);
    let answer: String = evs
        .iter()
        .filter_map(|e| match e {
            Event::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        !answer.contains("The user asks"),
        "thinking leaked: {answer}"
    );
    let line = evs[first_reasoning].to_json_line();
    assert!(
        line.starts_with(r#"{"event":"reasoning","text":"#),
        "{line}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_reasoning_models_get_max_completion_tokens() {
    // The sim's OpenAI refuses `max_tokens` for reasoning models as the real one does: an
    // answer from gpt-6-luna proves rota sent `max_completion_tokens`.
    let sim = demo_sim().await;
    let mut c = alone(&sim, "openai");
    c.pools
        .insert(Task::Fast, vec!["openai/gpt-6-luna".parse().unwrap()]);
    let router = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, evs) = run(&router, ask("hello", Task::Fast)).await;
    assert_eq!(end, End::Answered, "{evs:?}");
    assert_eq!(done(&evs).unwrap().1, "gpt-6-luna");
    assert!(
        !evs.iter().any(|e| matches!(e, Event::ModelRotation { .. })),
        "{evs:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_answer_ends_with_finish_reason_length() {
    let sim = demo_sim().await;
    let router = Router::new(alone(&sim, "together"), Arc::new(MemoryStore::default()));
    let mut req = ask("tell me a long story", Task::Fast);
    req.max_tokens = Some(3);
    let (end, evs) = run(&router, req).await;
    assert_eq!(end, End::Answered, "{evs:?}");
    let (_, _, finish, max) = done(&evs).unwrap();
    assert_eq!(finish, Some("length"));
    assert_eq!(max, 3);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_max_tokens_the_answer_gets_the_windows_headroom() {
    // Groq's 8K TPM: no fixed default; the grant fits the answer to what the minute has left
    // (at least the task's floor), and the next request gets what is left after it.
    let sim = demo_sim().await;
    let c = alone(&sim, "groq");
    let router = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, evs) = run(&router, ask("hello", Task::Fast)).await;
    assert_eq!(end, End::Answered, "{evs:?}");
    let (_, _, _, max) = done(&evs).unwrap();
    assert!(
        max > rota::tokens::default_max_tokens(Task::Fast),
        "max_tokens {max}"
    );
    assert!(
        max <= rota::tokens::answer_ceiling(Task::Fast),
        "max_tokens {max}"
    );
    sim.shutdown().await;
}

#[test]
fn a_pool_without_a_model_of_the_keyed_provider_says_which_line_adds_one() {
    let env = |k: &str| (k == "GROQ_API_KEY").then(|| "gsk_test_0001".to_string());
    let toml = "[pools]\ncode = [\"openai/gpt-6-luna\"]\n";
    let c = rota::config::parse(toml, "(test)", &env).unwrap();
    let msg = rota::router::chat::no_candidate_message(Task::Code, &c);
    assert!(!msg.contains("set GROQ_API_KEY"), "{msg}");
    assert!(msg.contains("groq"), "{msg}");
    assert!(msg.contains("[pools] code"), "{msg}");
    assert!(msg.contains("openai"), "{msg}");
}

/// A scenario with one custom endpoint (`local`) serving a chat model and an embedder.
fn local_endpoint() -> Scenario {
    Scenario::from_toml(
        "[defaults]\nanswer_tokens = 8\ntokens_per_sec = 0\nttft = \"0ms\"\n\
         [[providers]]\nname = \"local\"\n\
         [[providers.accounts]]\nname = \"me\"\nkeys = [\"sim-local-1\"]\n\
         [[providers.models]]\nid = \"local-chat-7b\"\ntasks = [\"fast\"]\n\
         [[providers.models]]\nid = \"nomic-embed-text\"\ntasks = [\"fast\"]\n",
    )
    .unwrap()
}

fn custom_config(base_url: &str, extra: &str) -> Config {
    let toml = format!(
        "[[providers.custom]]\nname = \"local\"\nbase_url = \"{base_url}\"\n\
         keys = [\"sim-local-1\"]\n{extra}[state]\nbackend = \"memory\"\n"
    );
    rota::config::parse(&toml, "(test)", &|_: &str| None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_endpoint_without_declared_models_discovers_them_and_answers_fast() {
    let sim = rota::sim::start(local_endpoint(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut c = custom_config(&sim.base_url("local"), "");
    assert!(
        !c.pools[&Task::Fast]
            .iter()
            .any(|m| m.provider == "custom:local")
    );
    let client = rota::providers::Client::new(rota::providers::Timeouts::from(&c.defaults));
    let notices = rota::providers::discover::discover_custom_models(&mut c, &client).await;
    assert!(notices.is_empty(), "{notices:?}");
    let fast: Vec<String> = c.pools[&Task::Fast].iter().map(|m| m.to_string()).collect();
    assert!(
        fast.contains(&"custom:local/local-chat-7b".to_string()),
        "{fast:?}"
    );
    assert!(!fast.iter().any(|m| m.contains("embed")), "{fast:?}");
    assert!(
        !c.pools[&Task::Code]
            .iter()
            .any(|m| m.provider == "custom:local")
    );

    let router = Router::new(c, Arc::new(MemoryStore::default()));
    let (end, evs) = run(&router, ask("hello", Task::Fast)).await;
    assert_eq!(end, End::Answered, "{evs:?}");
    assert_eq!(
        done(&evs).map(|d| (d.0, d.1)),
        Some(("custom:local", "local-chat-7b"))
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_endpoint_that_cannot_list_says_what_to_declare_and_a_written_pool_stays() {
    // Nothing listens on the port of a sim that was shut down.
    let sim = rota::sim::start(local_endpoint(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = sim.base_url("local");
    sim.shutdown().await;
    let mut c = custom_config(&url, "");
    let client = rota::providers::Client::new(rota::providers::Timeouts::from(&c.defaults));
    let notices = rota::providers::discover::discover_custom_models(&mut c, &client).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("[[providers.custom.models]]"),
        "{notices:?}"
    );
    assert!(!c.models.iter().any(|m| m.model.provider == "custom:local"));

    // A `[pools] fast` written by hand is kept as written when models are discovered.
    let sim = rota::sim::start(local_endpoint(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut c = custom_config(
        &sim.base_url("local"),
        "[pools]\nfast = [\"groq/openai/gpt-oss-20b\"]\n",
    );
    let notices = rota::providers::discover::discover_custom_models(&mut c, &client).await;
    assert!(notices.is_empty(), "{notices:?}");
    assert!(
        c.models
            .iter()
            .any(|m| m.model.to_string() == "custom:local/local-chat-7b")
    );
    let fast: Vec<String> = c.pools[&Task::Fast].iter().map(|m| m.to_string()).collect();
    assert_eq!(fast, ["groq/openai/gpt-oss-20b"]);
    sim.shutdown().await;
}

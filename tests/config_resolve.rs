//! What a valid config resolves to: providers, keys and accounts, environment, models,
//! pools, and the example file.

use rota::config::{Backend, Config, EXAMPLE, KEYLESS_ACCOUNT, MODEL_FIELDS, load, parse};
use rota::model::{ModelRef, Task};
use std::collections::HashMap;
use std::time::Duration;

fn no_env(_: &str) -> Option<String> {
    None
}

fn ok(text: &str) -> Config {
    parse(text, "c.toml", &no_env).unwrap_or_else(|e| panic!("{e}"))
}

fn with_env(text: &str, vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(text, "c.toml", &|k: &str| map.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"))
}

fn r(s: &str) -> ModelRef {
    s.parse().unwrap()
}

#[test]
fn empty_file_is_builtins() {
    let c = ok("");
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["groq", "openai", "together"]);
    assert_eq!(
        c.provider("groq").unwrap().base_url,
        "https://api.groq.com/openai/v1"
    );
    assert_eq!(
        c.provider("openai").unwrap().base_url,
        "https://api.openai.com/v1"
    );
    assert_eq!(
        c.provider("together").unwrap().base_url,
        "https://api.together.xyz/v1"
    );
    assert!(c.providers.iter().all(|p| p.keys.is_empty() && p.enabled));
    assert_eq!(c.models, rota::catalog::builtin());
    assert_eq!(c.defaults, rota::config::Defaults::default());
    assert_eq!(c.transcription.order, ["groq", "openai", "together"]);
    assert_eq!(c.transcription.max_file_mb, 25);
    assert_eq!(c.state.backend, Backend::Local);
    assert_eq!(c.state.ledger_days, 90);
    assert_eq!(c.theme, "default");
    assert!(c.tools.tavily_key.is_none());
    assert!(c.path.is_none());
}

#[test]
fn defaults_are_read() {
    let c = ok(
        "[defaults]\ntask = \"code\"\nmax_attempts = 5\nmax_wait = \"1h30m\"\nsafety_margin = 0\nconnect_timeout = \"3s\"\nfirst_byte_timeout = \"2m\"\nidle_timeout = \"500ms\"\n",
    );
    assert_eq!(c.defaults.task, Task::Code);
    assert_eq!(c.defaults.max_attempts, 5);
    assert_eq!(c.defaults.max_wait, Duration::from_secs(5400));
    assert_eq!(c.defaults.safety_margin, 0.0);
    assert_eq!(c.defaults.connect_timeout, Duration::from_secs(3));
    assert_eq!(c.defaults.first_byte_timeout, Duration::from_secs(120));
    assert_eq!(c.defaults.idle_timeout, Duration::from_millis(500));
}

#[test]
fn env_keys_with_gaps_are_added_and_deduplicated() {
    let c = with_env(
        "[providers.groq]\nkeys = [\"gsk_test_0001\"]\n",
        &[
            ("GROQ_API_KEY", "gsk_test_0001"),
            ("GROQ_API_KEY_1", "gsk_test_0002"),
            ("GROQ_API_KEY_4", "gsk_test_0004"),
            ("GROQ_API_KEY_77", "gsk_test_0077"),
            ("OPENAI_API_KEY_2", "sk-test-0002"),
            ("TOGETHER_BASE_URL", "http://127.0.0.1:9999/together/v1/"),
            ("TAVILY_API_KEY", "tvly-test-0001"),
        ],
    );
    let groq = c.provider("groq").unwrap();
    let masked: Vec<_> = groq.keys.iter().map(|k| k.masked()).collect();
    assert_eq!(masked, ["…0001", "…0002", "…0004", "…0077"]);
    assert_eq!(c.provider("openai").unwrap().keys.len(), 1);
    assert_eq!(
        c.provider("together").unwrap().base_url,
        "http://127.0.0.1:9999/together/v1"
    );
    assert_eq!(
        c.tools.tavily_key.as_ref().unwrap().expose(),
        "tvly-test-0001"
    );
}

#[test]
fn accounts_shared_own_and_unique() {
    let c = ok(concat!(
        "[providers.groq]\nkeys = [\n",
        "  { key = \"gsk_test_a_0001\", account = \"team-a\" },\n",
        "  { key = \"gsk_test_a_0002\", account = \"team-a\" },\n",
        "  \"gsk_test_b_0003\",\n",
        "  \"gsk_test_c_0003\",\n",
        "  \"gsk_test_d_0004\",\n",
        "]\n",
    ));
    let accounts: Vec<_> = c
        .provider("groq")
        .unwrap()
        .keys
        .iter()
        .map(|k| k.account.as_str())
        .collect();
    assert_eq!(
        accounts,
        ["team-a", "team-a", "key-…0003", "key-…0003-2", "key-…0004"]
    );
}

#[test]
fn custom_providers_and_their_models() {
    let c = ok(concat!(
        "[[providers.custom]]\nname = \"local\"\nbase_url = \"http://127.0.0.1:8000/v1/\"\n",
        "[[providers.custom.models]]\nid = \"qwen2.5-7b-instruct\"\ntasks = [\"fast\", \"code\"]\ntools = true\nparallel_tools = true\nrpm = 60\npriority = 1\n",
        "[[providers.custom.models]]\nid = \"whisper-small\"\ntranscription = true\n",
        "[[providers.custom]]\nname = \"lab-2\"\nbase_url = \"https://llm.example.com/v1\"\nkeys = [\"lab_test_0001\"]\nenabled = false\n",
        "[[providers.custom.models]]\nid = \"big\"\ntasks = [\"research\"]\nparallel_tools = true\n",
    ));
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["groq", "openai", "together", "custom:local", "custom:lab-2"]
    );
    let local = c.provider("custom:local").unwrap();
    assert_eq!(local.base_url, "http://127.0.0.1:8000/v1");
    assert_eq!(local.keys.len(), 1);
    assert!(local.keys[0].key.is_none());
    assert_eq!(local.keys[0].account, KEYLESS_ACCOUNT);
    assert_eq!(local.keys[0].masked(), "none");
    let q = c.model(&r("custom:local/qwen2.5-7b-instruct")).unwrap();
    assert_eq!(q.limits.rpm, Some(60));
    assert!(q.parallel_tools && q.tools);
    // Priority 1 puts it first in the fast pool; the disabled provider's model is left out.
    assert_eq!(
        c.pools[&Task::Fast][0],
        r("custom:local/qwen2.5-7b-instruct")
    );
    assert!(!c.pools[&Task::Research].contains(&r("custom:lab-2/big")));
    assert!(c.model(&r("custom:lab-2/big")).is_some());
    // A custom provider that serves transcription joins the default order.
    assert_eq!(
        c.transcription.order,
        ["groq", "openai", "together", "custom:local"]
    );
    assert!(
        c.model(&r("custom:local/whisper-small"))
            .unwrap()
            .audio
            .is_some()
    );
}

#[test]
fn models_override_and_add() {
    let c = ok(concat!(
        "[[models]]\nprovider = \"together\"\nid = \"meta-llama/Llama-3.3-70B-Instruct-Turbo\"\ntpm = 64000\npriority = 1\n",
        "[[models]]\nprovider = \"openai\"\nid = \"gpt-4.1-mini\"\ntasks = [\"fast\"]\ntools = true\nparallel_tools = true\nvision = true\nrpm = 500\ninput_cost_per_mtok = 0.4\n",
    ));
    let m = c
        .model(&r("together/meta-llama/Llama-3.3-70B-Instruct-Turbo"))
        .unwrap();
    assert_eq!(m.limits.tpm, Some(64000));
    assert_eq!(
        m.limits.rpm,
        Some(600),
        "untouched fields keep the catalog's figures"
    );
    assert_eq!(m.priority, 1);
    assert_eq!(
        c.pools[&Task::Fast][0],
        r("together/meta-llama/Llama-3.3-70B-Instruct-Turbo")
    );
    let added = c.model(&r("openai/gpt-4.1-mini")).unwrap();
    assert_eq!(added.limits.rpm, Some(500));
    assert!(added.images.is_some(), "vision models get image limits");
    assert!(c.pools[&Task::Fast].contains(&r("openai/gpt-4.1-mini")));
    assert_eq!(c.models.len(), rota::catalog::builtin().len() + 1);
}

#[test]
fn default_pools_follow_priority_then_cost() {
    let c = ok("");
    for task in Task::POOLS {
        let pool = &c.pools[&task];
        let keyed: Vec<_> = pool
            .iter()
            .map(|m| {
                let s = c.model(m).unwrap();
                assert!(s.tasks.contains(&task));
                (s.priority, s.input_cost_per_mtok)
            })
            .collect();
        assert!(
            keyed
                .windows(2)
                .all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 <= w[1].1)),
            "{task}: {keyed:?}"
        );
    }
    assert!(!c.pools.contains_key(&Task::Auto));
}

#[test]
fn pools_replace_and_disabled_providers_drop_out() {
    let c = ok(concat!(
        "[providers.openai]\nenabled = false\n",
        "[pools]\nfast = [\"groq/openai/gpt-oss-120b\", \"openai/gpt-4o-mini\", \"groq/openai/gpt-oss-20b\"]\n",
    ));
    assert_eq!(
        c.pools[&Task::Fast],
        [r("groq/openai/gpt-oss-120b"), r("groq/openai/gpt-oss-20b")]
    );
    assert!(
        c.pools[&Task::Vision]
            .iter()
            .all(|m| m.provider != "openai")
    );
    assert!(
        !c.pools[&Task::Research].is_empty(),
        "pools not named keep their defaults"
    );
}

#[test]
fn other_sections() {
    let c = ok(
        "[transcription]\norder = [\"openai\", \"groq\"]\nmax_file_mb = 100\n[state]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nledger_days = 7\n[ui]\ntheme = \"dark\"\n[tools]\ntavily_key = \"tvly-test-0002\"\n",
    );
    assert_eq!(c.transcription.order, ["openai", "groq"]);
    assert_eq!(c.transcription.max_file_mb, 100);
    assert_eq!(c.state.backend, Backend::Redis);
    assert_eq!(
        c.state.redis_url.as_deref(),
        Some("redis://127.0.0.1:6379/0")
    );
    assert_eq!(c.state.ledger_days, 7);
    assert_eq!(c.theme, "dark");
    assert_eq!(c.tools.tavily_key.as_ref().unwrap().masked(), "…0002");
    assert!(!format!("{c:?}").contains("tvly-test-0002"));
}

#[test]
fn redis_url_from_the_environment_only_for_the_redis_backend_and_never_shown_whole() {
    let redis = "[state]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nredis_prefix = \"team-a\"\nfallback = \"local\"\n";
    let c = with_env(redis, &[("REDIS_URL", "redis://rota:hunter2@cache:6380/1")]);
    assert_eq!(
        c.state.redis_url.as_deref(),
        Some("redis://rota:hunter2@cache:6380/1"),
        "$REDIS_URL wins"
    );
    assert_eq!(c.state.redis_prefix, "team-a");
    assert_eq!(c.state.fallback, rota::config::Fallback::Local);
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("redis://rota:***@cache:6380/1"), "{shown}");
    // Set for another program, it does not concern the local backend.
    let c = with_env("", &[("REDIS_URL", "unix:///run/redis.sock")]);
    assert_eq!(c.state.backend, Backend::Local);
    assert_eq!(c.state.redis_url, None);
    assert!(
        parse(redis, "(test)", &|v: &str| (v == "REDIS_URL")
            .then(|| "unix:///run/redis.sock".to_string()))
        .is_err(),
        "but it must be a redis URL for the redis backend"
    );
}

#[test]
fn example_parses_as_is_and_with_every_example_line() {
    let plain = ok(EXAMPLE);
    assert!(
        plain.providers.iter().all(|p| p.keys.is_empty()),
        "the starter file holds no keys"
    );
    let full: String = EXAMPLE
        .lines()
        .map(|l| {
            l.strip_prefix("#> ")
                .or_else(|| (l == "#>").then_some(""))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = ok(&full);
    assert_eq!(c.provider("groq").unwrap().keys.len(), 2);
    assert_eq!(c.provider("groq").unwrap().keys[1].account, "team-b");
    assert!(c.provider("custom:local").is_some());
    assert_eq!(
        c.pools[&Task::Fast][2],
        r("custom:local/qwen2.5-7b-instruct")
    );
    assert_eq!(
        c.state.redis_url.as_deref(),
        Some("redis://127.0.0.1:6379/0")
    );
    assert!(c.tools.tavily_key.is_some());
    // Every setting appears in the example.
    for field in MODEL_FIELDS.iter().chain(rota::config::SECTIONS) {
        assert!(
            full.contains(&format!("{field} ")) || full.contains(&format!("[{field}")),
            "example lacks {field}"
        );
    }
    for key in [
        "connect_timeout",
        "first_byte_timeout",
        "idle_timeout",
        "max_file_mb",
        "redis_url",
        "redis_prefix",
        "fallback",
        "theme",
        "enabled",
        "account",
    ] {
        assert!(full.contains(key), "example lacks {key}");
    }
    // Keys in it are obviously fake.
    assert!(full.contains("gsk_test_0001"));
}

#[test]
fn load_missing_file_default_vs_explicit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let c = load(Some(&missing), false, &no_env).unwrap();
    assert!(c.path.is_none());
    let e = load(Some(&missing), true, &no_env).unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[ui]\ntheme = \"x\"\n").unwrap();
    let c = load(Some(&file), true, &no_env).unwrap();
    assert_eq!(c.path.as_deref(), Some(file.as_path()));
    std::fs::write(&file, "[ui]\ntheme = 1\n").unwrap();
    let e = load(Some(&file), false, &no_env).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2:9: ", file.display())),
        "{e}"
    );
}

//! The simulated fleet over real loopback HTTP: auth, limits (exact under a burst), each
//! dialect's error bodies and headers, stream shapes, tool calls, faults, audio, stats.

use futures_util::StreamExt;
use reqwest::Client;
use rota::sim::{Scenario, SimHandle, start};
use serde_json::{Value, json};
use std::time::Duration;

async fn fleet(toml: &str) -> SimHandle {
    let sc = Scenario::from_toml(toml).expect("scenario");
    start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("start")
}

async fn default_fleet() -> SimHandle {
    start(Scenario::default_fleet(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("start")
}

fn chat(model: &str, prompt: &str, max_tokens: u64) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens})
}

async fn post(c: &Client, url: &str, key: &str, body: &Value) -> reqwest::Response {
    c.post(format!("{url}/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("send")
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `data:` payloads of an SSE body, `[DONE]` included.
fn events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

fn json_events(text: &str) -> Vec<Value> {
    events(text)
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).expect("chunk is JSON"))
        .collect()
}

/// Pulls "Limit N", "Used U", "Requested R" and the "try again in D" wait out of a message.
fn numbers(msg: &str) -> (Option<u64>, Option<u64>, Option<u64>, Option<f64>) {
    let grab = |label: &str| {
        msg.split(label).nth(1).and_then(|rest| {
            rest.trim_start_matches('~')
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
    };
    let wait = msg
        .split("Please try again in ")
        .nth(1)
        .and_then(|r| r.split(". ").next())
        .and_then(rota::duration::parse_ms);
    (grab("Limit "), grab("Used "), grab("Requested "), wait)
}

const SMALL: &str = r#"
seed = 3
[[providers]]
name = "groq"
[[providers.accounts]]
name = "a"
keys = ["gsk_test_0001"]
[[providers.accounts]]
name = "b"
keys = ["gsk_test_0002"]
[[providers.models]]
id = "llama-3.1-8b-instant"
rpm = 100
rpd = 5
tpm = 100000
[[providers.models]]
id = "llama-3.3-70b-versatile"
tpm = 1000
context_window = 8192
answer_tokens = 5000
[[providers.models]]
id = "burst"
rpm = 7
[[providers.models]]
id = "whisper-large-v3"
transcription = true
ash = 7200

[[providers]]
name = "openai"
[[providers.accounts]]
name = "a"
keys = ["sk-test-0001"]
[[providers.models]]
id = "gpt-4o-mini"
rpm = 2
tpm = 1000
context_window = 8192
tools = true
parallel_tool_calls = 2
[[providers.models]]
id = "whisper-1"
transcription = true

[[providers]]
name = "together"
upload_limit_bytes = 1000
[[providers.accounts]]
name = "a"
keys = ["tg-test-0001"]
[[providers.models]]
id = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
rpm = 2
tpm = 1000
context_window = 4096
tools = true
[[providers.models]]
id = "openai/whisper-large-v3"
transcription = true
"#;

#[tokio::test]
async fn unknown_keys_get_each_providers_401_and_known_ones_pass() {
    let sim = default_fleet().await;
    let c = Client::new();
    for (p, model) in [
        ("groq", "openai/gpt-oss-20b"),
        ("openai", "gpt-4o-mini"),
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ] {
        let url = sim.base_url(p);
        let r = post(&c, &url, "sim-wrong-key", &chat(model, "hi", 5)).await;
        assert_eq!(r.status(), 401, "{p}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_api_key", "{p}");
        assert!(!body.to_string().contains("sim-wrong-key"), "key echoed");
        let r = c.get(format!("{url}/models")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{p} /models without a key");
        for acct in ["a", "b"] {
            let r = post(&c, &url, &format!("sim-{p}-{acct}"), &chat(model, "hi", 5)).await;
            assert_eq!(r.status(), 200, "{p} {acct}");
            let body: Value = r.json().await.unwrap();
            let text = body["choices"][0]["message"]["content"].as_str().unwrap();
            assert!(!text.is_empty());
            assert!(body["usage"]["completion_tokens"].as_u64().unwrap() <= 5);
        }
    }
    let debug = format!("{sim:?}");
    assert!(!debug.contains("sim-groq-a"), "a key in Debug output");
    let configs = sim.provider_configs();
    assert_eq!(configs.len(), 3);
    assert_eq!(configs[0].base_url, sim.base_url("groq"));
    assert_eq!(configs[0].keys[1].account, "b");
    assert_eq!(configs[0].keys[1].masked(), "…oq-b");
    let stats = sim.stats();
    assert_eq!(stats["providers"]["groq"]["unauthorized"], 2);
    assert_eq!(
        stats["providers"]["groq"]["accounts"]["a"]["openai/gpt-oss-20b"]["ok"],
        1
    );
    assert_eq!(stats["totals"]["ok"], 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn models_lists_have_each_providers_shape() {
    let sim = default_fleet().await;
    let c = Client::new();
    let get = |p: &str, key: &str| {
        c.get(format!("{}/models", sim.base_url(p)))
            .bearer_auth(key.to_string())
            .send()
    };
    let together: Value = get("together", "sim-together-a")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let arr = together.as_array().expect("Together answers a bare array");
    assert!(
        arr.iter()
            .any(|m| m["id"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo")
    );
    for p in ["groq", "openai"] {
        let v: Value = get(p, &format!("sim-{p}-b"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "list");
        assert!(!v["data"].as_array().unwrap().is_empty());
    }
    let stats: Value = c
        .get(format!("http://{}/sim/stats", sim.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats["providers"]["openai"]["accounts"]["a"]["gpt-4o-mini"]["429"].is_u64());
    sim.shutdown().await;
}

#[tokio::test]
async fn groq_requests_headers_count_per_day_and_tokens_per_minute() {
    let sim = fleet(SMALL).await;
    let c = Client::new();
    let url = sim.base_url("groq");
    for i in 1..=5u64 {
        let r = post(
            &c,
            &url,
            "gsk_test_0001",
            &chat("llama-3.1-8b-instant", "hello", 10),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            header(&r, "x-ratelimit-limit-requests").as_deref(),
            Some("5")
        );
        assert_eq!(
            header(&r, "x-ratelimit-remaining-requests"),
            Some((5 - i).to_string())
        );
        assert_eq!(
            header(&r, "x-ratelimit-limit-tokens").as_deref(),
            Some("100000")
        );
        let reset = header(&r, "x-ratelimit-reset-requests").unwrap();
        let ms = rota::duration::parse_ms(&reset).unwrap();
        assert!(ms > 23.0 * 3_600_000.0 && ms <= 86_400_000.0, "{reset}");
    }
    // The sixth request of the day is refused on RPD with Groq's wording.
    let r = post(
        &c,
        &url,
        "gsk_test_0001",
        &chat("llama-3.1-8b-instant", "hello", 10),
    )
    .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("on requests per day (RPD): Limit 5, Used 5, Requested 1."),
        "{msg}"
    );
    assert!(msg.contains("service tier `on_demand`"), "{msg}");
    assert_eq!(body["error"]["type"], "requests");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    let wait = numbers(msg).3.unwrap();
    assert!(wait > 86_000_000.0, "{msg}");
    assert_eq!(retry, (wait / 1000.0).ceil() as u64);
    // Account b has its own budget.
    let r = post(
        &c,
        &url,
        "gsk_test_0002",
        &chat("llama-3.1-8b-instant", "hello", 10),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-ratelimit-remaining-requests").as_deref(),
        Some("4")
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_burst_gets_exactly_the_window() {
    let sim = fleet(SMALL).await;
    let c = Client::new();
    let url = sim.base_url("groq");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            post(
                &c,
                &url,
                "gsk_test_0001",
                &chat("burst", &format!("q{i}"), 5),
            )
            .await
            .status()
            .as_u16()
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 7);
    assert_eq!(limited, 33);
    let s = &sim.stats()["providers"]["groq"]["accounts"]["a"]["burst"];
    assert_eq!(s["ok"], 7);
    assert_eq!(s["429"], 33);
    assert_eq!(s["requests"], 40);

    // Tokens: each request reserves prompt + max_tokens; no more than TPM is ever granted.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let r = post(
                &c,
                &url,
                "gsk_test_0002",
                &chat("llama-3.3-70b-versatile", &format!("t{i}"), 200),
            )
            .await;
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    let mut used = 0;
    let mut granted = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 200 {
            granted += 1;
            used += body["usage"]["total_tokens"].as_u64().unwrap();
        } else {
            assert_eq!(status, 429);
            let (limit, u, req, _) = numbers(body["error"]["message"].as_str().unwrap());
            assert_eq!(limit, Some(1000));
            assert!(u.unwrap() + req.unwrap() > 1000);
        }
    }
    assert!(granted >= 1 && used <= 1000, "{granted} {used}");
    sim.shutdown().await;
}

#[tokio::test]
async fn each_dialect_words_its_429_and_too_large_replies() {
    let sim = fleet(SMALL).await;
    let c = Client::new();

    // Groq TPM 429 then a 413 for a request over the whole TPM window.
    let g = sim.base_url("groq");
    let r = post(
        &c,
        &g,
        "gsk_test_0001",
        &chat("llama-3.3-70b-versatile", "x", 900),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        &c,
        &g,
        "gsk_test_0001",
        &chat("llama-3.3-70b-versatile", "x", 500),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").is_some());
    assert_eq!(
        header(&r, "x-ratelimit-limit-tokens").as_deref(),
        Some("1000")
    );
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_sima` service tier `on_demand` on tokens per minute (TPM): Limit 1000, Used "), "{msg}");
    assert!(msg.contains("Need more tokens?"), "{msg}");
    let (limit, used, req, wait) = numbers(msg);
    assert_eq!(limit, Some(1000));
    assert!(used.unwrap() + req.unwrap() > 1000);
    assert!(wait.unwrap() > 0.0 && wait.unwrap() <= 60_000.0);
    let r = post(
        &c,
        &g,
        "gsk_test_0002",
        &chat("llama-3.3-70b-versatile", "x", 1500),
    )
    .await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Request too large for model `llama-3.3-70b-versatile`"),
        "{msg}"
    );
    assert_eq!(numbers(msg).0, Some(1000));
    assert!(numbers(msg).2.unwrap() > 1500);

    // OpenAI RPM 429 with its wording and per-minute request headers.
    let o = sim.base_url("openai");
    for _ in 0..2 {
        let r = post(&c, &o, "sk-test-0001", &chat("gpt-4o-mini", "x", 10)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            header(&r, "x-ratelimit-limit-requests").as_deref(),
            Some("2")
        );
    }
    let r = post(&c, &o, "sk-test-0001", &chat("gpt-4o-mini", "x", 10)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "x-ratelimit-remaining-requests").as_deref(),
        Some("0")
    );
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Rate limit reached for gpt-4o-mini in organization org-sima on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in "), "{msg}");
    assert_eq!(body["error"]["type"], "requests");
    assert!(body["error"]["param"].is_null());
    // OpenAI's too-large is a 429 too.
    let r = post(&c, &o, "sk-test-0001", &chat("gpt-4o-mini", "x", 2000)).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Request too large for gpt-4o-mini in organization org-sima on tokens per min (TPM): Limit 1000, Requested "), "{msg}");

    // Together: "queries per minute", type credit_limit, code null, per-second headers.
    let t = sim.base_url("together");
    let model = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    let r = post(&c, &t, "tg-test-0001", &chat(model, "x", 10)).await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "x-ratelimit-limit").is_some());
    assert!(header(&r, "x-tokenlimit-limit").is_some());
    let _ = post(&c, &t, "tg-test-0001", &chat(model, "x", 10)).await;
    let r = post(&c, &t, "tg-test-0001", &chat(model, "x", 10)).await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "You have been rate limited. Your rate limit is 2 queries per minute. Please navigate to https://api.together.xyz/settings/billing to upgrade to a paid plan."
    );
    assert_eq!(body["error"]["type"], "credit_limit");
    assert!(body["error"]["code"].is_null());
    sim.shutdown().await;
}

#[tokio::test]
async fn context_and_model_errors_match_each_provider() {
    let sim = fleet(SMALL).await;
    let c = Client::new();
    let long = "word ".repeat(20_000);
    let r = post(
        &c,
        &sim.base_url("openai"),
        "sk-test-0001",
        &chat("gpt-4o-mini", &long, 10),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum context length is 8192 tokens")
    );
    let r = post(
        &c,
        &sim.base_url("groq"),
        "gsk_test_0001",
        &chat("llama-3.3-70b-versatile", &long, 10),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    let r = post(
        &c,
        &sim.base_url("together"),
        "tg-test-0001",
        &chat("meta-llama/Llama-3.3-70B-Instruct-Turbo", &long, 10),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("The input ("), "{msg}");
    assert!(
        msg.ends_with("is longer than the model's context length (4096 tokens)."),
        "{msg}"
    );
    assert!(body["error"]["code"].is_null());
    let r = post(
        &c,
        &sim.base_url("groq"),
        "gsk_test_0001",
        &chat("no-such-model", "x", 10),
    )
    .await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    // A client's absurd max_tokens is a context-length error, not an overflow.
    for (provider, key, model) in [
        ("groq", "gsk_test_0001", "llama-3.3-70b-versatile"),
        ("openai", "sk-test-0001", "gpt-4o-mini"),
        (
            "together",
            "tg-test-0001",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ),
    ] {
        let r = post(
            &c,
            &sim.base_url(provider),
            key,
            &chat(model, "hi", u64::MAX),
        )
        .await;
        assert_eq!(r.status(), 400, "{provider}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{provider}: {body}"
        );
    }
    sim.shutdown().await;
}

async fn stream_text(c: &Client, url: &str, key: &str, mut body: Value) -> String {
    body["stream"] = json!(true);
    let r = post(c, url, key, &body).await;
    assert_eq!(r.status(), 200);
    assert!(
        header(&r, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    r.text().await.unwrap()
}

fn content(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn streams_have_each_dialects_chunk_shapes() {
    let sim = fleet(SMALL).await;
    let c = Client::new();
    let mut req = chat("llama-3.1-8b-instant", "tell me a story", 12);
    let whole: Value = post(&c, &sim.base_url("groq"), "gsk_test_0002", &req)
        .await
        .json()
        .await
        .unwrap();
    let whole_text = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    req["stream_options"] = json!({"include_usage": true});

    // Groq: role-only first chunk with x_groq, usage on the finish chunk twice, then an
    // empty-choices chunk repeating it.
    let text = stream_text(&c, &sim.base_url("groq"), "gsk_test_0002", req.clone()).await;
    assert_eq!(events(&text).last().map(String::as_str), Some("[DONE]"));
    let ch = json_events(&text);
    assert_eq!(ch[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(ch[0]["x_groq"]["id"].is_string());
    assert_eq!(content(&ch), whole_text, "stream and whole answer agree");
    let fin = &ch[ch.len() - 2];
    assert!(fin["choices"][0]["finish_reason"].is_string());
    assert_eq!(fin["x_groq"]["usage"], fin["usage"]);
    let tail = &ch[ch.len() - 1];
    assert_eq!(tail["choices"], json!([]));
    assert_eq!(tail["usage"]["total_tokens"], fin["usage"]["total_tokens"]);
    assert_eq!(
        tail["usage"]["completion_tokens"],
        whole["usage"]["completion_tokens"]
    );

    // OpenAI: usage null on every chunk, then one choices:[] chunk with usage.
    let mut oreq = req.clone();
    oreq["model"] = json!("gpt-4o-mini");
    let text = stream_text(&c, &sim.base_url("openai"), "sk-test-0001", oreq.clone()).await;
    let ch = json_events(&text);
    let (last, rest) = ch.split_last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(
        rest.iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    oreq["stream_options"] = json!({"include_usage": false});
    let text = stream_text(&c, &sim.base_url("openai"), "sk-test-0001", oreq).await;
    assert!(json_events(&text).iter().all(|c| c.get("usage").is_none()));

    // Together: role and text on every chunk, usage on the finish chunk, no empty-choices.
    let mut treq = req.clone();
    treq["model"] = json!("meta-llama/Llama-3.3-70B-Instruct-Turbo");
    let text = stream_text(&c, &sim.base_url("together"), "tg-test-0001", treq).await;
    let ch = json_events(&text);
    let (last, rest) = ch.split_last().unwrap();
    assert!(last["choices"][0]["finish_reason"].is_string());
    assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert!(rest.iter().all(|c| c["usage"].is_null()));
    assert!(
        rest.iter()
            .all(|c| c["choices"][0]["delta"]["role"] == "assistant"
                && c["choices"][0]["text"] == c["choices"][0]["delta"]["content"])
    );
    assert!(!ch.iter().any(|c| c["choices"] == json!([])));
    sim.shutdown().await;
}

fn weather_tools(mut body: Value) -> Value {
    body["tools"] = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"]}}},
        {"type": "function", "function": {"name": "search", "parameters": {"type": "object",
            "properties": {"query": {"type": "string"}, "fresh": {"type": "boolean"}}, "required": ["query", "fresh"]}}}
    ]);
    body
}

#[tokio::test]
async fn tool_calls_satisfy_the_schema_in_every_shape() {
    let sim = fleet(SMALL).await;
    let c = Client::new();
    let req = weather_tools(chat("gpt-4o-mini", "weather in Paris", 200));
    let v: Value = post(&c, &sim.base_url("openai"), "sk-test-0001", &req)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "two parallel calls");
    let a0: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(a0["city"].is_string() && a0["days"].is_u64());
    let a1: Value =
        serde_json::from_str(calls[1]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(a1["query"].is_string() && a1["fresh"].is_boolean());

    // OpenAI stream: fragments keyed by index reassemble to the same arguments.
    let mut sreq = req.clone();
    sreq["stream"] = json!(true);
    let text = post(&c, &sim.base_url("openai"), "sk-test-0001", &sreq)
        .await
        .text()
        .await
        .unwrap();
    let mut args = vec![String::new(), String::new()];
    for ch in json_events(&text) {
        for tc in ch["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            args[i].push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    for a in &args {
        let v: Value = serde_json::from_str(a).expect("reassembled arguments are JSON");
        assert!(v.as_object().unwrap().len() == 2);
    }

    // Together stream: two chunks with finish_reason tool_calls, the last with usage.
    let mut treq = weather_tools(chat(
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "weather",
        100,
    ));
    treq["stream"] = json!(true);
    let text = post(&c, &sim.base_url("together"), "tg-test-0001", &treq)
        .await
        .text()
        .await
        .unwrap();
    let ch = json_events(&text);
    let finishes: Vec<&Value> = ch
        .iter()
        .filter(|c| c["choices"][0]["finish_reason"] == "tool_calls")
        .collect();
    assert_eq!(finishes.len(), 2);
    assert!(finishes[0]["choices"][0]["delta"]["tool_calls"].is_array());
    assert!(finishes[1]["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    // After a tool result, the model answers in text.
    let mut follow = weather_tools(chat("meta-llama/Llama-3.3-70B-Instruct-Turbo", "x", 50));
    follow["messages"] = json!([{"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"}]);
    let v: Value = post(&c, &sim.base_url("together"), "tg-test-0001", &follow)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .ends_with('.'),
        "{v}"
    );
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    sim.shutdown().await;
}

const FAULTS: &str = r#"
seed = 11
[defaults]
max_tokens = 50
answer_tokens = 20
[[providers]]
name = "f500"
[[providers.models]]
id = "m"
[[providers]]
name = "f503"
dialect = "together"
[[providers.models]]
id = "m"
[[providers]]
name = "hang"
[[providers.models]]
id = "m"
[[providers]]
name = "hangmid"
[[providers.models]]
id = "m"
[[providers]]
name = "cut"
dialect = "groq"
[[providers.models]]
id = "m"
[[providers]]
name = "bad"
[[providers.models]]
id = "m"
[[providers]]
name = "slow"
[[providers.models]]
id = "m"
[[faults]]
provider = "f500"
kind = "http_500"
probability = 1.0
[[faults]]
provider = "f503"
kind = "http_503"
probability = 1.0
[[faults]]
provider = "hang"
kind = "hang_before_headers"
probability = 1.0
[[faults]]
provider = "hangmid"
kind = "hang_mid_stream"
probability = 1.0
after_tokens = 3
[[faults]]
provider = "cut"
kind = "cut_stream"
probability = 1.0
after_tokens = 4
[[faults]]
provider = "bad"
kind = "malformed_chunk"
probability = 1.0
after_tokens = 2
[[faults]]
provider = "slow"
kind = "slow_first_byte"
probability = 1.0
delay = "150ms"
"#;

#[tokio::test]
async fn every_fault_kind_happens_when_asked() {
    let sim = fleet(FAULTS).await;
    let c = Client::new();
    let streamed = |p: &str| {
        let mut b = chat("m", "go", 50);
        b["stream"] = json!(true);
        c.post(format!("{}/chat/completions", sim.base_url(p)))
            .json(&b)
            .send()
    };
    let r = streamed("f500").await.unwrap();
    assert_eq!(r.status(), 500);
    let r = streamed("f503").await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over capacity")
    );

    // Hang before headers: the client's own timeout fires.
    let hung = tokio::time::timeout(Duration::from_millis(300), streamed("hang")).await;
    assert!(hung.is_err(), "no headers arrive");

    // Hang mid-stream: a few chunks arrive, then silence.
    let r = streamed("hangmid").await.unwrap();
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut got = String::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), s.next()).await {
            Ok(Some(Ok(b))) => got.push_str(&String::from_utf8_lossy(&b)),
            Ok(other) => panic!(
                "stream ended instead of hanging: {:?}",
                other.map(|r| r.is_ok())
            ),
            Err(_) => break,
        }
    }
    assert_eq!(content(&json_events(&got)).split_whitespace().count(), 3);
    assert!(!got.contains("[DONE]"));

    // Cut: the body fails before [DONE].
    let r = streamed("cut").await.unwrap();
    let mut s = r.bytes_stream();
    let mut got = String::new();
    let mut failed = false;
    while let Some(part) = s.next().await {
        match part {
            Ok(b) => got.push_str(&String::from_utf8_lossy(&b)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the connection is cut");
    assert!(!got.contains("[DONE]"));
    assert_eq!(content(&json_events(&got)).split_whitespace().count(), 4);

    // Malformed: one event is not JSON, the stream still finishes.
    let text = streamed("bad").await.unwrap().text().await.unwrap();
    let evs = events(&text);
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"));
    let broken = evs
        .iter()
        .filter(|e| *e != "[DONE]" && serde_json::from_str::<Value>(e).is_err())
        .count();
    assert_eq!(broken, 1);

    // Slow first byte: the answer is whole, just late.
    let t0 = std::time::Instant::now();
    let r = c
        .post(format!("{}/chat/completions", sim.base_url("slow")))
        .json(&chat("m", "go", 50))
        .send()
        .await
        .unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["choices"][0]["message"]["content"].is_string());

    let stats = sim.stats();
    for p in ["f500", "f503", "hang", "hangmid", "cut", "bad", "slow"] {
        assert_eq!(
            stats["providers"][p]["accounts"]["default"]["m"]["faults"], 1,
            "{p}: {stats}"
        );
    }
    sim.shutdown().await;
}

fn wav(bytes: usize) -> Vec<u8> {
    let mut v = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
    v.resize(44, 0);
    v[28..32].copy_from_slice(&32_000u32.to_le_bytes());
    v.resize(bytes, 0);
    v
}

async fn transcribe(
    c: &Client,
    url: &str,
    key: &str,
    model: &str,
    file: Vec<u8>,
    name: &str,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("model", model.to_string())
        .text("language", "en")
        .part(
            "file",
            reqwest::multipart::Part::bytes(file).file_name(name.to_string()),
        );
    c.post(format!("{url}/audio/transcriptions"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn transcription_checks_size_and_format_by_content() {
    let sim = fleet(SMALL).await;
    let c = Client::new();
    let g = sim.base_url("groq");
    let r = transcribe(
        &c,
        &g,
        "gsk_test_0001",
        "whisper-large-v3",
        wav(64_044),
        "a.wav",
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["text"].as_str().unwrap().contains("64044-byte wav"),
        "{v}"
    );
    // A text file named .wav is refused by its content.
    let r = transcribe(
        &c,
        &g,
        "gsk_test_0001",
        "whisper-large-v3",
        b"just some text, not audio".to_vec(),
        "a.wav",
    )
    .await;
    assert_eq!(r.status(), 400);
    // Groq's 25 MB limit.
    let r = transcribe(
        &c,
        &g,
        "gsk_test_0001",
        "whisper-large-v3",
        wav(25_000_001),
        "big.wav",
    )
    .await;
    assert_eq!(r.status(), 413);
    // OpenAI takes 25 MB (under 25 MiB).
    let r = transcribe(
        &c,
        &sim.base_url("openai"),
        "sk-test-0001",
        "whisper-1",
        wav(25_000_001),
        "big.wav",
    )
    .await;
    assert_eq!(r.status(), 200);
    // Together: the scenario's limit (1000 bytes here).
    let t = sim.base_url("together");
    let r = transcribe(
        &c,
        &t,
        "tg-test-0001",
        "openai/whisper-large-v3",
        wav(1_001),
        "a.wav",
    )
    .await;
    assert_eq!(r.status(), 413);
    let r = transcribe(
        &c,
        &t,
        "tg-test-0001",
        "openai/whisper-large-v3",
        wav(900),
        "a.wav",
    )
    .await;
    assert_eq!(r.status(), 200);
    let s = &sim.stats()["providers"]["groq"]["accounts"]["a"]["whisper-large-v3"];
    assert_eq!(s["413"], 1);
    assert_eq!(s["ok"], 1);
    assert_eq!(s["tokens"], 10, "Groq bills at least 10 s");
    sim.shutdown().await;
}

#[test]
fn the_example_scenario_parses_and_bad_ones_are_refused() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/example.toml");
    let sc = Scenario::from_file(&path).unwrap();
    assert_eq!(sc.provider_names(), ["groq", "openai", "together", "local"]);
    let groq = sc.provider("groq").unwrap();
    assert_eq!(groq.keys().len(), 3);
    assert_eq!(
        groq.model("llama-3.1-8b-instant").unwrap().limits.rpd,
        Some(200)
    );
    assert!(!sc.provider("local").unwrap().auth);
    assert_eq!(sc.faults.len(), 3);
    let specs = groq.model_specs();
    assert_eq!(specs[0].model.to_string(), "groq/llama-3.1-8b-instant");
    assert!(specs[1].transcription);
    assert!(Scenario::from_toml("sede = 1").is_err());
    assert!(Scenario::from_toml("[[providers]]\nname = \"Bad Name\"").is_err());
    assert!(Scenario::from_toml("[[faults]]\nkind = \"http_500\"\nprobability = 2.0").is_err());
    // A pace the sim cannot keep is refused at load, not a panic at the first answer.
    for pace in ["1e-300", "-1.0", "1e300", "nan"] {
        let toml = format!(
            "[defaults]\ntokens_per_sec = {pace}\n[[providers]]\nname = \"groq\"\n\
             [[providers.models]]\nid = \"m\"\n"
        );
        let e = Scenario::from_toml(&toml).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("tokens_per_sec")),
            "{pace}: {e:?}"
        );
    }
}

#[test]
fn the_default_fleet_has_two_accounts_per_provider() {
    let sc = Scenario::default_fleet();
    for p in ["groq", "openai", "together"] {
        let prov = sc.provider(p).unwrap();
        let keys: Vec<String> = prov
            .keys()
            .iter()
            .map(|(k, _)| k.expose().to_string())
            .collect();
        assert_eq!(keys, [format!("sim-{p}-a"), format!("sim-{p}-b")]);
        assert!(!prov.models.is_empty());
        assert!(prov.models.iter().any(|m| m.transcription));
    }
    let l = sc
        .provider("groq")
        .unwrap()
        .model("openai/gpt-oss-20b")
        .unwrap()
        .limits;
    assert!(
        l.rpm.unwrap() < 30 && l.tpm.unwrap() < 8_000,
        "scaled down: {l:?}"
    );
}

// ---- The engine's parsers read the sim's replies. ----

fn lower_headers(r: &reqwest::Response) -> Vec<(String, String)> {
    r.headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_engine_reads_each_dialects_429_and_headers() {
    use rota::model::{Dialect, Reason, Window};
    use rota::providers::{classify, rate_readings};
    let sim = fleet(SMALL).await;
    let c = Client::new();
    // Groq: TPM 429; headers: requests per day, tokens per minute.
    let g = sim.base_url("groq");
    let ok = post(
        &c,
        &g,
        "gsk_test_0001",
        &chat("llama-3.1-8b-instant", "x", 10),
    )
    .await;
    let readings = rate_readings(Dialect::Groq, &lower_headers(&ok));
    let rpd = readings
        .iter()
        .find(|r| r.window == Window::Rpd)
        .expect("rpd reading");
    assert_eq!((rpd.limit, rpd.remaining), (Some(5), Some(4)));
    assert!(
        readings
            .iter()
            .any(|r| r.window == Window::Tpm && r.limit == Some(100_000))
    );
    let _ = post(
        &c,
        &g,
        "gsk_test_0001",
        &chat("llama-3.3-70b-versatile", "x", 900),
    )
    .await;
    let r = post(
        &c,
        &g,
        "gsk_test_0001",
        &chat("llama-3.3-70b-versatile", "x", 500),
    )
    .await;
    let h = lower_headers(&r);
    let body = r.text().await.unwrap();
    let wait = numbers(&body).3.unwrap();
    let k = classify(Dialect::Groq, 429, &h, &body, 0);
    assert_eq!(k.reason, Reason::RateLimited);
    assert_eq!(k.window, Some(Window::Tpm));
    assert_eq!(k.limit, Some(1000));
    assert!((k.retry_after_ms.unwrap() as f64 - wait).abs() <= 1000.0);
    let r = post(
        &c,
        &g,
        "gsk_test_0002",
        &chat("llama-3.3-70b-versatile", "x", 1500),
    )
    .await;
    let h = lower_headers(&r);
    let k = classify(Dialect::Groq, 413, &h, &r.text().await.unwrap(), 0);
    assert_eq!(k.reason, Reason::RequestTooLarge);
    assert_eq!((k.window, k.limit), (Some(Window::Tpm), Some(1000)));
    // OpenAI: RPM 429.
    let o = sim.base_url("openai");
    for _ in 0..2 {
        let ok = post(&c, &o, "sk-test-0001", &chat("gpt-4o-mini", "x", 10)).await;
        let readings = rate_readings(Dialect::OpenAi, &lower_headers(&ok));
        assert!(
            readings
                .iter()
                .any(|r| r.window == Window::Rpm && r.limit == Some(2))
        );
    }
    let r = post(&c, &o, "sk-test-0001", &chat("gpt-4o-mini", "x", 10)).await;
    let h = lower_headers(&r);
    let k = classify(Dialect::OpenAi, 429, &h, &r.text().await.unwrap(), 0);
    assert_eq!(k.reason, Reason::RateLimited);
    assert_eq!((k.window, k.limit), (Some(Window::Rpm), Some(2)));
    assert!(k.retry_after_ms.unwrap() > 0);
    // Together: queries per minute.
    let t = sim.base_url("together");
    let model = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    for _ in 0..2 {
        let _ = post(&c, &t, "tg-test-0001", &chat(model, "x", 10)).await;
    }
    let r = post(&c, &t, "tg-test-0001", &chat(model, "x", 10)).await;
    let h = lower_headers(&r);
    let k = classify(Dialect::Together, 429, &h, &r.text().await.unwrap(), 0);
    assert_eq!(k.reason, Reason::RateLimited);
    assert_eq!((k.window, k.limit), (Some(Window::Rpm), Some(2)));
    // Context errors.
    let long = "word ".repeat(20_000);
    let r = post(&c, &t, "tg-test-0001", &chat(model, &long, 10)).await;
    let k = classify(
        Dialect::Together,
        400,
        &lower_headers(&r),
        &r.text().await.unwrap(),
        0,
    );
    assert_eq!((k.reason, k.limit), (Reason::ContextLength, Some(4096)));
    sim.shutdown().await;
}

#[test]
fn rota_sim_announces_each_provider_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/example.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rota"))
        .args(["sim", "--scenario"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    for _ in 0..4 {
        let line = lines.next().unwrap().unwrap();
        let (name, url) = line.split_once(' ').unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        assert!(url.ends_with(&format!("/{name}/v1")), "{line}");
        urls.push(url.to_string());
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let r = Client::new()
            .get(format!("{}/models", urls[0]))
            .bearer_auth("sim-groq-b2")
            .send()
            .await
            .unwrap();
        r.status()
    });
    assert_eq!(status, 200);
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let code = child.wait().unwrap();
    assert_eq!(code.code(), Some(130));
}

//! The HTTP client over loopback: a tiny scripted HTTP/1.1 server for streams (timeouts,
//! cuts, malformed chunks, keep-alive) and wiremock for request inspection.

use rota::model::{Dialect, Reason, Usage};
use rota::providers::client::check_url;
use rota::providers::{
    CallError, ChatOutcome, ChatStream, Client, Endpoint, ErrorKind, StreamEvent, Timeouts,
    TranscribeRequest,
};
use rota::secret::ApiKey;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "gsk_test_0001_secret";

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(300),
        first_byte: Duration::from_millis(200),
        idle: Duration::from_millis(200),
        request: Duration::from_secs(2),
    }
}

fn endpoint(base: &str, dialect: Dialect, key: Option<&str>) -> Endpoint {
    Endpoint {
        provider: "test".into(),
        dialect,
        base_url: base.into(),
        key: key.map(ApiKey::new),
    }
}

/// One step of a scripted reply.
#[derive(Clone)]
enum Step {
    Write(Vec<u8>),
    /// Keep the connection open and say nothing more.
    Hang,
    /// Close the connection.
    Close,
}

/// A scripted server: every request on every connection gets the same reply script.
struct Raw {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Raw {
    fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
    fn request(&self, i: usize) -> String {
        self.requests.lock().unwrap()[i].clone()
    }
}

async fn raw_server(script: Vec<Step>) -> Raw {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (reqs, conns) = (requests.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            conns.fetch_add(1, Ordering::SeqCst);
            let (script, reqs) = (script.clone(), reqs.clone());
            tokio::spawn(serve_conn(sock, script, reqs));
        }
    });
    Raw {
        addr,
        requests,
        connections,
    }
}

async fn serve_conn(mut sock: TcpStream, script: Vec<Step>, reqs: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    loop {
        // Read one request: headers, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut tmp = [0u8; 4096];
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut tmp = [0u8; 4096];
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let req: Vec<u8> = buf.drain(..head_end + len).collect();
        reqs.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&req).to_string());
        for step in &script {
            match step {
                Step::Write(b) => {
                    if sock.write_all(b).await.is_err() {
                        return;
                    }
                }
                Step::Hang => std::future::pending::<()>().await,
                Step::Close => return,
            }
        }
    }
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nX-RateLimit-Remaining-Tokens: 5999\r\n\r\n";

/// One HTTP/1.1 chunk.
fn chunk(s: &str) -> Vec<u8> {
    format!("{:x}\r\n{s}\r\n", s.len()).into_bytes()
}

fn text_event(t: &str) -> String {
    format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}},\"finish_reason\":null}}]}}\n\n"
    )
}

/// A complete SSE reply made of the given events, one HTTP chunk each.
fn sse_reply(events: &[String]) -> Vec<Step> {
    let mut steps = vec![Step::Write(SSE_HEAD.into())];
    steps.extend(events.iter().map(|e| Step::Write(chunk(e))));
    steps.push(Step::Write(b"0\r\n\r\n".to_vec()));
    steps
}

fn full_answer() -> Vec<String> {
    vec![
        ": keep-alive\n\n".into(),
        text_event("Hel"),
        text_event("lo"),
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".into(),
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2}}\n\n"
            .into(),
        "data: [DONE]\n\n".into(),
    ]
}

fn request_body() -> serde_json::Value {
    json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "stream_options": {"other": 1}
    })
}

fn body_of(raw_request: &str) -> serde_json::Value {
    let (_, body) = raw_request.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

async fn next_err(s: &mut rota::providers::ChatStream) -> CallError {
    loop {
        match s.next().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => return e,
            None => panic!("stream ended without an error"),
        }
    }
}

#[tokio::test]
async fn a_streamed_answer_end_to_end() {
    let srv = raw_server(sse_reply(&full_answer())).await;
    let client = Client::new(timeouts());
    let ep = endpoint(&srv.base(), Dialect::OpenAi, Some(KEY));
    let stream = client.chat(&ep, &request_body()).await.unwrap();
    assert_eq!(stream.status, 200);
    assert!(
        stream
            .headers
            .contains(&("x-ratelimit-remaining-tokens".into(), "5999".into())),
        "header names are lowercase: {:?}",
        stream.headers
    );
    let out = stream.collect().await.unwrap();
    assert_eq!(out.text, "Hello");
    assert_eq!(out.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        out.usage,
        Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 2
        })
    );

    let req = srv.request(0);
    assert!(
        req.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase()
            .contains(&format!("authorization: bearer {KEY}"))
    );
    let sent = body_of(&req);
    assert_eq!(sent["stream"], json!(true));
    assert_eq!(
        sent["stream_options"],
        json!({"other": 1, "include_usage": true})
    );
    let mut expected = request_body();
    expected["stream"] = json!(true);
    expected["stream_options"]["include_usage"] = json!(true);
    assert_eq!(
        sent, expected,
        "tools and image parts pass through untouched"
    );
}

#[tokio::test]
async fn events_arrive_in_order_with_finish_and_usage_last() {
    let srv = raw_server(sse_reply(&full_answer())).await;
    let client = Client::new(timeouts());
    let mut s = client
        .chat(
            &endpoint(&srv.base(), Dialect::OpenAi, None),
            &json!({"model": "m"}),
        )
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(e) = s.next().await {
        events.push(e.unwrap());
    }
    assert_eq!(
        events,
        vec![
            StreamEvent::Text("Hel".into()),
            StreamEvent::Text("lo".into()),
            StreamEvent::Finish("stop".into()),
            StreamEvent::Usage(Usage {
                prompt_tokens: 12,
                completion_tokens: 2
            }),
        ]
    );
    assert!(s.next().await.is_none(), "stays ended");
}

#[tokio::test]
async fn no_key_sends_no_authorization_header() {
    let srv = raw_server(sse_reply(&full_answer())).await;
    let client = Client::new(timeouts());
    let ep = endpoint(&srv.base(), Dialect::Generic, None);
    client
        .chat(&ep, &json!({"model": "m"}))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(
        !srv.request(0)
            .to_ascii_lowercase()
            .contains("authorization")
    );
}

#[tokio::test]
async fn one_connection_is_reused_for_sequential_calls() {
    let srv = raw_server(sse_reply(&full_answer())).await;
    let client = Client::new(timeouts());
    let ep = endpoint(&srv.base(), Dialect::OpenAi, Some(KEY));
    for _ in 0..3 {
        let out = client
            .chat(&ep, &json!({"model": "m"}))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(out.text, "Hello");
    }
    let shared = client.clone();
    shared
        .chat(&ep, &json!({"model": "m"}))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        srv.connections.load(Ordering::SeqCst),
        1,
        "keep-alive, pooled per base URL"
    );
    assert_eq!(srv.requests.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_non_2xx_reply_keeps_status_headers_and_body_and_masks_the_key() {
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
    );
    let reply = format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 7\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let srv = raw_server(vec![Step::Write(reply.into_bytes())]).await;
    let client = Client::new(timeouts());
    let ep = endpoint(&srv.base(), Dialect::Groq, Some(KEY));
    let err = client.chat(&ep, &json!({"model": "m"})).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Reply);
    assert_eq!(err.status, Some(429));
    assert!(err.headers.contains(&("retry-after".into(), "7".into())));
    assert_eq!(err.body, body.replace(KEY, &ApiKey::new(KEY).masked()));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("…cret"));
    // Exactly one request: no automatic retry.
    assert_eq!(srv.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_server_error_is_not_retried() {
    let reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
    let srv = raw_server(vec![Step::Write(reply.into())]).await;
    let client = Client::new(timeouts());
    let err = client
        .chat(
            &endpoint(&srv.base(), Dialect::Together, None),
            &json!({"model": "m"}),
        )
        .await
        .unwrap_err();
    assert_eq!((err.status, err.body.as_str()), (Some(503), "busy"));
    assert_eq!(srv.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn no_reply_headers_is_a_timeout() {
    let srv = raw_server(vec![Step::Hang]).await;
    let client = Client::new(timeouts());
    let err = client
        .chat(
            &endpoint(&srv.base(), Dialect::OpenAi, None),
            &json!({"model": "m"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Timeout);
    assert_eq!(err.kind, ErrorKind::Transport);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn headers_but_no_first_byte_is_a_timeout() {
    let srv = raw_server(vec![Step::Write(SSE_HEAD.into()), Step::Hang]).await;
    let client = Client::new(timeouts());
    let mut s = client
        .chat(
            &endpoint(&srv.base(), Dialect::OpenAi, None),
            &json!({"model": "m"}),
        )
        .await
        .unwrap();
    let err = next_err(&mut s).await;
    assert_eq!(err.reason(), Reason::Timeout);
    assert_eq!(err.status, Some(200));
    assert!(s.next().await.is_none());
}

/// A stream that sends "partial" and then `end` (a hang, a cut): the text arrives, then the
/// error; returns the error and the stream after it.
async fn error_after_partial(end: Step) -> (CallError, ChatStream) {
    let srv = raw_server(vec![
        Step::Write(SSE_HEAD.into()),
        Step::Write(chunk(&text_event("partial"))),
        end,
    ])
    .await;
    let client = Client::new(timeouts());
    let mut s = client
        .chat(
            &endpoint(&srv.base(), Dialect::OpenAi, None),
            &json!({"model": "m"}),
        )
        .await
        .unwrap();
    assert_eq!(
        s.next().await.unwrap().unwrap(),
        StreamEvent::Text("partial".into())
    );
    let err = s.next().await.unwrap().unwrap_err();
    (err, s)
}

#[tokio::test]
async fn an_idle_gap_mid_stream_is_a_timeout_after_the_text_so_far() {
    let (err, _) = error_after_partial(Step::Hang).await;
    assert_eq!(err.reason(), Reason::Timeout);
    assert!(err.to_string().contains("idle_timeout"), "{err}");
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_a_connection_error() {
    let (err, mut s) = error_after_partial(Step::Close).await;
    assert_eq!(err.reason(), Reason::Connection);
    assert!(s.next().await.is_none());
}

#[tokio::test]
async fn a_malformed_chunk_is_a_bad_response() {
    let srv = raw_server(sse_reply(&[
        text_event("ok"),
        "data: {\"choices\": [oops\n\n".into(),
    ]))
    .await;
    let client = Client::new(timeouts());
    let s = client
        .chat(
            &endpoint(&srv.base(), Dialect::OpenAi, None),
            &json!({"model": "m"}),
        )
        .await
        .unwrap();
    let err = s.collect().await.unwrap_err();
    assert_eq!(err.reason(), Reason::BadResponse);
    assert_eq!(err.kind, ErrorKind::Malformed);
}

#[tokio::test]
async fn an_error_object_in_the_stream_is_classified_with_the_reply_headers() {
    let err_json = r#"{"error":{"message":"Rate limit reached for tokens","type":"tokens","code":"rate_limit_exceeded"}}"#;
    let srv = raw_server(sse_reply(&[
        text_event("a"),
        format!("data: {err_json}\n\n"),
    ]))
    .await;
    let client = Client::new(timeouts());
    let s = client
        .chat(
            &endpoint(&srv.base(), Dialect::Groq, Some(KEY)),
            &json!({"model": "m"}),
        )
        .await
        .unwrap();
    let err = s.collect().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InStream);
    assert_eq!(err.status, Some(200));
    assert_eq!(err.body, err_json);
    assert!(
        err.headers
            .iter()
            .any(|(k, _)| k == "x-ratelimit-remaining-tokens")
    );
}

/// A chat call answered with one plain (not streamed) 200 of `content_type`, collected.
async fn plain_reply(content_type: &str, body: &str) -> Result<ChatOutcome, CallError> {
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let srv = raw_server(vec![Step::Write(reply.into_bytes())]).await;
    Client::new(timeouts())
        .chat(
            &endpoint(&srv.base(), Dialect::Generic, None),
            &json!({"model": "m"}),
        )
        .await
        .unwrap()
        .collect()
        .await
}

#[tokio::test]
async fn a_whole_json_answer_is_accepted_when_the_server_does_not_stream() {
    let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
    let out = plain_reply("application/json", body).await.unwrap();
    assert_eq!(out.text, "whole");
    assert_eq!(out.usage.map(|u| u.total()), Some(2));
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let err = Client::new(timeouts())
        .chat(
            &endpoint(&format!("http://{addr}/v1"), Dialect::OpenAi, Some(KEY)),
            &json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Connection);
    assert!(!err.to_string().contains(KEY));
}

#[tokio::test]
async fn a_key_is_never_sent_over_http_to_a_remote_host() {
    let client = Client::new(timeouts());
    let ep = endpoint("http://api.example.invalid/v1", Dialect::OpenAi, Some(KEY));
    let e = client.chat(&ep, &json!({"model": "m"})).await.unwrap_err();
    assert_eq!((e.kind, e.reason()), (ErrorKind::Refused, Reason::Local));
    assert!(e.to_string().contains("https://"), "{e}");
    assert!(!e.to_string().contains(KEY));
    let e = client.list_models(&ep).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    let file = tempfile::NamedTempFile::new().unwrap();
    let e = client
        .transcribe(&ep, file.path(), &TranscribeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
}

#[tokio::test]
async fn a_key_goes_over_http_to_localhost_by_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "m"}]})))
        .mount(&server)
        .await;
    let base = format!("http://localhost:{}/v1", server.address().port());
    let ep = endpoint(&base, Dialect::OpenAi, Some(KEY));
    let models = Client::new(timeouts()).list_models(&ep).await.unwrap();
    assert_eq!(models, vec!["m"]);
    let seen = server.received_requests().await.unwrap_or_default();
    assert_eq!(seen.len(), 1, "the port in the URL is kept");
}

#[test]
fn which_urls_may_carry_a_key() {
    for ok in [
        "https://api.groq.com/openai/v1/models",
        "http://127.0.0.1:8000/v1/models",
        "http://127.9.9.9/v1",
        "http://localhost:1234/v1",
        "http://LOCALHOST:1234/v1",
        "http://[::1]:8080/v1",
    ] {
        assert!(check_url(ok, true).is_ok(), "{ok}");
    }
    for bad in [
        "http://api.example.com/v1",
        "http://10.0.0.5/v1",
        "http://localhost.example.com/v1",
        "http://[::2]/v1",
        // Only the literal name `localhost` is loopback without asking a resolver.
        "http://foo.localhost:8000/v1",
        "http://a.b.localhost/v1",
        "http://localhost./v1",
        "http://LOCALHOST./v1",
        "http://127.0.0.1.nip.io/v1",
        "http://localhost.evil.com/v1",
        // IPv4 written as IPv6: not the loopback literal.
        "http://[::ffff:7f00:1]:8000/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://0.0.0.0:8000/v1",
    ] {
        assert_eq!(
            check_url(bad, true).unwrap_err().reason(),
            Reason::Local,
            "{bad}"
        );
    }
    assert!(
        check_url("http://api.example.com/v1", false).is_ok(),
        "no key, no risk"
    );
    assert_eq!(
        check_url("ftp://x/v1", false).unwrap_err().kind,
        ErrorKind::Refused
    );
    assert_eq!(
        check_url("not a url", false).unwrap_err().kind,
        ErrorKind::Refused
    );
    // A key pasted where the base URL belongs is never echoed whole.
    let e = check_url("gsk_test_0001_secret9z9z/chat/completions", true).unwrap_err();
    assert!(!e.to_string().contains("secret"), "{e}");
    assert!(e.to_string().contains("…9z9z"), "{e}");
}

#[tokio::test]
async fn models_in_both_shapes_and_401_is_auth() {
    let server = MockServer::start().await;
    let client = Client::new(timeouts());
    Mock::given(method("GET"))
        .and(path("/openai/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"object": "list", "data": [{"id": "llama-3.1-8b-instant", "object": "model"}, {"id": "whisper-large-v3"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/together/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "type": "chat"}]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bad/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}),
        ))
        .mount(&server)
        .await;

    let ep = endpoint(
        &format!("{}/openai/v1", server.uri()),
        Dialect::Groq,
        Some(KEY),
    );
    assert_eq!(
        client.list_models(&ep).await.unwrap(),
        vec!["llama-3.1-8b-instant", "whisper-large-v3"]
    );
    let ep = endpoint(
        &format!("{}/together/v1/", server.uri()),
        Dialect::Together,
        Some(KEY),
    );
    assert_eq!(
        client.list_models(&ep).await.unwrap(),
        vec!["meta-llama/Llama-3.3-70B-Instruct-Turbo"]
    );
    let ep = endpoint(
        &format!("{}/bad/v1", server.uri()),
        Dialect::OpenAi,
        Some(KEY),
    );
    let e = client.list_models(&ep).await.unwrap_err();
    assert_eq!((e.reason(), e.status), (Reason::Auth, Some(401)));
    assert!(!e.is_retryable());

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(
            r.headers.get("authorization").unwrap(),
            &format!("Bearer {KEY}")
        );
    }
}

#[tokio::test]
async fn models_that_are_not_a_list_are_a_bad_response() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
        .mount(&server)
        .await;
    let e = Client::new(timeouts())
        .list_models(&endpoint(&server.uri(), Dialect::Generic, None))
        .await
        .unwrap_err();
    assert_eq!(e.reason(), Reason::BadResponse);
    assert!(
        server.received_requests().await.unwrap()[0]
            .headers
            .get("authorization")
            .is_none()
    );
}

fn audio_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn transcription_uploads_the_whole_file_and_the_fields() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-remaining-requests", "1999")
                .set_body_json(json!({"text": " Bonjour à tous.", "x_groq": {"id": "req_1"}})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.wav");
    let audio = audio_bytes(300_000);
    std::fs::write(&file, &audio).unwrap();

    let ep = endpoint(&format!("{}/v1", server.uri()), Dialect::Groq, Some(KEY));
    let req = TranscribeRequest {
        model: "whisper-large-v3-turbo".into(),
        language: Some("fr".into()),
        prompt: Some("a greeting".into()),
        response_format: None,
    };
    let t = Client::new(timeouts())
        .transcribe(&ep, &file, &req)
        .await
        .unwrap();
    assert_eq!(t.text, " Bonjour à tous.");
    assert_eq!(t.status, 200);
    assert!(
        t.headers
            .contains(&("x-ratelimit-remaining-requests".into(), "1999".into()))
    );

    let reqs = server.received_requests().await.unwrap();
    let r = &reqs[0];
    assert_eq!(
        r.headers.get("authorization").unwrap(),
        &format!("Bearer {KEY}")
    );
    let ct = r
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = &r.body;
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(contains(
        b"name=\"model\"\r\n\r\nwhisper-large-v3-turbo\r\n"
    ));
    assert!(contains(b"name=\"language\"\r\n\r\nfr\r\n"));
    assert!(contains(b"name=\"prompt\"\r\n\r\na greeting\r\n"));
    assert!(!contains(b"name=\"response_format\""));
    assert!(contains(b"name=\"file\"; filename=\"clip.wav\""));
    assert!(contains(b"Content-Type: audio/wav\r\n\r\n"));
    let mut whole = b"audio/wav\r\n\r\n".to_vec();
    whole.extend_from_slice(&audio);
    whole.extend_from_slice(b"\r\n--");
    assert!(contains(&whole), "the file arrives whole and unaltered");
    let len: usize = r
        .headers
        .get("content-length")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        len,
        body.len(),
        "the length is known up front (streamed with length)"
    );
}

#[tokio::test]
async fn transcription_as_plain_text_and_its_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ok/audio/transcriptions"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/plain; charset=utf-8")
                .set_body_string("hello world\n"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/big/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(413).set_body_string(
            r#"{"error":{"message":"Request Entity Too Large","type":"invalid_request_error"}}"#,
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.mp3");
    std::fs::write(&file, audio_bytes(1000)).unwrap();
    let client = Client::new(timeouts());
    let req = TranscribeRequest {
        model: "whisper-1".into(),
        response_format: Some("text".into()),
        ..TranscribeRequest::default()
    };
    let ok = endpoint(&format!("{}/ok", server.uri()), Dialect::OpenAi, None);
    assert_eq!(
        client.transcribe(&ok, &file, &req).await.unwrap().text,
        "hello world"
    );
    let sent = &server.received_requests().await.unwrap()[0];
    assert!(sent.body.windows(18).any(|w| w == b"Content-Type: audi"));
    assert!(
        sent.body
            .windows(b"name=\"response_format\"\r\n\r\ntext".len())
            .any(|w| w == b"name=\"response_format\"\r\n\r\ntext")
    );

    let big = endpoint(&format!("{}/big", server.uri()), Dialect::OpenAi, None);
    let e = client.transcribe(&big, &file, &req).await.unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Reply, Some(413)));

    let missing = dir.path().join("missing.wav");
    let e = client.transcribe(&ok, &missing, &req).await.unwrap_err();
    assert_eq!((e.kind, e.reason()), (ErrorKind::Refused, Reason::Local));
    assert!(e.to_string().contains("missing.wav"));
}

#[tokio::test]
async fn transcription_with_no_answer_times_out_after_the_upload() {
    let srv = raw_server(vec![Step::Hang]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.wav");
    std::fs::write(&file, audio_bytes(10_000)).unwrap();
    let e = Client::new(timeouts())
        .transcribe(
            &endpoint(&srv.base(), Dialect::Groq, Some(KEY)),
            &file,
            &TranscribeRequest {
                model: "whisper-large-v3".into(),
                ..TranscribeRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.reason(), Reason::Timeout);
    assert!(e.to_string().contains("upload's end"), "{e}");
    // The server saw the whole upload before the timeout.
    assert!(srv.request(0).len() > 10_000);
}

#[test]
fn endpoint_from_config_and_timeouts_from_defaults() {
    use rota::config::{Defaults, KeyConfig, ProviderConfig};
    let p = ProviderConfig {
        name: "together".into(),
        base_url: "https://api.together.xyz/v1/".into(),
        keys: vec![],
        enabled: true,
    };
    let k = KeyConfig {
        key: Some(ApiKey::new("tg_test_0001")),
        account: "a".into(),
    };
    let ep = Endpoint::new(&p, &k);
    assert_eq!(ep.dialect, Dialect::Together);
    assert_eq!(ep.url("models"), "https://api.together.xyz/v1/models");
    assert!(!format!("{ep:?}").contains("tg_test_0001"));
    let d = Defaults::default();
    let t = Timeouts::from(&d);
    assert_eq!(
        (t.connect, t.first_byte, t.idle),
        (d.connect_timeout, d.first_byte_timeout, d.idle_timeout)
    );
}

#[test]
fn clients_and_streams_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Client>();
    send::<rota::providers::ChatStream>();
    send_sync::<CallError>();
}

#[tokio::test]
async fn a_200_that_is_not_a_stream_is_a_bad_response() {
    let page = "<html>captive portal</html>";
    let err = plain_reply("text/html", page).await.unwrap_err();
    assert_eq!(err.reason(), Reason::BadResponse);
    assert_eq!(err.status, Some(200));
}

#[tokio::test]
async fn an_https_client_builds_and_a_silent_tls_server_times_out() {
    let srv = raw_server(vec![Step::Hang]).await;
    // The fake server never answers the TLS handshake (it waits for an HTTP request).
    let ep = endpoint(
        &format!("https://{}/v1", srv.addr),
        Dialect::OpenAi,
        Some(KEY),
    );
    let err = Client::new(timeouts()).list_models(&ep).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport, "{err}");
    assert_eq!(err.reason(), Reason::Timeout, "{err}");
}

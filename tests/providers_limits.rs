//! Providers that try to hold a request forever or flood it, on a raw loopback server:
//! keep-alive comments and empty chunks are not progress (first-byte and idle timeouts
//! still fire), a slow but steady trickle ends at `request_timeout`, and an endless giant
//! stream or body hits the size cap instead of growing memory.

use rota::model::{Dialect, Reason};
use rota::providers::client::MAX_STREAM_BYTES;
use rota::providers::{CallError, ChatStream, Client, Endpoint, StreamEvent, Timeouts};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest any test here may take: a stream that never ends fails the test instead of
/// hanging it.
const GUARD: Duration = Duration::from_secs(5);

fn timeouts(first_byte_ms: u64, idle_ms: u64, request_ms: u64) -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        first_byte: Duration::from_millis(first_byte_ms),
        idle: Duration::from_millis(idle_ms),
        request: Duration::from_millis(request_ms),
    }
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint {
        provider: "test".into(),
        dialect: Dialect::OpenAi,
        base_url: format!("http://{addr}/v1"),
        key: None,
    }
}

const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

/// One HTTP/1.1 chunk.
fn chunk(b: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
    out
}

fn text_event(t: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}}}}]}}\n\n")
}

/// What carries no answer: a comment, an empty `data:` line, a chunk with an empty delta,
/// a chunk without choices.
fn idle_noise(i: u64) -> &'static str {
    match i % 4 {
        0 => ": keep-alive\n\n",
        1 => "data:\n\n",
        2 => {
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        }
        _ => "data: {\"choices\":[]}\n\n",
    }
}

type Feed = Arc<dyn Fn(u64) -> Option<Vec<u8>> + Send + Sync>;

/// A loopback server: on every connection it reads one request (headers and a
/// Content-Length body), writes `head`, then `feed(0)`, `feed(1)`, … every `every` until the
/// feed says `None` (then it closes) or the client hangs up.
async fn server(head: &[u8], every: Duration, feed: Feed) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let head = head.to_vec();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, head.clone(), every, feed.clone()));
        }
    });
    addr
}

async fn serve(mut sock: TcpStream, head: Vec<u8>, every: Duration, feed: Feed) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut tmp = [0u8; 16 * 1024];
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let len = String::from_utf8_lossy(&buf[..head_end])
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut tmp = [0u8; 16 * 1024];
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    if sock.write_all(&head).await.is_err() {
        return;
    }
    let mut i = 0;
    while let Some(bytes) = feed(i) {
        if sock.write_all(&bytes).await.is_err() {
            return;
        }
        i += 1;
        if !every.is_zero() {
            tokio::time::sleep(every).await;
        }
    }
}

/// Reads a stream to its error, keeping the events before it; fails the test if the stream
/// ends without one or takes longer than [`GUARD`].
async fn until_error(mut s: ChatStream) -> (Vec<StreamEvent>, CallError) {
    let mut seen = Vec::new();
    let read = async {
        loop {
            match s.next().await {
                Some(Ok(ev)) => seen.push(ev),
                Some(Err(e)) => return e,
                None => panic!("the stream ended without an error"),
            }
        }
    };
    match tokio::time::timeout(GUARD, read).await {
        Ok(e) => (seen, e),
        Err(_) => panic!("the stream was still going after {GUARD:?}: nothing bounds it"),
    }
}

async fn open(addr: SocketAddr, t: Timeouts) -> ChatStream {
    Client::new(t)
        .chat(&endpoint(addr), &json!({"model": "m"}))
        .await
        .unwrap()
}

#[tokio::test]
async fn keep_alives_alone_time_out_at_first_byte() {
    let feed: Feed = Arc::new(|i| Some(chunk(idle_noise(i).as_bytes())));
    let addr = server(SSE_HEAD, Duration::from_millis(100), feed).await;
    let start = Instant::now();
    let (seen, err) = until_error(open(addr, timeouts(500, 300, 3_000)).await).await;
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(err.reason(), Reason::Timeout, "{err}");
    assert!(err.to_string().contains("first_byte_timeout"), "{err}");
    assert!(start.elapsed() < Duration::from_millis(2_500), "{err}");
}

#[tokio::test]
async fn one_token_then_keep_alives_times_out_at_idle() {
    let feed: Feed = Arc::new(|i| match i {
        0 => Some(chunk(text_event("hi").as_bytes())),
        i => Some(chunk(idle_noise(i).as_bytes())),
    });
    let addr = server(SSE_HEAD, Duration::from_millis(100), feed).await;
    let start = Instant::now();
    let (seen, err) = until_error(open(addr, timeouts(300, 500, 3_000)).await).await;
    assert_eq!(seen, vec![StreamEvent::Text("hi".into())]);
    assert_eq!(err.reason(), Reason::Timeout, "{err}");
    assert!(err.to_string().contains("idle_timeout"), "{err}");
    assert!(start.elapsed() < Duration::from_millis(2_500), "{err}");
}

#[tokio::test]
async fn a_slow_endless_trickle_ends_at_the_request_timeout() {
    let feed: Feed = Arc::new(|_| Some(chunk(text_event("a").as_bytes())));
    let addr = server(SSE_HEAD, Duration::from_millis(100), feed).await;
    let start = Instant::now();
    let (seen, err) = until_error(open(addr, timeouts(400, 400, 1_200)).await).await;
    let took = start.elapsed();
    assert!(seen.len() >= 3, "the tokens arrived: {seen:?}");
    assert_eq!(err.reason(), Reason::Timeout, "{err}");
    assert!(err.to_string().contains("request_timeout"), "{err}");
    assert!(took >= Duration::from_millis(1_150), "{took:?}");
    assert!(took < Duration::from_millis(3_000), "{took:?}");
}

#[tokio::test]
async fn usage_and_finish_chunks_are_progress() {
    // A usage chunk every 100 ms (longer than idle in total, each gap shorter): the stream
    // is alive, so it ends at request_timeout, not at idle.
    let feed: Feed = Arc::new(|i| {
        Some(chunk(
            match i % 2 {
                0 => "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n",
                _ => "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            }
            .as_bytes(),
        ))
    });
    let addr = server(SSE_HEAD, Duration::from_millis(100), feed).await;
    let (_, err) = until_error(open(addr, timeouts(300, 300, 1_000)).await).await;
    assert!(err.to_string().contains("request_timeout"), "{err}");
}

#[tokio::test]
async fn an_endless_giant_stream_hits_the_size_cap() {
    // 256 KiB of answer text per event, as fast as loopback goes, up to four times the cap
    // (so a client without a cap ends with a huge answer instead of running out of memory).
    let big = text_event(&"x".repeat(256 * 1024));
    let events = 4 * MAX_STREAM_BYTES / big.len();
    let feed: Feed = Arc::new(move |i| (i < events as u64).then(|| chunk(big.as_bytes())));
    let addr = server(SSE_HEAD, Duration::ZERO, feed).await;
    let (seen, err) = until_error(open(addr, timeouts(1_000, 1_000, 4_000)).await).await;
    assert_eq!(err.reason(), Reason::BadResponse, "{err}");
    assert!(err.to_string().contains("MiB"), "{err}");
    let text: usize = seen
        .iter()
        .map(|e| match e {
            StreamEvent::Text(t) => t.len(),
            _ => 0,
        })
        .sum();
    assert!(text <= MAX_STREAM_BYTES, "{text}");
}

#[tokio::test]
async fn an_endless_whole_json_body_hits_the_size_cap() {
    // A server that ignores `stream: true` and sends an unending JSON completion.
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let feed: Feed = Arc::new(|i| {
        Some(match i {
            0 => chunk(br#"{"choices":[{"index":0,"message":{"content":""#),
            i if i > 4 * 64 => return None,
            _ => chunk("y".repeat(256 * 1024).as_bytes()),
        })
    });
    let addr = server(head, Duration::ZERO, feed).await;
    let (client, ep, body) = (
        Client::new(timeouts(1_000, 1_000, 4_000)),
        endpoint(addr),
        json!({}),
    );
    let err = match tokio::time::timeout(GUARD, client.chat(&ep, &body)).await {
        Ok(Ok(s)) => until_error(s).await.1,
        Ok(Err(e)) => e,
        Err(_) => panic!("the body was still coming after {GUARD:?}: nothing bounds it"),
    };
    assert_eq!(err.reason(), Reason::BadResponse, "{err}");
    assert!(err.to_string().contains("MiB"), "{err}");
}

#[tokio::test]
async fn a_transcription_reply_trickled_forever_ends_at_the_request_timeout() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
    let feed: Feed = Arc::new(|_| Some(chunk(b"word ")));
    let addr = server(head, Duration::from_millis(100), feed).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.wav");
    std::fs::write(&file, vec![7u8; 20_000]).unwrap();
    let req = rota::providers::TranscribeRequest {
        model: "whisper-1".into(),
        response_format: Some("text".into()),
        ..Default::default()
    };
    let client = Client::new(timeouts(400, 400, 1_200));
    let start = Instant::now();
    let err = tokio::time::timeout(GUARD, client.transcribe(&endpoint(addr), &file, &req))
        .await
        .expect("the transcription was still going: nothing bounds it")
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Timeout, "{err}");
    assert!(err.to_string().contains("request_timeout"), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(1_150));
}

#[tokio::test]
async fn a_model_list_trickled_forever_ends_at_the_request_timeout() {
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let feed: Feed = Arc::new(|i| Some(chunk(if i == 0 { b"{\"data\": [" } else { b" " })));
    let addr = server(head, Duration::from_millis(100), feed).await;
    let client = Client::new(timeouts(400, 400, 1_000));
    let err = tokio::time::timeout(GUARD, client.list_models(&endpoint(addr)))
        .await
        .expect("the model list was still coming: nothing bounds it")
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Timeout, "{err}");
    assert!(err.to_string().contains("request_timeout"), "{err}");
}

#[test]
fn progress_counts_only_chunks_that_carry_part_of_the_answer() {
    let mut dec = rota::providers::StreamDecoder::new(Dialect::OpenAi);
    let mut out = Vec::new();
    for i in 0..8 {
        dec.feed(idle_noise(i).as_bytes(), &mut out).unwrap();
    }
    dec.feed(b"event: ping\ndata: {}\n\n", &mut out).unwrap();
    dec.feed(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}\n\n",
        &mut out,
    )
    .unwrap();
    assert_eq!((dec.progress(), out.len()), (0, 0));
    for (i, part) in [
        text_event("a"),
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"hm\"}}]}\n\n".into(),
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n".into(),
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n".into(),
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".into(),
        "data: [DONE]\n\n".to_string(),
    ]
    .iter()
    .enumerate()
    {
        dec.feed(part.as_bytes(), &mut out).unwrap();
        assert_eq!(dec.progress(), i as u64 + 1, "{part}");
    }
}

#[test]
fn request_timeout_is_a_setting_of_defaults() {
    let env = |_: &str| None;
    let c = rota::config::parse("", "t", &env).unwrap();
    assert_eq!(c.defaults.request_timeout, Duration::from_secs(600));
    assert_eq!(
        Timeouts::from(&c.defaults).request,
        Duration::from_secs(600)
    );
    let c = rota::config::parse("[defaults]\nrequest_timeout = \"90s\"\n", "t", &env).unwrap();
    assert_eq!(c.defaults.request_timeout, Duration::from_secs(90));
    let e = rota::config::parse("[defaults]\nrequest_timeout = \"0s\"\n", "t", &env).unwrap_err();
    assert!(e.to_string().contains("request_timeout"), "{e}");
    let e = rota::config::parse("[defaults]\nrequest_timeout = \"long\"\n", "t", &env).unwrap_err();
    assert!(e.to_string().contains("request_timeout"), "{e}");
    assert!(rota::config::EXAMPLE.contains("request_timeout = \"10m\""));
}

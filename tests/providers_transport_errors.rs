//! Transport errors (refused connection, failed TLS handshake) never show a base URL's
//! secrets: a gateway that takes its token in the path (`/gw/sk-…/v1`) is masked in every
//! message built from the error, for chat, model lists and transcription uploads.

use rota::model::{Dialect, Reason};
use rota::providers::{CallError, Client, Endpoint, ErrorKind, Timeouts, TranscribeRequest};
use rota::secret::ApiKey;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// The secret path segment of the gateway URL.
const SEGMENT: &str = "sk-gateway-9f8e7d6c5b4a3f2e";
const KEY: &str = "gsk_test_0001_secret";

fn client() -> Client {
    Client::new(Timeouts {
        connect: Duration::from_millis(500),
        first_byte: Duration::from_millis(500),
        idle: Duration::from_millis(500),
        request: Duration::from_secs(2),
    })
}

fn endpoint(scheme: &str, addr: SocketAddr) -> Endpoint {
    Endpoint {
        provider: "custom:gw".into(),
        dialect: Dialect::Generic,
        base_url: format!("{scheme}://{addr}/gw/{SEGMENT}/v1"),
        key: Some(ApiKey::new(KEY)),
    }
}

/// Fails if any part of the error shows the secret segment (or a large piece of it).
fn assert_masked(what: &str, e: &CallError) {
    let shown = format!("{e} | {e:?} | {}", e.body);
    for piece in [SEGMENT, "gateway-9f8e7d6c5b4a", KEY] {
        assert!(!shown.contains(piece), "{what} shows `{piece}`: {shown}");
    }
}

/// A loopback port nothing listens on.
async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

/// Every call against `ep`: chat, model list, transcription upload.
async fn every_call(ep: &Endpoint) -> Vec<(&'static str, CallError)> {
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.wav");
    std::fs::write(&file, vec![1u8; 4096]).unwrap();
    let req = TranscribeRequest {
        model: "whisper-1".into(),
        ..TranscribeRequest::default()
    };
    vec![
        (
            "chat",
            c.chat(ep, &json!({"model": "m"})).await.unwrap_err(),
        ),
        ("list_models", c.list_models(ep).await.unwrap_err()),
        (
            "transcribe",
            c.transcribe(ep, &file, &req).await.unwrap_err(),
        ),
    ]
}

#[tokio::test]
async fn a_refused_connection_never_shows_a_secret_path_segment() {
    let addr = closed_port().await;
    for (what, e) in every_call(&endpoint("http", addr)).await {
        assert_eq!(
            (e.kind, e.reason()),
            (ErrorKind::Transport, Reason::Connection),
            "{what}: {e}"
        );
        assert_masked(what, &e);
        assert!(
            e.to_string().contains(&addr.to_string()),
            "{what} names the host: {e}"
        );
    }
}

#[tokio::test]
async fn a_failed_tls_handshake_never_shows_a_secret_path_segment() {
    // A server that answers the TLS hello with plain text.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = sock
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    for (what, e) in every_call(&endpoint("https", addr)).await {
        assert_eq!(e.kind, ErrorKind::Transport, "{what}: {e}");
        assert_masked(what, &e);
    }
}

#[tokio::test]
async fn a_key_check_that_fails_never_shows_a_secret_path_segment() {
    let addr = closed_port().await;
    let check = rota::providers::check::check_key(&client(), &endpoint("http", addr)).await;
    let shown = format!("{check:?}");
    assert!(!shown.contains(SEGMENT), "{shown}");
    assert!(!shown.contains(KEY), "{shown}");
}

//! `POST /v1/audio/transcriptions`: OpenAI's multipart upload (`file`, and optionally
//! `model`, `language`, `prompt`, `response_format`: json, text, srt or vtt), routed as `rota transcribe` routes a
//! file: the first transcription provider whenever it fits, else round-robin. The `model`
//! a client names is not binding: every upload goes to the transcription pool.

use super::Serve;
use super::wire::ApiError;
use crate::router::events::Event;
use crate::router::transcribe::TranscribeJob;
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The route's name in metrics.
const ROUTE: &str = "/v1/audio/transcriptions";

/// Handles one upload.
pub async fn transcriptions(State(s): State<Arc<Serve>>, form: Multipart) -> Response {
    let started = std::time::Instant::now();
    let resp = match answer(&s, form).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    super::answered(&s, ROUTE, &resp, started);
    resp
}

/// The upload's fields.
#[derive(Default)]
struct Upload {
    file: Option<(String, axum::body::Bytes)>,
    language: Option<String>,
    prompt: Option<String>,
    response_format: Option<String>,
}

async fn read_form(mut form: Multipart, limit: usize) -> Result<Upload, ApiError> {
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!(
                "the upload could not be read whole or is larger than {} MiB ([serve] max_audio_mb)",
                limit / (1024 * 1024)
            ),
        )
    };
    let mut up = Upload::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_big()),
            Err(e) => {
                return Err(ApiError::invalid(
                    format!("the form cannot be read: {}", e.body_text()),
                    None,
                ));
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = match field.bytes().await {
            Ok(d) => d,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_big()),
            Err(e) => {
                return Err(ApiError::invalid(
                    format!("the form cannot be read: {}", e.body_text()),
                    None,
                ));
            }
        };
        let text =
            || Some(String::from_utf8_lossy(&data).trim().to_string()).filter(|t| !t.is_empty());
        match name.as_str() {
            "file" => up.file = Some((file_name.unwrap_or_else(|| "audio".into()), data.clone())),
            "language" => up.language = text(),
            "prompt" => up.prompt = text(),
            "response_format" => up.response_format = text(),
            _ => {}
        }
    }
    Ok(up)
}

async fn answer(s: &Arc<Serve>, form: Multipart) -> Result<Response, ApiError> {
    let up = tokio::time::timeout(
        super::BODY_TIMEOUT,
        read_form(form, s.limits.max_audio_bytes),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            format!(
                "the upload did not arrive within {}",
                crate::duration::format(super::BODY_TIMEOUT)
            ),
        )
    })??;
    let Some((name, data)) = up.file else {
        return Err(ApiError::invalid("the form has no `file`", Some("file")));
    };
    let format = up.response_format.unwrap_or_else(|| "json".into());
    // verbose_json is not offered: the router keeps a transcription's text only, and a
    // client asking for it expects the provider's segments and timings.
    if !["json", "text", "srt", "vtt"].contains(&format.as_str()) {
        return Err(ApiError::invalid(
            format!("response_format {format:?} is not one of json, text, srt, vtt"),
            Some("response_format"),
        ));
    }
    // The router reads a file: the upload goes to a private temporary one, removed when
    // this request ends, whatever way it ends. Its name keeps the upload's extension.
    let ext = std::path::Path::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let tmp = tokio::task::spawn_blocking(move || -> std::io::Result<tempfile::NamedTempFile> {
        let mut f = tempfile::Builder::new()
            .prefix("rota-upload-")
            .suffix(&ext)
            .tempfile()?;
        f.write_all(&data)?;
        f.flush()?;
        Ok(f)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|r| r)
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("could not keep the upload for transcription: {e}"),
        )
    })?;
    let job = TranscribeJob {
        file: tmp.path().to_path_buf(),
        language: up.language,
        prompt: up.prompt,
        response_format: (format != "json").then(|| format.clone()),
    };
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let router = Arc::clone(&s.router);
    s.tasks
        .spawn(async move { router.transcribe(job, &tx).await });
    let mut tracker = s.metrics.track();
    let mut result = None;
    while let Some(ev) = rx.recv().await {
        tracker.observe(&ev);
        match ev {
            Event::Transcript {
                provider,
                model,
                text,
                ..
            } => result = Some(Ok((provider, model, text))),
            Event::Error {
                kind,
                message,
                retry_after_ms,
            } => result = Some(Err((kind, message, retry_after_ms))),
            _ => {}
        }
    }
    drop(tmp);
    match result {
        Some(Ok((provider, model, text))) => {
            let mut resp = if format == "json" {
                axum::Json(serde_json::json!({"text": text})).into_response()
            } else {
                text.into_response()
            };
            let h = resp.headers_mut();
            for (k, v) in [("x-rota-provider", provider), ("x-rota-model", model)] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            }
            Ok(resp)
        }
        Some(Err((kind, message, retry_after_ms))) => {
            Err(ApiError::failed(&kind, message, retry_after_ms))
        }
        None => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the transcription ended without a result",
        )),
    }
}

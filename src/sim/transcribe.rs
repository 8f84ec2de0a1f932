//! `POST /{provider}/v1/audio/transcriptions`: multipart upload checked against the
//! provider's size limit and formats (by content), billed in audio seconds, answered with a
//! deterministic transcript naming the file's size.

use super::audio;
use super::dialect;
use super::limits::Ask;
use super::server::{Fleet, add_headers, json_reply, provider_of};
use super::stats::bump;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What the multipart form carried.
#[derive(Default)]
struct Form {
    head: Vec<u8>,
    size: u64,
    has_file: bool,
    model: Option<String>,
    language: Option<String>,
    response_format: Option<String>,
}

/// Bytes of the file kept for sniffing (the rest is only counted).
const HEAD: usize = 64;

async fn read_form(mut mp: Multipart) -> Result<Form, String> {
    let mut form = Form::default();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(format!("could not read the multipart form: {e}")),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            form.has_file = true;
            let mut field = field;
            loop {
                match field.chunk().await {
                    Ok(Some(c)) => {
                        if form.head.len() < HEAD {
                            let take = (HEAD - form.head.len()).min(c.len());
                            form.head.extend_from_slice(&c[..take]);
                        }
                        form.size += c.len() as u64;
                    }
                    Ok(None) => break,
                    Err(e) => return Err(format!("could not read the file: {e}")),
                }
            }
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| format!("could not read field `{name}`: {e}"))?;
            match name.as_str() {
                "model" => form.model = Some(text),
                "language" => form.language = Some(text),
                "response_format" => form.response_format = Some(text),
                _ => {}
            }
        }
    }
    Ok(form)
}

/// The transcription handler.
pub async fn handle(
    State(fleet): State<Arc<Fleet>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    mp: Multipart,
) -> Response {
    let p = match provider_of(&fleet, &name) {
        Ok(p) => p,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let d = p.dialect();
    let account = match p.account(&headers) {
        Ok(a) => a,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let form = match read_form(mp).await {
        Ok(f) => f,
        Err(e) => return json_reply(dialect::bad_request(d, &e), Vec::new()),
    };
    let Some(model_id) = form.model.as_deref() else {
        return json_reply(
            dialect::bad_request(d, "you must provide a model parameter"),
            Vec::new(),
        );
    };
    let mi = match p.model(model_id) {
        Ok(i) => i,
        Err(r) => return json_reply(r, Vec::new()),
    };
    let m = &p.sc.models[mi];
    let slot = p.slot(account, mi);
    let st = &slot.stats;
    bump(&st.requests);
    if !m.transcription {
        bump(&st.errors);
        return json_reply(
            dialect::bad_request(
                d,
                &format!("The model `{model_id}` does not support transcription"),
            ),
            Vec::new(),
        );
    }
    if !form.has_file {
        bump(&st.errors);
        return json_reply(
            dialect::bad_request(d, "you must provide a file parameter"),
            Vec::new(),
        );
    }
    if let Some(limit) = p.sc.upload_limit_bytes
        && form.size > limit
    {
        bump(&st.r413);
        return json_reply(dialect::upload_too_large(d, limit, form.size), Vec::new());
    }
    let accepted = audio::formats(d);
    let Some(format) = audio::sniff(&form.head).filter(|f| accepted.contains(f)) else {
        bump(&st.errors);
        return json_reply(
            dialect::bad_request(
                d,
                &format!(
                    "file must be one of the following types: [{}]",
                    accepted.join(" ")
                ),
            ),
            Vec::new(),
        );
    };
    let secs = audio::billed_seconds(d, audio::seconds(&form.head, format, form.size));
    let now = fleet.now();
    let mut extra = Vec::new();
    {
        let mut w = slot.lock();
        if let Err(refusal) = w.admit(
            now,
            Ask {
                tokens: 0,
                audio_secs: secs,
            },
        ) {
            p.rate_headers(&mut w, now, &mut extra);
            drop(w);
            let reply = dialect::refusal(d, model_id, &p.sc.accounts[account].name, &refusal);
            bump(if reply.0 == 413 { &st.r413 } else { &st.r429 });
            return json_reply(reply, extra);
        }
        p.rate_headers(&mut w, now, &mut extra);
    }
    bump(&st.ok);
    st.tokens.fetch_add(secs, Ordering::Relaxed);

    let mut text = format!(
        "This is a simulated transcript of a {}-byte {format} file, about {secs} seconds long.",
        form.size
    );
    if let Some(lang) = &form.language {
        text.push_str(&format!(" Language: {lang}."));
    }
    let fmt = form.response_format.as_deref().unwrap_or("json");
    let (ctype, body) = match fmt {
        "text" => ("text/plain; charset=utf-8", text),
        "srt" => (
            "text/plain; charset=utf-8",
            format!(
                "1\n00:00:00,000 --> 00:00:{:02},000\n{text}\n",
                secs.min(59)
            ),
        ),
        "vtt" => (
            "text/plain; charset=utf-8",
            format!(
                "WEBVTT\n\n00:00:00.000 --> 00:00:{:02}.000\n{text}\n",
                secs.min(59)
            ),
        ),
        "verbose_json" => (
            "application/json",
            json!({"task": "transcribe", "language": form.language.as_deref().unwrap_or("english"),
                   "duration": secs as f64, "text": text,
                   "segments": [{"id": 0, "start": 0.0, "end": secs as f64, "text": text}]})
            .to_string(),
        ),
        _ => {
            let mut v = json!({"text": text});
            if d == crate::model::Dialect::Groq {
                v["x_groq"] = json!({"id": format!("req_sim{:x}", fleet.dice.next_u64())});
            }
            ("application/json", v.to_string())
        }
    };
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], body).into_response();
    add_headers(&mut resp, extra);
    resp
}

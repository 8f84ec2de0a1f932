//! What each provider says when it refuses: error bodies worded like the real ones
//! (../fixtures/provider-errors.json) and the rate-limit headers with each provider's
//! meaning — their names and windows taken from the dialect's module in `providers`, so the
//! simulator writes what the client reads.

use super::limits::{Reading, Refusal};
use crate::model::{Dialect, Millis, Window};
use crate::providers::{self, read, together};
use serde_json::{Value, json};

/// A status, headers and a JSON body.
pub type Reply = (u16, Vec<(&'static str, String)>, Value);

/// Seconds for `retry-after`: the wait rounded up, at least 1.
pub fn retry_after_secs(ms: Millis) -> u64 {
    ms.div_ceil(1_000).max(1)
}

fn window_words(d: Dialect, w: Window) -> &'static str {
    match (d, w) {
        (Dialect::Groq, Window::Rpm) => "requests per minute (RPM)",
        (Dialect::Groq, Window::Tpm) => "tokens per minute (TPM)",
        (_, Window::Rpm) => "requests per min (RPM)",
        (_, Window::Tpm) => "tokens per min (TPM)",
        (_, Window::Rpd) => "requests per day (RPD)",
        (_, Window::Tpd) => "tokens per day (TPD)",
        (_, Window::Ash) => "audio seconds per hour (ASH)",
        (_, Window::Asd) => "audio seconds per day (ASD)",
    }
}

fn kind_of(w: Window) -> &'static str {
    match w {
        Window::Rpm | Window::Rpd => "requests",
        Window::Tpm | Window::Tpd => "tokens",
        Window::Ash | Window::Asd => "audio_seconds",
    }
}

fn together_unit(w: Window) -> &'static str {
    match w {
        Window::Rpm => "queries per minute",
        Window::Rpd => "queries per day",
        Window::Tpm => "tokens per minute",
        Window::Tpd => "tokens per day",
        Window::Ash => "audio seconds per hour",
        Window::Asd => "audio seconds per day",
    }
}

fn err(message: String, kind: &str, code: Value, d: Dialect, param: Value) -> Value {
    match d {
        Dialect::Groq => json!({"error": {"message": message, "type": kind, "code": code}}),
        Dialect::Together => json!({
            "id": request_id(&message),
            "error": {"message": message, "type": kind, "param": param, "code": code}
        }),
        _ => json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    }
}

/// A Together-style request id, derived from the text so replies stay deterministic.
fn request_id(seed: &str) -> String {
    let h = super::answer::hash(seed.as_bytes());
    format!("o{:x}-sim", h & 0xFFFF_FFFF_FFFF)
}

/// The organisation id the messages name (per account).
pub fn org_id(d: Dialect, account: &str) -> String {
    match d {
        Dialect::Groq => format!("org_sim{account}"),
        _ => format!("org-sim{account}"),
    }
}

/// The reply to a refused admission: 429 over a window, or the too-large answer.
pub fn refusal(d: Dialect, model: &str, account: &str, r: &Refusal) -> Reply {
    let org = org_id(d, account);
    match *r {
        Refusal::Over {
            window,
            limit,
            used,
            requested,
            wait_ms,
        } => {
            let wait = crate::duration::go(wait_ms);
            let kind = kind_of(window);
            let words = window_words(d, window);
            let body = match d {
                Dialect::Groq => {
                    let more = if kind == "requests" {
                        "requests"
                    } else {
                        "tokens"
                    };
                    err(
                        format!(
                            "Rate limit reached for model `{model}` in organization `{org}` service tier `on_demand` on {words}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait}. Need more {more}? Upgrade to Dev Tier today at https://console.groq.com/settings/billing"
                        ),
                        kind,
                        json!("rate_limit_exceeded"),
                        d,
                        Value::Null,
                    )
                }
                Dialect::Together => err(
                    format!(
                        "You have been rate limited. Your rate limit is {limit} {}. Please navigate to https://api.together.xyz/settings/billing to upgrade to a paid plan.",
                        together_unit(window)
                    ),
                    "credit_limit",
                    Value::Null,
                    d,
                    Value::Null,
                ),
                _ => err(
                    format!(
                        "Rate limit reached for {model} in organization {org} on {words}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."
                    ),
                    kind,
                    json!("rate_limit_exceeded"),
                    d,
                    Value::Null,
                ),
            };
            (
                429,
                vec![("retry-after", retry_after_secs(wait_ms).to_string())],
                body,
            )
        }
        Refusal::TooLarge {
            window,
            limit,
            requested,
        } => {
            let kind = kind_of(window);
            let words = window_words(d, window);
            match d {
                Dialect::Groq => (
                    413,
                    Vec::new(),
                    err(
                        format!(
                            "Request too large for model `{model}` in organization `{org}` service tier `on_demand` on {words}: Limit {limit}, Requested {requested}, please reduce your message size and try again. Visit https://console.groq.com/docs/rate-limits for more information."
                        ),
                        kind,
                        json!("rate_limit_exceeded"),
                        d,
                        Value::Null,
                    ),
                ),
                Dialect::Together => (
                    429,
                    Vec::new(),
                    err(
                        format!(
                            "Request too large: it needs {requested} tokens but your rate limit is {limit} {}. Please reduce the input or max_tokens.",
                            together_unit(window)
                        ),
                        "credit_limit",
                        Value::Null,
                        d,
                        Value::Null,
                    ),
                ),
                _ => (
                    429,
                    Vec::new(),
                    err(
                        format!(
                            "Request too large for {model} in organization {org} on {words}: Limit {limit}, Requested {requested}. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more."
                        ),
                        kind,
                        json!("rate_limit_exceeded"),
                        d,
                        Value::Null,
                    ),
                ),
            }
        }
    }
}

/// 400: the prompt (plus the answer) does not fit the context window.
pub fn context_length(d: Dialect, context: u64, prompt: u64, max_tokens: u64) -> Reply {
    let body = match d {
        Dialect::Groq => err(
            "Please reduce the length of the messages or completion.".into(),
            "invalid_request_error",
            json!("context_length_exceeded"),
            d,
            json!("messages"),
        ),
        Dialect::Together => err(
            format!(
                "The input ({} tokens) is longer than the model's context length ({context} tokens).",
                if prompt > context {
                    prompt
                } else {
                    prompt.saturating_add(max_tokens)
                }
            ),
            "invalid_request_error",
            Value::Null,
            d,
            Value::Null,
        ),
        _ => {
            let message = if prompt > context {
                format!(
                    "This model's maximum context length is {context} tokens. However, your messages resulted in {prompt} tokens. Please reduce the length of the messages."
                )
            } else {
                format!(
                    "This model's maximum context length is {context} tokens. However, you requested {} tokens ({prompt} in the messages, {max_tokens} in the completion). Please reduce the length of the messages or completion.",
                    prompt.saturating_add(max_tokens)
                )
            };
            err(
                message,
                "invalid_request_error",
                json!("context_length_exceeded"),
                d,
                json!("messages"),
            )
        }
    };
    (400, Vec::new(), body)
}

/// 401: unknown or missing key. The key is never echoed whole.
pub fn invalid_key(d: Dialect, masked: &str) -> Reply {
    let message = match d {
        Dialect::Groq => "Invalid API Key".to_string(),
        Dialect::Together => "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.".to_string(),
        _ => format!(
            "Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."
        ),
    };
    (
        401,
        Vec::new(),
        err(
            message,
            "invalid_request_error",
            json!("invalid_api_key"),
            d,
            Value::Null,
        ),
    )
}

/// 404: the provider does not serve this model.
pub fn model_not_found(d: Dialect, model: &str) -> Reply {
    let message = match d {
        Dialect::Together => format!(
            "Unable to access model {model}. Please visit https://api.together.ai/models to view the list of supported models."
        ),
        _ => format!("The model `{model}` does not exist or you do not have access to it."),
    };
    (
        404,
        Vec::new(),
        err(
            message,
            "invalid_request_error",
            json!("model_not_found"),
            d,
            json!("model"),
        ),
    )
}

/// 400: a request the sim cannot read.
pub fn bad_request(d: Dialect, message: &str) -> Reply {
    (
        400,
        Vec::new(),
        err(
            message.to_string(),
            "invalid_request_error",
            Value::Null,
            d,
            Value::Null,
        ),
    )
}

/// 400: `max_tokens` sent to an OpenAI reasoning model (GPT-5+, o-series), which takes only
/// `max_completion_tokens`. Wording as OpenAI's API answers it (seen in public bug reports,
/// e.g. langchain-ai/langchain issues from 2025; unverified for 2026 models).
pub fn unsupported_max_tokens(d: Dialect) -> Reply {
    (
        400,
        Vec::new(),
        err(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.".to_string(),
            "invalid_request_error",
            Value::String("unsupported_parameter".into()),
            d,
            Value::String("max_tokens".into()),
        ),
    )
}

/// 413: an audio upload over the provider's limit.
pub fn upload_too_large(d: Dialect, limit: u64, got: u64) -> Reply {
    let message = match d {
        Dialect::Groq => "Request Entity Too Large".to_string(),
        _ => format!("Maximum content size limit ({limit}) exceeded ({got} bytes read)"),
    };
    (
        413,
        Vec::new(),
        err(
            message,
            "invalid_request_error",
            json!("request_too_large"),
            d,
            Value::Null,
        ),
    )
}

/// 500: an internal error.
pub fn server_error(d: Dialect) -> Reply {
    let message = match d {
        Dialect::Groq => "Internal Server Error",
        _ => "The server had an error while processing your request. Sorry about that!",
    };
    (
        500,
        Vec::new(),
        err(message.into(), "server_error", Value::Null, d, Value::Null),
    )
}

/// 503: no capacity (Together's wording, whatever the dialect).
pub fn overloaded(d: Dialect, model: &str) -> Reply {
    (
        503,
        Vec::new(),
        err(
            format!(
                "The model {model} is currently over capacity. Please try again later or use a different model."
            ),
            "service_unavailable",
            json!("model_overloaded"),
            d,
            Value::Null,
        ),
    )
}

/// Which windows the `-requests` and `-tokens` headers describe for a dialect: the ones its
/// rules read them as (Together: the windows its per-second headers are derived from). A
/// generic server sends none.
pub fn header_windows(d: Dialect) -> (Option<Window>, Option<Window>) {
    if d == Dialect::Generic {
        return (None, None);
    }
    let (requests, tokens) = providers::rules(d).header_windows();
    (Some(requests), Some(tokens))
}

/// The rate-limit headers of one reply, under the names the dialect's module reads.
/// `requests`/`tokens` are the readings of the windows [`header_windows`] names (OpenAI
/// falls back to RPD when it has no RPM); `per_second` are Together's older per-second
/// figures (rpm and tpm readings).
pub fn rate_headers(
    d: Dialect,
    requests: Option<Reading>,
    tokens: Option<Reading>,
    per_second: bool,
    out: &mut Vec<(&'static str, String)>,
) {
    match d {
        Dialect::Groq | Dialect::OpenAi => {
            for (names, r) in [(read::REQUESTS, requests), (read::TOKENS, tokens)] {
                if let Some(r) = r {
                    names.write(r.limit, r.remaining, crate::duration::go(r.reset_ms), out);
                }
            }
        }
        Dialect::Together if per_second => {
            let scale = together::PER_SECOND_SCALE;
            let pairs = [
                (together::PER_SECOND_REQUESTS, requests),
                (together::PER_SECOND_TOKENS, tokens),
            ];
            for (names, r) in pairs {
                if let Some(r) = r {
                    let per_sec = (r.limit / scale).max(1);
                    let remaining = (r.remaining / scale).min(per_sec);
                    let reset = retry_after_secs(r.reset_ms).to_string();
                    names.write(per_sec, remaining, reset, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replaces organisation ids, numbers and durations so only the wording is compared.
    fn shape(msg: &str) -> String {
        let mut out = Vec::new();
        let mut skip_org = false;
        for word in msg.split(' ') {
            if skip_org {
                out.push("ORG".to_string());
                skip_org = false;
                continue;
            }
            skip_org = word == "organization";
            let starts_digit = word.chars().next().is_some_and(|c| c.is_ascii_digit());
            out.push(if starts_digit {
                let tail: String = word
                    .chars()
                    .rev()
                    .take_while(|c| *c == ',' || *c == '.')
                    .collect();
                format!("N{tail}")
            } else {
                word.to_string()
            });
        }
        out.join(" ")
    }

    fn message(reply: &Reply) -> String {
        reply.2["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    // Verbatim messages from ../fixtures/provider-errors.json.
    const GROQ_TPM: &str = "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01kes94v04f9ramd2n1vj4gjnc` service tier `on_demand` on tokens per minute (TPM): Limit 12000, Used 2542, Requested 9855. Please try again in 1.984999999s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing";
    const GROQ_413: &str = "Request too large for model `llama-3.1-8b-instant` in organization `xxxx` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Requested 6294, please reduce your message size and try again. Visit https://console.groq.com/docs/rate-limits for more information.";
    const OPENAI_TPM: &str = "Rate limit reached for gpt-4o in organization XXXXXXXXX on tokens per min (TPM): Limit 30000, Used 14567, Requested 24754. Please try again in 18.642s. Visit https://platform.openai.com/account/rate-limits to learn more.";
    const OPENAI_TOO_LARGE: &str = "Request too large for gpt-4o in organization org-78asdf87asdf9aaa8976 on tokens per min (TPM): Limit 30000, Requested 31538. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.";
    const TOGETHER_RPM: &str = "You have been rate limited. Your rate limit is 60 queries per minute. Please navigate to https://api.together.xyz/settings/billing to upgrade to a paid plan.";
    const OPENAI_CONTEXT: &str = "This model's maximum context length is 8192 tokens. However, your messages resulted in 8227 tokens. Please reduce the length of the messages.";
    const TOGETHER_CONTEXT: &str =
        "The input (170071 tokens) is longer than the model's context length (131072 tokens).";

    #[test]
    fn the_client_reads_back_the_headers_each_dialect_writes() {
        let reading = |limit, remaining, reset_ms| Reading {
            limit,
            remaining,
            reset_ms,
        };
        let read_back = |d, per_second| {
            let (req, tok) = header_windows(d);
            let mut out = Vec::new();
            rate_headers(
                d,
                req.map(|_| reading(600, 540, 1_500)),
                tok.map(|_| reading(60_000, 48_000, 30)),
                per_second,
                &mut out,
            );
            let hs: crate::engine::Headers =
                out.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let got: Vec<_> = crate::providers::rate_readings(d, &hs)
                .into_iter()
                .map(|r| (r.window, r.limit, r.remaining))
                .collect();
            got
        };
        let both = |requests| {
            vec![
                (requests, Some(600), Some(540)),
                (Window::Tpm, Some(60_000), Some(48_000)),
            ]
        };
        assert_eq!(read_back(Dialect::Groq, false), both(Window::Rpd));
        assert_eq!(read_back(Dialect::OpenAi, false), both(Window::Rpm));
        assert_eq!(read_back(Dialect::Together, true), both(Window::Rpm));
        assert!(read_back(Dialect::Together, false).is_empty());
        assert!(read_back(Dialect::Generic, false).is_empty());
    }

    #[test]
    fn messages_have_the_real_wording() {
        let over = |w, limit, used, requested, wait_ms| Refusal::Over {
            window: w,
            limit,
            used,
            requested,
            wait_ms,
        };
        let big = |w, limit, requested| Refusal::TooLarge {
            window: w,
            limit,
            requested,
        };
        let g = refusal(
            Dialect::Groq,
            "llama-3.3-70b-versatile",
            "a",
            &over(Window::Tpm, 12000, 2542, 9855, 1985),
        );
        assert_eq!(g.0, 429);
        assert_eq!(shape(&message(&g)), shape(GROQ_TPM));
        assert_eq!(g.2["error"]["type"], "tokens");
        assert_eq!(g.2["error"]["code"], "rate_limit_exceeded");
        assert_eq!(g.1, vec![("retry-after", "2".to_string())]);
        let g = refusal(
            Dialect::Groq,
            "llama-3.1-8b-instant",
            "a",
            &big(Window::Tpm, 6000, 6294),
        );
        assert_eq!(g.0, 413);
        assert_eq!(shape(&message(&g)), shape(GROQ_413));
        let o = refusal(
            Dialect::OpenAi,
            "gpt-4o",
            "a",
            &over(Window::Tpm, 30000, 14567, 24754, 18642),
        );
        assert_eq!(shape(&message(&o)), shape(OPENAI_TPM));
        assert!(message(&o).contains("Please try again in 18.642s."));
        let o = refusal(
            Dialect::OpenAi,
            "gpt-4o",
            "a",
            &big(Window::Tpm, 30000, 31538),
        );
        assert_eq!(o.0, 429);
        assert_eq!(shape(&message(&o)), shape(OPENAI_TOO_LARGE));
        let t = refusal(
            Dialect::Together,
            "m",
            "a",
            &over(Window::Rpm, 60, 60, 1, 500),
        );
        assert_eq!(message(&t), TOGETHER_RPM);
        assert!(t.2["error"]["code"].is_null());
        let c = context_length(Dialect::OpenAi, 8192, 8227, 10);
        assert_eq!(message(&c), OPENAI_CONTEXT);
        let c = context_length(Dialect::Together, 131072, 170071, 10);
        assert_eq!(message(&c), TOGETHER_CONTEXT);
        assert!(c.2["id"].is_string());
    }
}

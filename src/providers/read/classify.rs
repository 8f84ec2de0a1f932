//! Error bodies: the reason, window, limit and wait a failed reply states. The codes and
//! phrases here are read from every dialect (a proxy passes a provider's on unchanged);
//! what a dialect reads differently comes from its [`crate::providers::DialectRules`].

use super::headers::retry_after_ms;
use super::text::{excerpt, stated_context, stated_limit, stated_wait_ms, window_named};
use crate::engine::{Classified, Headers, policy};
use crate::model::{Dialect, Millis, Reason, Window};
use crate::providers::rules;

/// The longest message kept from a body that is not the providers' error JSON.
const EXCERPT_CHARS: usize = 200;
/// The longest message kept from a provider's error JSON (control characters dropped).
const MESSAGE_CHARS: usize = 600;

/// The parts of `{"error": {"message", "type", "code"}}` that matter; absent parts are empty.
#[derive(Debug, Default)]
struct ErrorBody {
    message: Option<String>,
    kind: String,
    code: String,
}

/// Reads the providers' error JSON (`{"error": {...}}`, `{"error": "text"}` or a top-level
/// `message`); `None` when the body is not JSON of that shape.
fn parse_body(body: &str) -> Option<ErrorBody> {
    let v: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    let text = |x: Option<&serde_json::Value>| -> String {
        match x {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    match v.get("error") {
        Some(serde_json::Value::Object(e)) => Some(ErrorBody {
            message: e
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            kind: text(e.get("type")),
            code: text(e.get("code")),
        }),
        Some(serde_json::Value::String(s)) => Some(ErrorBody {
            message: Some(s.clone()),
            ..ErrorBody::default()
        }),
        _ => v
            .get("message")
            .and_then(|m| m.as_str())
            .map(|m| ErrorBody {
                message: Some(m.to_string()),
                kind: text(v.get("type")),
                code: text(v.get("code")),
            }),
    }
}

/// Reads a failed reply: its reason, the window it names, the limit it states and the wait
/// it asks for. `status` 0 means no HTTP reply: the reason is then `connection` and the
/// caller replaces it with what it knows (timeout, connection).
pub fn classify(
    dialect: Dialect,
    status: u16,
    headers: &Headers,
    body: &str,
    now: Millis,
) -> Classified {
    let parsed = parse_body(body);
    let message = match parsed.as_ref().and_then(|p| p.message.as_deref()) {
        // Shown on the terminal: no escape sequences from a provider, keys masked.
        Some(m) => excerpt(m, MESSAGE_CHARS),
        None if body.trim().is_empty() => format!("HTTP {status} with an empty body"),
        None => format!("HTTP {status}: {}", excerpt(body, EXCERPT_CHARS)),
    };
    let lower = message.to_lowercase();
    let (kind, code) = parsed
        .as_ref()
        .map(|p| (p.kind.to_lowercase(), p.code.to_lowercase()))
        .unwrap_or_default();
    let is = |name: &str| kind == name || code == name;

    let reason = reason_of(status, &lower, &is);
    let window = match reason {
        Reason::RateLimited | Reason::RequestTooLarge => window_named(&lower).or_else(|| {
            // Together's dynamic limits name the kind of limit only in the code.
            if is("dynamic_token_limited") {
                Some(Window::Tpm)
            } else if is("dynamic_request_limited") {
                Some(Window::Rpm)
            } else {
                None
            }
        }),
        _ => None,
    };
    let limit = match reason {
        Reason::ContextLength => stated_context(&lower),
        Reason::RateLimited | Reason::RequestTooLarge => stated_limit(&lower),
        _ => None,
    };
    // Where the failure policy says waiting never helps, no wait is reported.
    let retry_after_ms = if policy(reason).retry {
        stated_wait_ms(&lower)
            .or_else(|| retry_after_ms(headers, now))
            .or_else(|| rules(dialect).implied_wait_ms(reason, headers))
    } else {
        None
    };
    Classified {
        reason,
        window,
        limit,
        retry_after_ms,
        message,
    }
}

/// The reason, by the rules in `docs/providers.md` (Reading replies). The order matters:
/// specific codes and messages first, the HTTP status last.
fn reason_of(status: u16, lower: &str, is: &dyn Fn(&str) -> bool) -> Reason {
    let rate_message = window_named(lower).is_some()
        || lower.contains("rate limit")
        || lower.contains("rate_limit");
    if status == 0 {
        return Reason::Connection;
    }
    if is("model_decommissioned") || lower.contains("has been decommissioned") {
        return Reason::Decommissioned;
    }
    if status == 401 || is("invalid_api_key") || is("authentication_error") {
        return Reason::Auth;
    }
    if status == 403 {
        return if key_denied(lower, is) {
            Reason::Auth
        } else {
            Reason::ModelDenied
        };
    }
    if is("insufficient_quota")
        || status == 402
        || lower.contains("exceeded your current quota")
        || lower.contains("credit limit exceeded")
        || (is("credit_limit") && !rate_message)
    {
        return Reason::QuotaExhausted;
    }
    if lower.contains("request too large") {
        return Reason::RequestTooLarge;
    }
    if is("context_length_exceeded")
        || lower.contains("maximum context length")
        || lower.contains("longer than the model's context length")
        || lower.contains("context length exceeded")
    {
        return Reason::ContextLength;
    }
    if status == 413 {
        // Groq's window-sized 413 says "Request too large"; audio over the upload limit and
        // images over 4 MB also answer 413: too large for this model either way.
        return Reason::RequestTooLarge;
    }
    if status == 429
        || is("rate_limit_exceeded")
        || is("dynamic_request_limited")
        || is("dynamic_token_limited")
    {
        return Reason::RateLimited;
    }
    if is("model_not_found") || (status == 404 && lower.contains("model")) {
        // The model is gone for this key: drop it from rotation like a retired one.
        return Reason::Decommissioned;
    }
    if status == 503
        || status == 529
        || lower.contains("over capacity")
        || lower.contains("overloaded")
    {
        // Together's 503 means it lacks capacity, not that the key is over its limit.
        return Reason::Overloaded;
    }
    if status == 408 || status == 504 {
        return Reason::Timeout;
    }
    if (500..600).contains(&status) {
        return Reason::ServerError;
    }
    if (300..500).contains(&status) {
        // The request itself was refused (or the base URL redirects): sending it again,
        // here or elsewhere, gets the same answer unless the model is what it refuses.
        return Reason::InvalidRequest;
    }
    // A 2xx whose body is an error: not a reply rota can use from this model.
    Reason::BadResponse
}

/// Whether a 403 says the key (or its account) is refused outright, rather than this model.
fn key_denied(lower: &str, is: &dyn Fn(&str) -> bool) -> bool {
    let about_key = lower.contains("api key")
        || lower.contains("api_key")
        || lower.contains("apikey")
        || lower.contains("key is")
        || lower.contains("your key");
    let refused = [
        "invalid",
        "revoked",
        "disabled",
        "denied",
        "expired",
        "blocked",
        "suspended",
    ]
    .iter()
    .any(|w| lower.contains(w));
    (about_key && (refused || is("permission_denied")))
        || is("unsupported_country_region_territory")
        || lower.contains("organization has been disabled")
        || lower.contains("account is not active")
}

/// Whether an `invalid_request` names something only some models refuse (a parameter, a
/// feature, a content type), so another candidate may take the same request.
pub fn model_specific(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "not supported",
        "unsupported",
        "does not support",
        "is not available",
        "only supported",
        "this model",
        "for this model",
        "model does not",
        "not allowed for",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(dialect: Dialect, status: u16, body: &str) -> Classified {
        classify(dialect, status, &Headers::new(), body, 0)
    }

    fn err(message: &str, kind: &str, code: Option<&str>) -> String {
        serde_json::json!({"error": {"message": message, "type": kind, "code": code}}).to_string()
    }

    #[test]
    fn rate_limit_with_window_limit_and_wait() {
        let r = c(
            Dialect::Groq,
            429,
            &err(
                "Rate limit reached for model `llama-3.1-8b-instant` on requests per day (RPD): Limit 14400, Used 14400, Requested 1. Please try again in 7m12s.",
                "requests",
                Some("rate_limit_exceeded"),
            ),
        );
        assert_eq!(r.reason, Reason::RateLimited);
        assert_eq!(r.window, Some(Window::Rpd));
        assert_eq!(r.limit, Some(14400));
        assert_eq!(r.retry_after_ms, Some(432_000));
        let d = c(
            Dialect::Groq,
            429,
            &err(
                "Rate limit reached on tokens per day (TPD): Limit 500000, Used 499000, Requested ~2000. Please try again in 644ms.",
                "tokens",
                Some("rate_limit_exceeded"),
            ),
        );
        assert_eq!(
            (d.window, d.limit, d.retry_after_ms),
            (Some(Window::Tpd), Some(500_000), Some(644))
        );
    }

    #[test]
    fn request_too_large_as_429_or_413() {
        let body = err(
            "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 31538.",
            "tokens",
            Some("rate_limit_exceeded"),
        );
        assert_eq!(
            c(Dialect::OpenAi, 429, &body).reason,
            Reason::RequestTooLarge
        );
        assert_eq!(c(Dialect::Groq, 413, &body).reason, Reason::RequestTooLarge);
        // An audio file over the upload limit: 413 with any body.
        let audio = c(Dialect::Groq, 413, "<html>Request Entity Too Large</html>");
        assert_eq!(audio.reason, Reason::RequestTooLarge);
        assert_eq!(audio.retry_after_ms, None);
    }

    #[test]
    fn quota_in_every_form() {
        let old = err(
            "You exceeded your current quota, please check your plan.",
            "insufficient_quota",
            None,
        );
        assert_eq!(c(Dialect::OpenAi, 429, &old).reason, Reason::QuotaExhausted);
        assert_eq!(
            c(Dialect::Generic, 402, "{}").reason,
            Reason::QuotaExhausted
        );
        let credit = err(
            "Credit limit exceeded. Please add credits.",
            "credit_limit",
            None,
        );
        assert_eq!(
            c(Dialect::Together, 429, &credit).reason,
            Reason::QuotaExhausted
        );
        // Together's credit_limit type on a plain rate limit is a rate limit.
        let rate = err(
            "You have been rate limited. Your rate limit is 60 queries per minute.",
            "credit_limit",
            None,
        );
        let r = c(Dialect::Together, 429, &rate);
        assert_eq!(
            (r.reason, r.window, r.limit),
            (Reason::RateLimited, Some(Window::Rpm), Some(60))
        );
    }

    #[test]
    fn together_dynamic_limits_and_capacity() {
        let t = err(
            "Dynamic token limit reached",
            "dynamic_token_limited",
            Some("dynamic_token_limited"),
        );
        let r = c(Dialect::Together, 429, &t);
        assert_eq!(
            (r.reason, r.window),
            (Reason::RateLimited, Some(Window::Tpm))
        );
        let q = err(
            "Dynamic request limit reached",
            "dynamic_request_limited",
            None,
        );
        let r = c(Dialect::Together, 429, &q);
        assert_eq!(
            (r.reason, r.window),
            (Reason::RateLimited, Some(Window::Rpm))
        );
        assert_eq!(
            c(
                Dialect::Together,
                503,
                &err("No capacity", "server_error", None)
            )
            .reason,
            Reason::Overloaded
        );
        // 2026: x-ratelimit-reset is a suggested retry in seconds when retry-after is absent.
        let hs = vec![("x-ratelimit-reset".to_string(), "3".to_string())];
        let r = classify(Dialect::Together, 429, &hs, &q, 0);
        assert_eq!(r.retry_after_ms, Some(3000));
    }

    #[test]
    fn server_errors_auth_and_retired_models() {
        assert_eq!(c(Dialect::OpenAi, 500, "{}").reason, Reason::ServerError);
        assert_eq!(
            c(Dialect::OpenAi, 502, "Bad gateway").reason,
            Reason::ServerError
        );
        assert_eq!(c(Dialect::OpenAi, 503, "").reason, Reason::Overloaded);
        assert_eq!(c(Dialect::OpenAi, 403, "{}").reason, Reason::ModelDenied);
        assert_eq!(c(Dialect::OpenAi, 401, "{}").reason, Reason::Auth);
        let key = err(
            "Invalid API Key",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
        assert_eq!(c(Dialect::Groq, 400, &key).reason, Reason::Auth);
        let gone = err(
            "The model `mixtral-8x7b-32768` has been decommissioned and is no longer supported.",
            "invalid_request_error",
            Some("model_decommissioned"),
        );
        assert_eq!(c(Dialect::Groq, 400, &gone).reason, Reason::Decommissioned);
    }

    #[test]
    fn context_length_in_every_form() {
        let o = err(
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 8227 tokens.",
            "invalid_request_error",
            Some("context_length_exceeded"),
        );
        let r = c(Dialect::OpenAi, 400, &o);
        assert_eq!((r.reason, r.limit), (Reason::ContextLength, Some(8192)));
        let t = err(
            "The input (170071 tokens) is longer than the model's context length (131072 tokens).",
            "invalid_request_error",
            None,
        );
        let r = c(Dialect::Together, 400, &t);
        assert_eq!((r.reason, r.limit), (Reason::ContextLength, Some(131072)));
    }

    #[test]
    fn unexpected_bodies_still_get_a_reason_and_a_short_safe_message() {
        let html = format!(
            "<html><body>upstream sk-live-abcdefghijklmn0123 failed {}</body></html>",
            "x".repeat(500)
        );
        let r = c(Dialect::OpenAi, 502, &html);
        assert_eq!(r.reason, Reason::ServerError);
        assert!(r.message.starts_with("HTTP 502: "));
        assert!(r.message.chars().count() < 230);
        assert!(!r.message.contains("sk-live"));
        let r = c(Dialect::Groq, 429, "too many requests");
        assert_eq!(r.reason, Reason::RateLimited);
        assert_eq!(
            c(Dialect::Groq, 400, "not json").reason,
            Reason::InvalidRequest
        );
        assert_eq!(
            c(Dialect::Groq, 200, "not json").reason,
            Reason::BadResponse
        );
        assert_eq!(
            c(Dialect::Groq, 500, "").message,
            "HTTP 500 with an empty body"
        );
    }

    #[test]
    fn messages_never_carry_a_whole_key() {
        let body = err(
            "Incorrect API key provided: sk-proj-AbCdEfGh1234567890wxyz. You can find your API key at https://platform.openai.com.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
        let r = c(Dialect::OpenAi, 401, &body);
        assert!(!r.message.contains("sk-proj"));
        assert!(r.message.contains("…wxyz"));
    }

    #[test]
    fn headers_supply_the_wait_when_the_message_does_not() {
        let body = err(
            "Rate limit reached on requests per minute (RPM): Limit 30, Used 30, Requested 1.",
            "requests",
            Some("rate_limit_exceeded"),
        );
        let hs = vec![("retry-after".to_string(), "2".to_string())];
        assert_eq!(
            classify(Dialect::Groq, 429, &hs, &body, 0).retry_after_ms,
            Some(2000)
        );
        let ms = vec![("retry-after-ms".to_string(), "150".to_string())];
        assert_eq!(
            classify(Dialect::OpenAi, 429, &ms, &body, 0).retry_after_ms,
            Some(150)
        );
        assert_eq!(c(Dialect::OpenAi, 429, &body).retry_after_ms, None);
        // The message wins over the header.
        let stated = err(
            "Rate limit reached on requests per minute (RPM): Limit 30. Please try again in 1.5s.",
            "requests",
            None,
        );
        assert_eq!(
            classify(Dialect::Groq, 429, &hs, &stated, 0).retry_after_ms,
            Some(1500)
        );
    }

    #[test]
    fn held_back_2026_bodies_decimal_limit_and_retired_model_404() {
        // Together writes some limits with a decimal point: 9.0 queries per minute is 9.
        let r = c(
            Dialect::Together,
            429,
            &err(
                "Your rate limit is 9.0 queries per minute. Please try again later.",
                "credit_limit",
                None,
            ),
        );
        assert_eq!(
            (r.reason, r.window, r.limit),
            (Reason::RateLimited, Some(Window::Rpm), Some(9))
        );
        // Groq's 2026 answer for a retired model: 404 model_not_found, not the older 400.
        let r = c(
            Dialect::Groq,
            404,
            &err(
                "The model `llama-3.3-70b-versatile` does not exist or you do not have access to it.",
                "invalid_request_error",
                Some("model_not_found"),
            ),
        );
        assert_eq!(r.reason, Reason::Decommissioned);
    }

    #[test]
    fn refused_requests_and_403s_that_do_not_deny_the_key() {
        let bad = err(
            "Invalid value for 'temperature': expected a number.",
            "invalid_request_error",
            None,
        );
        for status in [400, 405, 409, 422, 302] {
            let r = c(Dialect::OpenAi, status, &bad);
            assert_eq!((r.reason, r.retry_after_ms), (Reason::InvalidRequest, None));
        }
        assert!(!model_specific(&c(Dialect::OpenAi, 400, &bad).message));
        assert!(model_specific(
            "reasoning_effort is not supported by this model"
        ));
        // A 403 denies this model unless it says the key itself is refused.
        let denied = err("You are not allowed to sample from this model", "", None);
        assert_eq!(c(Dialect::OpenAi, 403, &denied).reason, Reason::ModelDenied);
        let revoked = err("Your API key has been revoked.", "", None);
        assert_eq!(c(Dialect::OpenAi, 403, &revoked).reason, Reason::Auth);
        let region = err(
            "Country, region, or territory not supported",
            "request_forbidden",
            Some("unsupported_country_region_territory"),
        );
        assert_eq!(c(Dialect::OpenAi, 403, &region).reason, Reason::Auth);
    }

    #[test]
    fn a_providers_message_loses_its_escape_sequences() {
        let body = err(
            "bad \u{1b}]0;owned\u{7}\u{1b}[2Jthing",
            "invalid_request_error",
            None,
        );
        let m = c(Dialect::Groq, 400, &body).message;
        assert!(!m.chars().any(char::is_control), "{m:?}");
        assert!(m.contains("bad") && m.contains("thing"), "{m}");
    }
}

//! Image parts of a chat request, checked like the providers do: a model without vision
//! refuses them; Groq takes at most 5 images and 4 MB per base64 image.

use super::dialect::{self, Reply};
use crate::model::Dialect;
use serde_json::{Value, json};

/// Groq: images per request.
const GROQ_MAX_IMAGES: usize = 5;
/// Groq: bytes per base64 image.
const GROQ_MAX_BASE64: usize = 4 * 1024 * 1024;

/// The `image_url.url` of every image part of the request.
pub fn image_urls(body: &Value) -> Vec<&str> {
    body.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
        .filter_map(|p| p.pointer("/image_url/url").and_then(Value::as_str))
        .collect()
}

/// The refusal for the request's images, if any.
pub fn check(d: Dialect, model: &str, vision: bool, body: &Value) -> Option<Reply> {
    let urls = image_urls(body);
    if urls.is_empty() {
        return None;
    }
    if !vision {
        return Some(dialect::bad_request(
            d,
            &format!("The model `{model}` does not support image input."),
        ));
    }
    if d != Dialect::Groq {
        return None;
    }
    if urls.len() > GROQ_MAX_IMAGES {
        return Some(dialect::bad_request(
            d,
            &format!(
                "Too many images provided. This model supports up to {GROQ_MAX_IMAGES} images"
            ),
        ));
    }
    if urls
        .iter()
        .any(|u| u.starts_with("data:") && u.len() > GROQ_MAX_BASE64)
    {
        return Some((
            413,
            Vec::new(),
            json!({"error": {"message": "Request Entity Too Large", "type": "invalid_request_error", "code": "request_too_large"}}),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_images(n: usize, size: usize) -> Value {
        let url = format!("data:image/png;base64,{}", "A".repeat(size));
        let mut parts = vec![json!({"type": "text", "text": "what is this"})];
        parts.extend((0..n).map(|_| json!({"type": "image_url", "image_url": {"url": url}})));
        json!({"messages": [{"role": "user", "content": parts}]})
    }

    #[test]
    fn images_are_checked_per_provider() {
        assert!(check(Dialect::Groq, "m", true, &json!({"messages": []})).is_none());
        assert_eq!(
            check(Dialect::Groq, "m", false, &with_images(1, 10))
                .unwrap()
                .0,
            400
        );
        assert!(check(Dialect::Groq, "m", true, &with_images(5, 10)).is_none());
        assert_eq!(
            check(Dialect::Groq, "m", true, &with_images(6, 10))
                .unwrap()
                .0,
            400
        );
        assert_eq!(
            check(Dialect::Groq, "m", true, &with_images(1, GROQ_MAX_BASE64))
                .unwrap()
                .0,
            413
        );
        assert!(check(Dialect::OpenAi, "m", true, &with_images(6, 10)).is_none());
    }
}

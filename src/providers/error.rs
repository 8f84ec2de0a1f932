//! Why a provider call failed: its [`Classified`] reading plus what the reply
//! carried (status, headers, a bounded body), and where in the call it went wrong.

use crate::engine::{Classified, Headers};
use crate::model::{Dialect, Reason};
use crate::secret::{ApiKey, redact};
use std::fmt;

/// Where in a call the failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The provider answered with a non-2xx status; read by [`super::classify`].
    Reply,
    /// The provider sent an error object inside a 2xx stream; also read by `classify`.
    InStream,
    /// No usable reply: connect or read timeout, refused/reset connection, DNS failure.
    Transport,
    /// A 2xx reply whose body or stream could not be understood.
    Malformed,
    /// rota did not send the request: it could not build it (a file it cannot read, a bad
    /// URL, no key configured for the endpoint) or would not (a key over plain http to a
    /// remote host).
    Refused,
}

/// A failed provider call. Its Display never shows a key: the message from `classify` is
/// already masked and the request's own key is masked again if the provider echoed it.
#[derive(Clone, Debug, PartialEq)]
pub struct CallError {
    /// What the failure means for rotation (reason, window, limit, wait, message).
    pub classified: Classified,
    /// The HTTP status of the reply, when there was one.
    pub status: Option<u16>,
    /// The reply's headers with lowercase names (empty when there was no reply).
    pub headers: Headers,
    /// The start of the error body (at most [`MAX_ERROR_BODY`] bytes, key masked).
    pub body: String,
    /// Where the call failed.
    pub kind: ErrorKind,
}

/// The most bytes of an error body kept (and read from the network).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

impl CallError {
    /// A failure rota diagnosed itself (no provider reading): reason and message given.
    fn diagnosed(reason: Reason, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            classified: Classified {
                reason,
                window: None,
                limit: None,
                retry_after_ms: None,
                message: message.into(),
            },
            status: None,
            headers: Vec::new(),
            body: String::new(),
            kind,
        }
    }

    /// Connect, first byte or an idle gap took too long ([`Reason::Timeout`]).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::diagnosed(Reason::Timeout, ErrorKind::Transport, message)
    }

    /// The connection failed or broke ([`Reason::Connection`]).
    pub fn connection(message: impl Into<String>) -> Self {
        Self::diagnosed(Reason::Connection, ErrorKind::Transport, message)
    }

    /// A 2xx body or stream that could not be understood ([`Reason::BadResponse`]).
    pub fn bad_response(message: impl Into<String>) -> Self {
        Self::diagnosed(Reason::BadResponse, ErrorKind::Malformed, message)
    }

    /// A failure on rota's side before anything reached the provider — a file it cannot
    /// read, no key configured for the endpoint, a request it cannot build or will not send
    /// ([`Reason::Local`]): the reservation is released and nothing is marked on the
    /// provider, the model or the key.
    pub fn local(message: impl Into<String>) -> Self {
        Self::diagnosed(Reason::Local, ErrorKind::Refused, message)
    }

    /// A provider's error (non-2xx reply, or an error object inside a stream) read by
    /// [`super::classify`]. `key` is the key the request was sent with:
    /// it is masked in the message and body if the provider echoed it.
    pub fn from_reply(
        kind: ErrorKind,
        dialect: Dialect,
        status: u16,
        headers: Headers,
        body: &str,
        key: Option<&ApiKey>,
    ) -> Self {
        let body = truncate(body, MAX_ERROR_BODY);
        let mut classified =
            super::classify(dialect, status, &headers, body, crate::model::now_ms());
        let keys: Vec<&ApiKey> = key.into_iter().collect();
        classified.message = redact(&classified.message, &keys);
        Self {
            classified,
            status: Some(status),
            headers,
            body: redact(body, &keys),
            kind,
        }
    }

    /// Attaches the reply's status and headers (for errors found inside a stream).
    pub fn with_reply(mut self, status: u16, headers: &Headers) -> Self {
        if self.status.is_none() {
            self.status = Some(status);
        }
        if self.headers.is_empty() {
            self.headers = headers.clone();
        }
        self
    }

    /// Why the call failed.
    pub fn reason(&self) -> Reason {
        self.classified.reason
    }

    /// Whether the same model and key may succeed later (after a wait).
    pub fn is_retryable(&self) -> bool {
        crate::engine::policy::policy(self.classified.reason).retry
    }

    /// Masks `key` wherever it appears (message and body).
    pub(crate) fn masking(mut self, key: Option<&ApiKey>) -> Self {
        if let Some(k) = key {
            self.classified.message = redact(&self.classified.message, &[k]);
            self.body = redact(&self.body, &[k]);
        }
        self
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.classified.reason, self.classified.message)?;
        match self.status {
            Some(s) if self.kind == ErrorKind::Reply => write!(f, " (HTTP {s})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for CallError {}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

//! Providers: HTTP calls to OpenAI-compatible endpoints, SSE parsing and each dialect's
//! quirks. A shared core plus one small module per dialect.

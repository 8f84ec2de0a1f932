//! Transcription: probing audio files and routing them (Groq first, then round-robin).
//!
//! [`probe::probe`] tells an audio file's format (by content), size and duration;
//! [`limits`] says which providers take it. See docs/transcription.md.

pub mod fit;
pub mod format;
pub mod limits;
pub mod probe;
pub mod sniff;

pub use fit::{Offer, check_offers, offers};
pub use format::AudioFormat;
pub use limits::{UploadLimit, check_upload_size, largest_upload_limit, provider_accepts};
pub use probe::{AudioInfo, ProbeError, probe};

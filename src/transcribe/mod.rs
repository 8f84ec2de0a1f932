//! Transcription: probing audio files and routing them (Groq first, then round-robin).

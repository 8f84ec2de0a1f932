//! Audio uploads: which container a file is (by its magic bytes, never its name), which
//! formats each provider takes, and how many seconds it is billed as.

use crate::model::Dialect;

/// Formats a provider accepts, lowercase.
pub fn formats(d: Dialect) -> &'static [&'static str] {
    match d {
        Dialect::Together => &["wav", "mp3", "m4a", "webm", "flac"],
        _ => &[
            "flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm",
        ],
    }
}

/// The container of a file from its first bytes: `wav`, `flac`, `mp3`, `ogg`, `webm`,
/// `m4a`/`mp4`; `None` when it is none of them.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let at = |i: usize, m: &[u8]| bytes.get(i..i + m.len()) == Some(m);
    if at(0, b"RIFF") && at(8, b"WAVE") {
        Some("wav")
    } else if at(0, b"fLaC") {
        Some("flac")
    } else if at(0, b"OggS") {
        Some("ogg")
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("webm")
    } else if at(4, b"ftyp") {
        if at(8, b"M4A") {
            Some("m4a")
        } else {
            Some("mp4")
        }
    } else if at(0, b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && (bytes[1] & 0xE0) == 0xE0) {
        Some("mp3")
    } else {
        None
    }
}

/// Seconds of audio: exact for PCM WAV (from the header), else assumed 128 kbit/s.
pub fn seconds(bytes: &[u8], format: &str, size: u64) -> u64 {
    if format == "wav"
        && let Some(rate) = bytes.get(28..32)
    {
        let byte_rate = u32::from_le_bytes([rate[0], rate[1], rate[2], rate[3]]) as u64;
        if byte_rate > 0 {
            return size.saturating_sub(44).div_ceil(byte_rate).max(1);
        }
    }
    size.div_ceil(16_000).max(1)
}

/// Seconds billed: Groq bills at least 10 s a request.
pub fn billed_seconds(d: Dialect, secs: u64) -> u64 {
    if d == Dialect::Groq {
        secs.max(10)
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.resize(44, 0);
        wav[28..32].copy_from_slice(&32_000u32.to_le_bytes());
        assert_eq!(sniff(&wav), Some("wav"));
        assert_eq!(seconds(&wav, "wav", 44 + 64_000), 2);
        assert_eq!(sniff(b"fLaC...."), Some("flac"));
        assert_eq!(sniff(b"ID3\x03"), Some("mp3"));
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Some("m4a"));
        assert_eq!(sniff(b"hello world, not audio"), None);
        assert!(!formats(Dialect::Together).contains(&"ogg"));
    }
}

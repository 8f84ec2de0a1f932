//! The audio container formats that transcription providers accept, named as they name them.

use std::fmt;
use std::str::FromStr;

/// An audio file format a transcription provider may accept (Groq and OpenAI accept all nine).
///
/// rota judges the format by the file's content, never its name, and names the upload after
/// the format it found (`audio.flac`, …), since providers check the file name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AudioFormat {
    /// FLAC (`fLaC`).
    Flac,
    /// MPEG-1/2 audio layer III.
    Mp3,
    /// An ISO base media (MP4) container with an audio track, other than the M4A brand.
    Mp4,
    /// An MPEG program stream (`.mpeg`/`.mpg`), audio carried inside.
    Mpeg,
    /// MPEG-1/2 audio layer I or II.
    Mpga,
    /// An ISO base media container of the `M4A ` (or `M4B `/`M4P `) brand.
    M4a,
    /// Ogg (Vorbis, Opus or FLAC inside).
    Ogg,
    /// RIFF WAVE.
    Wav,
    /// WebM (Matroska with the `webm` doc type).
    Webm,
}

impl AudioFormat {
    /// Every format, in the order providers list them.
    pub const ALL: [AudioFormat; 9] = [
        AudioFormat::Flac,
        AudioFormat::Mp3,
        AudioFormat::Mp4,
        AudioFormat::Mpeg,
        AudioFormat::Mpga,
        AudioFormat::M4a,
        AudioFormat::Ogg,
        AudioFormat::Wav,
        AudioFormat::Webm,
    ];

    /// The lowercase name providers use in their format lists, also the upload's extension.
    pub fn name(self) -> &'static str {
        match self {
            AudioFormat::Flac => "flac",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Mp4 => "mp4",
            AudioFormat::Mpeg => "mpeg",
            AudioFormat::Mpga => "mpga",
            AudioFormat::M4a => "m4a",
            AudioFormat::Ogg => "ogg",
            AudioFormat::Wav => "wav",
            AudioFormat::Webm => "webm",
        }
    }

    /// The MIME type to put on the multipart upload.
    pub fn mime_type(self) -> &'static str {
        match self {
            AudioFormat::Flac => "audio/flac",
            AudioFormat::Mp3 | AudioFormat::Mpga => "audio/mpeg",
            AudioFormat::Mp4 => "audio/mp4",
            AudioFormat::Mpeg => "video/mpeg",
            AudioFormat::M4a => "audio/mp4",
            AudioFormat::Ogg => "audio/ogg",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Webm => "audio/webm",
        }
    }

    /// A short description for messages ("FLAC audio", "an MPEG program stream", …).
    pub fn describe(self) -> &'static str {
        match self {
            AudioFormat::Flac => "FLAC audio",
            AudioFormat::Mp3 => "MP3 audio",
            AudioFormat::Mp4 => "an MP4 file",
            AudioFormat::Mpeg => "an MPEG program stream",
            AudioFormat::Mpga => "MPEG layer I/II audio",
            AudioFormat::M4a => "M4A audio",
            AudioFormat::Ogg => "Ogg audio",
            AudioFormat::Wav => "WAV audio",
            AudioFormat::Webm => "WebM audio",
        }
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is none of the nine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an audio format rota knows: use one of flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm"
)]
pub struct UnknownFormat(pub String);

impl FromStr for AudioFormat {
    type Err = UnknownFormat;

    /// Parses a provider's format name: case-insensitive, a leading `.` allowed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().trim_start_matches('.');
        AudioFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str() {
        for f in AudioFormat::ALL {
            assert_eq!(f.name().parse::<AudioFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!(".FLAC".parse::<AudioFormat>(), Ok(AudioFormat::Flac));
        assert!("aac".parse::<AudioFormat>().is_err());
    }
}

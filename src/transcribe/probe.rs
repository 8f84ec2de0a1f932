//! Probing an audio file before upload: what format it is (by content), how many bytes, and
//! how many seconds of audio it holds (for providers that count audio seconds, e.g. Groq's
//! ASH/ASD windows). Reads only headers, or packet headers when the container states no
//! duration; never the whole file into memory, never decoding audio.

use super::format::AudioFormat;
use super::sniff::{HEAD_LEN, Sniffed, sniff, sniff_after_id3};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{Duration, TimeBase};

/// What rota knows about an audio file after probing it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioInfo {
    /// The container format, judged by content.
    pub format: AudioFormat,
    /// Size of the file in bytes (what the upload weighs, less multipart overhead).
    pub bytes: u64,
    /// Length of the audio in seconds.
    pub duration_secs: f64,
}

/// Why a file cannot be transcribed as it is. Each message is one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The path does not exist.
    #[error("{}: no such file; check the path", .path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file exists but cannot be opened or read.
    #[error("{}: cannot read it ({source}); check its permissions, e.g. `chmod u+r FILE`", .path.display())]
    Unreadable {
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A directory or another non-regular file.
    #[error("{} is {what}, not an audio file; name an audio file instead", .path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// "a directory", "not a regular file".
        what: &'static str,
    },
    /// Zero bytes.
    #[error("{} is empty (0 bytes); record or export the audio again", .path.display())]
    Empty {
        /// The path given.
        path: PathBuf,
    },
    /// Not audio at all.
    #[error("{} is not audio{}; give rota an audio file (flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav or webm)",
        .path.display(),
        .looks_like.map(|l| format!(": it looks like {l}")).unwrap_or_else(|| " rota recognizes (its first bytes match no audio format)".to_string()))]
    NotAudio {
        /// The path given.
        path: PathBuf,
        /// What it looks like, when obvious ("a PNG image").
        looks_like: Option<&'static str>,
    },
    /// Audio, or a media container, in a format rota cannot send for transcription.
    #[error("{} is {what}, which rota can't send for transcription; {hint}", .path.display())]
    Unsupported {
        /// The path given.
        path: PathBuf,
        /// What it is ("raw AAC (ADTS) audio").
        what: String,
        /// What to do, often a conversion command.
        hint: String,
    },
    /// It starts like a known format but its structure cannot be read.
    #[error("{} looks like {} but cannot be read ({detail}); re-export or re-download it", .path.display(), .format.describe())]
    Damaged {
        /// The path given.
        path: PathBuf,
        /// The format its first bytes claim.
        format: AudioFormat,
        /// What went wrong.
        detail: String,
    },
    /// A format none of the configured transcription providers takes.
    #[error("{} is {}, which no configured transcription provider takes (they take {}); convert it, e.g. `ffmpeg -i FILE -ar 16000 -ac 1 out.{}`",
        .path.display(), .format.describe(), .takes.join(", "),
        .takes.iter().find(|f| f.as_str() == "flac").or(.takes.first()).map_or("flac", |s| s.as_str()))]
    NoProviderTakes {
        /// The path given.
        path: PathBuf,
        /// Its format.
        format: AudioFormat,
        /// The formats some configured provider takes, in providers' order.
        takes: Vec<String>,
    },
    /// Larger than the largest upload limit of every candidate provider.
    #[error("{} is {}, larger than every provider's upload limit (the largest is {}'s {}); split it (e.g. `sox FILE part.flac trim 0 600 : newfile : restart`) or compress it (16 kHz mono FLAC or MP3)",
        .path.display(), human_bytes(*.bytes), .largest_model, human_bytes(*.largest_limit))]
    TooLarge {
        /// The path given.
        path: PathBuf,
        /// The file's size.
        bytes: u64,
        /// The model (`provider/id`) with the largest limit.
        largest_model: String,
        /// That limit in bytes.
        largest_limit: u64,
    },
}

impl ProbeError {
    /// The `kind` of the `--json` `error` event for this failure (docs/router.md, "Events"): `input`.
    pub fn event_kind(&self) -> &'static str {
        "input"
    }
}

/// Sizes for messages: "25 MB", "25 MiB", "30.2 MB", "32.0 kB", "512 bytes".
pub fn human_bytes(bytes: u64) -> String {
    const MB: u64 = 1_000_000;
    const MIB: u64 = 1 << 20;
    if bytes < 10_000 {
        format!("{bytes} bytes")
    } else if bytes < MB {
        format!("{:.1} kB", bytes as f64 / 1000.0)
    } else if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else {
        format!("{:.1} MB", bytes as f64 / MB as f64)
    }
}

/// Probes the file at `path`: format by content, size, and duration.
pub fn probe(path: &Path) -> Result<AudioInfo, ProbeError> {
    let meta = std::fs::metadata(path).map_err(|e| open_error(path, e))?;
    if meta.is_dir() {
        return Err(ProbeError::NotAFile {
            path: path.to_path_buf(),
            what: "a directory",
        });
    }
    if !meta.is_file() {
        return Err(ProbeError::NotAFile {
            path: path.to_path_buf(),
            what: "not a regular file",
        });
    }
    let bytes = meta.len();
    if bytes == 0 {
        return Err(ProbeError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut file = File::open(path).map_err(|e| open_error(path, e))?;
    let format = identify(path, &mut file, bytes)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| open_error(path, e))?;
    let duration_secs = duration(path, file, format, bytes)?;
    Ok(AudioInfo {
        format,
        bytes,
        duration_secs,
    })
}

/// Maps an error from opening or reading the file to what the user should do.
pub(crate) fn open_error(path: &Path, e: io::Error) -> ProbeError {
    match e.kind() {
        io::ErrorKind::NotFound => ProbeError::Missing {
            path: path.to_path_buf(),
        },
        io::ErrorKind::IsADirectory => ProbeError::NotAFile {
            path: path.to_path_buf(),
            what: "a directory",
        },
        _ => ProbeError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the file.
fn read_head(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Decides the format from the first bytes (and those after any ID3 tags).
fn identify(path: &Path, file: &mut File, bytes: u64) -> Result<AudioFormat, ProbeError> {
    let mut buf = vec![0u8; HEAD_LEN];
    let n = read_head(file, &mut buf).map_err(|e| open_error(path, e))?;
    let mut found = sniff(&buf[..n]);
    let mut offset = 0u64;
    // ID3v2 tags (sometimes more than one) precede MP3 and occasionally FLAC data.
    for _ in 0..4 {
        let Sniffed::Id3 { tag_len } = found else {
            break;
        };
        offset += tag_len;
        if offset >= bytes {
            return Err(ProbeError::Damaged {
                path: path.to_path_buf(),
                format: AudioFormat::Mp3,
                detail: "it holds an ID3 tag and no audio after it".to_string(),
            });
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| open_error(path, e))?;
        let n = read_head(file, &mut buf).map_err(|e| open_error(path, e))?;
        found = match sniff_after_id3(&buf[..n]) {
            Sniffed::Unknown => {
                return Err(ProbeError::Damaged {
                    path: path.to_path_buf(),
                    format: AudioFormat::Mp3,
                    detail: "no MPEG audio frame follows its ID3 tag".to_string(),
                });
            }
            other => other,
        };
    }
    match found {
        Sniffed::Audio(format) => Ok(format),
        Sniffed::Unsupported { what, hint } => Err(ProbeError::Unsupported {
            path: path.to_path_buf(),
            what: what.to_string(),
            hint: hint.to_string(),
        }),
        Sniffed::NotAudio(looks_like) => Err(ProbeError::NotAudio {
            path: path.to_path_buf(),
            looks_like: Some(looks_like),
        }),
        Sniffed::Unknown | Sniffed::Id3 { .. } => Err(ProbeError::NotAudio {
            path: path.to_path_buf(),
            looks_like: None,
        }),
    }
}

/// The audio's length in seconds: from the container's header when it states it, else from
/// the packets' timestamps (read, not decoded).
fn duration(path: &Path, file: File, format: AudioFormat, bytes: u64) -> Result<f64, ProbeError> {
    let damaged = |detail: String| ProbeError::Damaged {
        path: path.to_path_buf(),
        format,
        detail,
    };
    // A WAV cut short still states the full length: measure what is really there.
    let wav_present = if format == AudioFormat::Wav {
        let mut f = file.try_clone().map_err(|e| open_error(path, e))?;
        wav_data_fraction(&mut f, bytes).map_err(|e| open_error(path, e))?
    } else {
        None
    };

    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut reader = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match (format, &e) {
            (AudioFormat::Mpeg, SymphoniaError::Unsupported(_)) => ProbeError::Unsupported {
                path: path.to_path_buf(),
                what: "an MPEG program stream rota cannot measure".to_string(),
                hint: "extract its audio: `ffmpeg -i FILE -vn -c:a libmp3lame out.mp3`".to_string(),
            },
            _ => damaged(describe(&e)),
        })?;

    let track = reader
        .default_track(TrackType::Audio)
        .or_else(|| reader.first_track(TrackType::Audio))
        .cloned()
        .ok_or_else(|| ProbeError::NotAudio {
            path: path.to_path_buf(),
            looks_like: Some("a media file with no audio track"),
        })?;
    let time_base = track
        .time_base
        .or_else(|| sample_rate(&track).and_then(TimeBase::try_from_recip));

    let secs = match header_secs(&track, time_base) {
        Some(secs) => secs * wav_present.unwrap_or(1.0),
        None => {
            let tb = time_base.ok_or_else(|| {
                damaged("its audio track states no time base or sample rate".to_string())
            })?;
            let pcm_bits = if format == AudioFormat::Wav {
                pcm_bits_per_frame(&track)
            } else {
                None
            };
            packet_secs(reader.as_mut(), &track, tb, pcm_bits).map_err(damaged)?
        }
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(damaged("it holds no audio (0 seconds)".to_string()));
    }
    Ok(secs)
}

/// The sample rate of an audio track, if its codec parameters give one.
fn sample_rate(track: &Track) -> Option<u32> {
    match &track.codec_params {
        Some(CodecParameters::Audio(a)) => a.sample_rate,
        _ => None,
    }
}

/// The duration the container states: the track's duration in its time base, else its frame
/// count over its sample rate.
fn header_secs(track: &Track, time_base: Option<TimeBase>) -> Option<f64> {
    if let (Some(tb), Some(dur)) = (time_base, track.duration)
        && let Some(t) = tb.calc_duration(dur)
    {
        return Some(t.as_secs_f64());
    }
    let frames = track.num_frames?;
    let rate = sample_rate(track).filter(|&r| r > 0)?;
    Some(frames as f64 / f64::from(rate))
}

/// Bits per frame (all channels) of an uncompressed audio track, when its parameters say.
fn pcm_bits_per_frame(track: &Track) -> Option<u64> {
    match &track.codec_params {
        Some(CodecParameters::Audio(a)) => {
            let bits = u64::from(a.bits_per_coded_sample?);
            let channels = a.channels.as_ref()?.count() as u64;
            Some(bits * channels).filter(|&b| b > 0)
        }
        _ => None,
    }
}

/// Walks the packets of `track` (no decoding) to the end and returns the span of their
/// timestamps in seconds. A file cut mid-packet counts up to its last whole packet. For
/// uncompressed audio (`pcm_bits` per frame) a packet's length is its data's, not the stated
/// one: the reader states a full packet even when the file ends inside it.
fn packet_secs(
    reader: &mut dyn FormatReader,
    track: &Track,
    tb: TimeBase,
    pcm_bits: Option<u64>,
) -> Result<f64, String> {
    let start = track.start_ts.get();
    let mut end: Option<i64> = None;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                if p.track_id != track.id {
                    continue;
                }
                let mut frames = p.dur.get();
                if let Some(bits) = pcm_bits {
                    frames = frames.min(p.data.len() as u64 * 8 / bits);
                }
                let dur = i64::try_from(frames).unwrap_or(i64::MAX);
                let e = p.pts.get().saturating_add(dur);
                end = Some(end.map_or(e, |x: i64| x.max(e)));
            }
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) if end.is_some() => {
                tracing::debug!("probe: stopping the packet walk at an error: {e}");
                break;
            }
            Err(e) => return Err(describe(&e)),
        }
    }
    let end = end.ok_or_else(|| "it holds no audio packets".to_string())?;
    let span = u64::try_from(end.saturating_sub(start)).unwrap_or(0);
    tb.calc_duration(Duration::new(span))
        .map(|t| t.as_secs_f64())
        .ok_or_else(|| "its timestamps overflow".to_string())
}

/// A symphonia error as a short phrase for a message.
fn describe(e: &SymphoniaError) -> String {
    match e {
        SymphoniaError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "it ends before its header does".to_string()
        }
        SymphoniaError::IoError(io) => format!("read error: {io}"),
        SymphoniaError::DecodeError(d) => format!("malformed: {d}"),
        SymphoniaError::Unsupported(u) => format!("unsupported feature: {u}"),
        other => other.to_string(),
    }
}

/// For a RIFF WAVE file: the fraction of the `data` chunk's stated length that the file
/// really holds, when it holds less (a file cut short); `None` when it is whole, streams
/// (length `0xFFFFFFFF`), or the chunks cannot be walked (symphonia then reports why).
fn wav_data_fraction(file: &mut File, bytes: u64) -> io::Result<Option<f64>> {
    let mut pos = 12u64;
    for _ in 0..64 {
        file.seek(SeekFrom::Start(pos))?;
        let mut hdr = [0u8; 8];
        if read_head(file, &mut hdr)? < 8 {
            return Ok(None);
        }
        let len = u64::from(u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]));
        let body = pos + 8;
        if &hdr[..4] == b"data" {
            if len == u64::from(u32::MAX) || len == 0 || body + len <= bytes {
                return Ok(None);
            }
            let present = bytes.saturating_sub(body);
            return Ok(Some(present as f64 / len as f64));
        }
        pos = body + len + (len & 1);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_maps_to_unreadable_with_a_chmod_hint() {
        let e = open_error(
            Path::new("/x/a.wav"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(e, ProbeError::Unreadable { .. }));
        let msg = e.to_string();
        assert!(msg.starts_with("/x/a.wav: cannot read it"), "{msg}");
        assert!(msg.contains("chmod"), "{msg}");
        let e = open_error(
            Path::new("/x/a.wav"),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert!(matches!(e, ProbeError::Missing { .. }));
    }

    #[test]
    fn human_bytes_picks_the_exact_unit() {
        assert_eq!(human_bytes(25 * 1024 * 1024), "25 MiB");
        assert_eq!(human_bytes(25_000_000), "25 MB");
        assert_eq!(human_bytes(30_200_000), "30.2 MB");
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(32_044), "32.0 kB");
    }
}

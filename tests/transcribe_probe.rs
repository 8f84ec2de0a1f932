//! Probing audio files: format by content, size, duration, and the errors users meet.
//! Every file is written here by hand (RIFF headers, samples, MPEG frames); no external tools.

use rota::transcribe::{AudioFormat, ProbeError, UploadLimit, check_upload_size, probe};
use std::fs;
use std::path::{Path, PathBuf};

/// A PCM WAV: `channels` × 16-bit at `rate`, `frames` frames of a quiet ramp, optional extra
/// chunk before `data`. `data_len` overrides the stated data length (for streamed files).
fn wav_bytes(
    rate: u32,
    channels: u16,
    frames: u32,
    extra_chunk: bool,
    data_len: Option<u32>,
) -> Vec<u8> {
    let block = channels * 2;
    let data: Vec<u8> = (0..frames * u32::from(channels))
        .flat_map(|i| (((i % 200) as i16) - 100).to_le_bytes())
        .collect();
    let mut chunks = Vec::new();
    chunks.extend_from_slice(b"fmt ");
    chunks.extend_from_slice(&16u32.to_le_bytes());
    chunks.extend_from_slice(&1u16.to_le_bytes()); // PCM
    chunks.extend_from_slice(&channels.to_le_bytes());
    chunks.extend_from_slice(&rate.to_le_bytes());
    chunks.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    chunks.extend_from_slice(&block.to_le_bytes());
    chunks.extend_from_slice(&16u16.to_le_bytes());
    if extra_chunk {
        // An odd-length unknown chunk, padded to even, as the RIFF rules require.
        chunks.extend_from_slice(b"junk");
        chunks.extend_from_slice(&5u32.to_le_bytes());
        chunks.extend_from_slice(b"abcde\0");
    }
    chunks.extend_from_slice(b"data");
    chunks.extend_from_slice(&data_len.unwrap_or(data.len() as u32).to_le_bytes());
    chunks.extend_from_slice(&data);
    let riff_len = match data_len {
        Some(u32::MAX) => u32::MAX,
        _ => 4 + chunks.len() as u32,
    };
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(&chunks);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).expect("write test file");
    p
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn wav_duration_comes_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wav_bytes(16_000, 1, 32_000, false, None);
    let p = write(dir.path(), "two-seconds.wav", &bytes);
    let info = probe(&p).unwrap();
    assert_eq!(info.format, AudioFormat::Wav);
    assert_eq!(info.bytes, bytes.len() as u64);
    assert_eq!(info.bytes, 44 + 64_000);
    assert!(
        close(info.duration_secs, 2.0, 1e-9),
        "{}",
        info.duration_secs
    );
}

#[test]
fn stereo_wav_with_an_extra_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "x.wav",
        &wav_bytes(8_000, 2, 12_000, true, None),
    );
    let info = probe(&p).unwrap();
    assert_eq!(info.format, AudioFormat::Wav);
    assert!(
        close(info.duration_secs, 1.5, 1e-9),
        "{}",
        info.duration_secs
    );
}

#[test]
fn the_content_decides_not_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "really-a-wav.mp3",
        &wav_bytes(16_000, 1, 8_000, false, None),
    );
    let info = probe(&p).unwrap();
    assert_eq!(info.format, AudioFormat::Wav);
    assert!(close(info.duration_secs, 0.5, 1e-9));
}

#[test]
fn a_streamed_wav_without_a_length_is_measured_from_its_packets() {
    // ffmpeg writing to a pipe states 0xFFFFFFFF lengths: no duration in the header.
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "streamed.wav",
        &wav_bytes(16_000, 1, 40_000, false, Some(u32::MAX)),
    );
    let info = probe(&p).unwrap();
    assert_eq!(info.format, AudioFormat::Wav);
    assert!(
        close(info.duration_secs, 2.5, 1e-3),
        "{}",
        info.duration_secs
    );
}

#[test]
fn a_wav_cut_short_reports_the_audio_really_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = wav_bytes(16_000, 1, 32_000, false, None);
    bytes.truncate(44 + 32_000); // header says 2 s, 1 s of samples remains
    let p = write(dir.path(), "cut.wav", &bytes);
    let info = probe(&p).unwrap();
    assert_eq!(info.format, AudioFormat::Wav);
    assert!(
        close(info.duration_secs, 1.0, 1e-9),
        "{}",
        info.duration_secs
    );
}

#[test]
fn a_wav_cut_inside_its_header_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wav_bytes(16_000, 1, 32_000, false, None);
    let p = write(dir.path(), "header-cut.wav", &bytes[..20]);
    let err = probe(&p).unwrap_err();
    assert!(
        matches!(
            err,
            ProbeError::Damaged {
                format: AudioFormat::Wav,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("looks like WAV audio but cannot be read"),
        "{msg}"
    );
    assert!(msg.contains("re-export or re-download it"), "{msg}");
}

#[test]
fn a_wav_with_no_samples_holds_no_audio() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "silent.wav",
        &wav_bytes(16_000, 1, 0, false, None),
    );
    let err = probe(&p).unwrap_err();
    assert!(matches!(err, ProbeError::Damaged { .. }), "{err:?}");
}

/// `n` MPEG-1 layer III frames at 128 kbit/s, 44.1 kHz, no padding: 417 bytes each, payload
/// zero. The demuxer reads frame headers only, so the payload needs no meaning.
fn mp3_frames(n: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 417];
    frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
    frame.repeat(n)
}

#[test]
fn mp3_after_an_id3_tag() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x14".to_vec(); // 20-byte tag body
    bytes.extend_from_slice(&[0u8; 20]);
    bytes.extend_from_slice(&mp3_frames(100));
    let p = write(dir.path(), "song.bin", &bytes);
    let info = probe(&p).unwrap();
    assert_eq!(info.format, AudioFormat::Mp3);
    let expected = 100.0 * 1152.0 / 44_100.0;
    assert!(
        close(info.duration_secs, expected, 0.05),
        "{} vs {expected}",
        info.duration_secs
    );
}

#[test]
fn an_id3_tag_and_nothing_else_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x14".to_vec();
    bytes.extend_from_slice(&[0u8; 20]);
    let p = write(dir.path(), "tag-only.mp3", &bytes);
    assert!(matches!(probe(&p), Err(ProbeError::Damaged { .. })));
}

#[test]
fn a_png_is_not_audio_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&[0u8; 64]);
    let p = write(dir.path(), "cover.wav", &png);
    let err = probe(&p).unwrap_err();
    assert!(
        matches!(
            err,
            ProbeError::NotAudio {
                looks_like: Some("a PNG image"),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("is not audio: it looks like a PNG image; give rota an audio file")
    );
}

#[test]
fn a_text_file_renamed_mp3_is_not_audio() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "notes.mp3",
        b"Meeting notes\n- buy milk\n- call Ana\n",
    );
    let err = probe(&p).unwrap_err();
    assert!(
        matches!(
            err,
            ProbeError::NotAudio {
                looks_like: Some("a text file"),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unknown_bytes_are_not_audio_without_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "blob.wav",
        &[0x00, 0x13, 0x37, 0x42, 0x99, 0x01, 0x02],
    );
    let err = probe(&p).unwrap_err();
    assert!(
        matches!(
            err,
            ProbeError::NotAudio {
                looks_like: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("is not audio rota recognizes"));
}

#[test]
fn raw_aac_is_audio_rota_cannot_send() {
    let dir = tempfile::tempdir().unwrap();
    let mut adts = vec![0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC];
    adts.extend_from_slice(&[0u8; 64]);
    let p = write(dir.path(), "voice.m4a", &adts);
    let err = probe(&p).unwrap_err();
    assert!(matches!(err, ProbeError::Unsupported { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("raw AAC (ADTS) audio, which rota can't send"),
        "{msg}"
    );
    assert!(msg.contains("ffmpeg"), "{msg}");
}

#[test]
fn an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "empty.wav", b"");
    let err = probe(&p).unwrap_err();
    assert!(matches!(err, ProbeError::Empty { .. }));
    assert!(
        err.to_string()
            .ends_with("is empty (0 bytes); record or export the audio again")
    );
}

#[test]
fn a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("recordings.wav");
    fs::create_dir(&sub).unwrap();
    let err = probe(&sub).unwrap_err();
    assert!(
        matches!(
            err,
            ProbeError::NotAFile {
                what: "a directory",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("is a directory, not an audio file")
    );
}

#[test]
fn a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = probe(&dir.path().join("nope.wav")).unwrap_err();
    assert!(matches!(err, ProbeError::Missing { .. }));
    assert!(
        err.to_string()
            .ends_with("nope.wav: no such file; check the path")
    );
}

#[cfg(unix)]
#[test]
fn an_unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "locked.wav",
        &wav_bytes(16_000, 1, 1_600, false, None),
    );
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::File::open(&p).is_ok() {
        // root (as in CI) reads anything; the error mapping is unit-tested in probe.rs.
        println!("skipped: running as a user who can read a mode-000 file (root)");
        return;
    }
    let err = probe(&p).unwrap_err();
    assert!(matches!(err, ProbeError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("check its permissions"));
}

#[test]
fn a_probed_file_over_every_limit_names_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "long.wav",
        &wav_bytes(16_000, 1, 16_000, false, None),
    );
    let info = probe(&p).unwrap();
    let limits = [
        UploadLimit {
            model: "groq/whisper-large-v3".into(),
            bytes: 20_000,
        },
        UploadLimit {
            model: "custom:local/whisper-1".into(),
            bytes: 30_000,
        },
    ];
    let err = check_upload_size(&p, info.bytes, &limits).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("long.wav is 32.0 kB, larger than every provider's upload limit (the largest is custom:local/whisper-1's 30.0 kB); split it"),
        "{msg}"
    );
    assert!(
        check_upload_size(
            &p,
            info.bytes,
            &[UploadLimit {
                model: "x/y".into(),
                bytes: 40_000
            }]
        )
        .is_ok()
    );
}

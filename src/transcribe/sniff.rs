//! Telling what a file is from its first bytes (magic numbers), never from its name.

use super::format::AudioFormat;

/// How many bytes from the start of a file (or after an ID3 tag) [`sniff`] wants to see.
pub const HEAD_LEN: usize = 4096;

/// What the first bytes of a file say it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// One of the formats providers accept.
    Audio(AudioFormat),
    /// An ID3v2 tag of this many bytes (header included) comes first; look after it.
    Id3 {
        /// Length of the whole tag in bytes.
        tag_len: u64,
    },
    /// Audio (or a media container) that providers do not accept.
    Unsupported {
        /// What it is, e.g. "raw AAC (ADTS) audio".
        what: &'static str,
        /// What the user can do, e.g. a conversion command.
        hint: &'static str,
    },
    /// Clearly not audio; says what it looks like, e.g. "a PNG image".
    NotAudio(&'static str),
    /// Nothing recognizable.
    Unknown,
}

const CONVERT: &str = "convert it, e.g. `ffmpeg -i FILE -vn -ac 1 -ar 16000 out.flac`";

/// Reads the first bytes of a file (`head`, ideally [`HEAD_LEN`] of them) and says what it is.
pub fn sniff(head: &[u8]) -> Sniffed {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);

    if at(0, b"ID3") && head.len() >= 10 {
        let size = syncsafe(&head[6..10]);
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        return Sniffed::Id3 {
            tag_len: 10 + size + footer,
        };
    }
    if at(0, b"RIFF") || at(0, b"RIFX") {
        return if at(8, b"WAVE") {
            Sniffed::Audio(AudioFormat::Wav)
        } else if at(8, b"WEBP") {
            Sniffed::NotAudio("a WebP image")
        } else if at(8, b"AVI ") {
            Sniffed::Unsupported {
                what: "an AVI video",
                hint: CONVERT,
            }
        } else {
            Sniffed::Unsupported {
                what: "a RIFF file that is not WAVE audio",
                hint: CONVERT,
            }
        };
    }
    if at(0, b"fLaC") {
        return Sniffed::Audio(AudioFormat::Flac);
    }
    if at(0, b"OggS") {
        return Sniffed::Audio(AudioFormat::Ogg);
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return ebml(head);
    }
    if at(4, b"ftyp") {
        return iso_brand(head);
    }
    if at(0, &[0x00, 0x00, 0x01, 0xBA]) {
        return Sniffed::Audio(AudioFormat::Mpeg);
    }
    if let Some(found) = mpeg_audio_frame(head) {
        return found;
    }
    if let Some(found) = other_audio(head) {
        return found;
    }
    if let Some(looks_like) = not_audio(head) {
        return Sniffed::NotAudio(looks_like);
    }
    Sniffed::Unknown
}

/// Finds the first MPEG audio frame (or ADTS frame) within the first bytes after an ID3 tag,
/// where encoders sometimes leave padding. Returns what it found there.
pub fn sniff_after_id3(head: &[u8]) -> Sniffed {
    match sniff(head) {
        Sniffed::Unknown => {}
        found => return found,
    }
    let limit = head.len().saturating_sub(3);
    for i in 0..limit {
        if head[i] == 0xFF
            && let Some(found) = mpeg_audio_frame(&head[i..])
        {
            return found;
        }
        if head[i] != 0 {
            break;
        }
    }
    Sniffed::Unknown
}

/// A 28-bit "syncsafe" integer (7 bits per byte), as in ID3v2 sizes.
fn syncsafe(b: &[u8]) -> u64 {
    b.iter()
        .fold(0u64, |acc, &x| (acc << 7) | u64::from(x & 0x7F))
}

/// An MPEG audio frame header (or an ADTS header) at the start of `b`, if there is one.
fn mpeg_audio_frame(b: &[u8]) -> Option<Sniffed> {
    if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
        return None;
    }
    if b[1] & 0xF6 == 0xF0 {
        return Some(Sniffed::Unsupported {
            what: "raw AAC (ADTS) audio",
            hint: "wrap it without re-encoding: `ffmpeg -i FILE -c copy out.m4a`",
        });
    }
    let version = (b[1] >> 3) & 0b11;
    let layer = (b[1] >> 1) & 0b11;
    let bitrate = b[2] >> 4;
    let rate = (b[2] >> 2) & 0b11;
    if version == 0b01 || layer == 0 || bitrate == 0b1111 || rate == 0b11 {
        return None;
    }
    Some(Sniffed::Audio(if layer == 0b01 {
        AudioFormat::Mp3
    } else {
        AudioFormat::Mpga
    }))
}

/// Matroska or WebM: the EBML header names the doc type.
fn ebml(head: &[u8]) -> Sniffed {
    let window = &head[..head.len().min(64)];
    if contains(window, b"webm") {
        Sniffed::Audio(AudioFormat::Webm)
    } else if contains(window, b"matroska") {
        Sniffed::Unsupported {
            what: "a Matroska (.mkv/.mka) file",
            hint: "extract its audio: `ffmpeg -i FILE -vn -c:a libopus out.webm`",
        }
    } else {
        Sniffed::Unknown
    }
}

/// ISO base media: the `ftyp` box's major brand tells M4A from MP4 from images and QuickTime.
fn iso_brand(head: &[u8]) -> Sniffed {
    let brand = head.get(8..12).unwrap_or_default();
    match brand {
        b"M4A " | b"M4B " | b"M4P " => Sniffed::Audio(AudioFormat::M4a),
        b"heic" | b"heix" | b"mif1" | b"msf1" | b"avif" => Sniffed::NotAudio("a HEIC/AVIF image"),
        b"qt  " => Sniffed::Unsupported {
            what: "a QuickTime (.mov) file",
            hint: "extract its audio: `ffmpeg -i FILE -vn -c:a copy out.m4a`",
        },
        b if b.starts_with(b"3g") => Sniffed::Unsupported {
            what: "a 3GP file",
            hint: CONVERT,
        },
        _ => Sniffed::Audio(AudioFormat::Mp4),
    }
}

/// Audio formats providers do not take.
fn other_audio(head: &[u8]) -> Option<Sniffed> {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    let what = if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        "AIFF audio"
    } else if at(0, b"caff") {
        "Core Audio (CAF) audio"
    } else if at(0, b"#!AMR") {
        "AMR audio"
    } else if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        "a Windows Media (ASF/WMA) file"
    } else if at(0, b"wvpk") {
        "WavPack audio"
    } else if at(0, b"MAC ") {
        "Monkey's Audio (APE)"
    } else if at(0, b".snd") {
        "Sun/NeXT (.au) audio"
    } else if at(0, b"RF64") || at(0, b"BW64") {
        "RF64 (large WAV) audio"
    } else if head.len() > 188 && head[0] == 0x47 && head[188] == 0x47 {
        "an MPEG transport stream (.ts)"
    } else {
        return None;
    };
    Some(Sniffed::Unsupported {
        what,
        hint: CONVERT,
    })
}

/// Well-known non-audio files, for a message that says what the file looks like.
fn not_audio(head: &[u8]) -> Option<&'static str> {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    let binary = [
        (&b"\x89PNG\r\n\x1a\n"[..], "a PNG image"),
        (&[0xFF, 0xD8, 0xFF][..], "a JPEG image"),
        (&b"GIF8"[..], "a GIF image"),
        (&b"II*\0"[..], "a TIFF image"),
        (&b"MM\0*"[..], "a TIFF image"),
        (&b"%PDF"[..], "a PDF document"),
        (&b"PK\x03\x04"[..], "a ZIP archive (or an Office document)"),
        (&[0x1F, 0x8B][..], "a gzip archive"),
        (&b"7z\xBC\xAF\x27\x1C"[..], "a 7-Zip archive"),
        (&b"Rar!"[..], "a RAR archive"),
        (&b"\x7FELF"[..], "a program (ELF executable)"),
        (&b"MZ"[..], "a Windows program"),
        (&b"SQLite format 3\0"[..], "an SQLite database"),
        (&b"MThd"[..], "a MIDI file (notes, not recorded sound)"),
        (
            &b"\x00\x00\x01\xB3"[..],
            "an MPEG video stream without audio",
        ),
    ];
    if let Some((_, what)) = binary.iter().find(|(magic, _)| at(0, magic)) {
        return Some(what);
    }
    let text = text_prefix(head)?;
    let t = text.trim_start().to_ascii_lowercase();
    Some(
        if t.starts_with("<!doctype html") || t.starts_with("<html") {
            "an HTML page"
        } else if t.starts_with("<?xml") || t.starts_with("<svg") {
            "an XML or SVG file"
        } else if t.starts_with('{') || t.starts_with('[') {
            "a JSON file"
        } else {
            "a text file"
        },
    )
}

/// The head as text, when it is UTF-8 (a character cut at the end allowed) without control
/// characters other than tab, newline, carriage return and form feed.
fn text_prefix(head: &[u8]) -> Option<&str> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0C'));
    (printable && !text.trim().is_empty()).then_some(text)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(brand: &[u8; 4]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x20];
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(brand);
        v.extend_from_slice(&[0; 20]);
        v
    }

    #[test]
    fn containers_are_told_apart_by_their_magic() {
        assert_eq!(
            sniff(b"RIFF\x24\0\0\0WAVEfmt "),
            Sniffed::Audio(AudioFormat::Wav)
        );
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Sniffed::Audio(AudioFormat::Flac));
        assert_eq!(sniff(b"OggS\0\x02"), Sniffed::Audio(AudioFormat::Ogg));
        assert_eq!(sniff(&iso(b"M4A ")), Sniffed::Audio(AudioFormat::M4a));
        assert_eq!(sniff(&iso(b"isom")), Sniffed::Audio(AudioFormat::Mp4));
        assert_eq!(sniff(&iso(b"heic")), Sniffed::NotAudio("a HEIC/AVIF image"));
        assert!(matches!(sniff(&iso(b"qt  ")), Sniffed::Unsupported { .. }));
        assert_eq!(
            sniff(&[0, 0, 1, 0xBA, 0x44]),
            Sniffed::Audio(AudioFormat::Mpeg)
        );
        let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x84];
        webm.extend_from_slice(b"webm");
        assert_eq!(sniff(&webm), Sniffed::Audio(AudioFormat::Webm));
        let mut mkv = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x88];
        mkv.extend_from_slice(b"matroska");
        assert!(matches!(sniff(&mkv), Sniffed::Unsupported { .. }));
    }

    #[test]
    fn mpeg_audio_layers_and_adts() {
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
        assert_eq!(
            sniff(&[0xFF, 0xFB, 0x90, 0x64]),
            Sniffed::Audio(AudioFormat::Mp3)
        );
        // MPEG-1 layer II.
        assert_eq!(
            sniff(&[0xFF, 0xFD, 0x90, 0x64]),
            Sniffed::Audio(AudioFormat::Mpga)
        );
        // ADTS AAC.
        assert!(matches!(
            sniff(&[0xFF, 0xF1, 0x50, 0x80]),
            Sniffed::Unsupported { what, .. } if what.contains("AAC")
        ));
        // A bad bitrate index is no frame; these bytes are not text either.
        assert_eq!(sniff(&[0xFF, 0xFB, 0xF0, 0x64]), Sniffed::Unknown);
    }

    #[test]
    fn id3_tag_length_counts_header_and_footer() {
        // Size 0x00 0x00 0x02 0x01 syncsafe = 257.
        let head = b"ID3\x04\x00\x00\x00\x00\x02\x01";
        assert_eq!(sniff(head), Sniffed::Id3 { tag_len: 267 });
        let with_footer = b"ID3\x04\x00\x10\x00\x00\x02\x01";
        assert_eq!(sniff(with_footer), Sniffed::Id3 { tag_len: 277 });
    }

    #[test]
    fn after_id3_padding_is_skipped() {
        let mut head = vec![0u8; 100];
        head.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        assert_eq!(sniff_after_id3(&head), Sniffed::Audio(AudioFormat::Mp3));
        assert_eq!(sniff_after_id3(&[0u8; 64]), Sniffed::Unknown);
    }

    #[test]
    fn common_non_audio_files_are_named() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Sniffed::NotAudio("a PNG image")
        );
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Sniffed::NotAudio("a JPEG image")
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), Sniffed::NotAudio("a PDF document"));
        assert_eq!(
            sniff("hello, wörld\nsecond line\n".as_bytes()),
            Sniffed::NotAudio("a text file")
        );
        assert_eq!(
            sniff(b"  <!DOCTYPE html><html>"),
            Sniffed::NotAudio("an HTML page")
        );
        assert_eq!(sniff(b"{\"a\": 1}"), Sniffed::NotAudio("a JSON file"));
        // A multi-byte character cut by the end of the head is still text.
        assert_eq!(
            sniff(&"aé".as_bytes()[..2]),
            Sniffed::NotAudio("a text file")
        );
        assert_eq!(sniff(&[0x00, 0x13, 0x37, 0x42]), Sniffed::Unknown);
    }
}

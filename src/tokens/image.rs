//! Image costs: OpenAI's tile rule when the size is known from a data URL's PNG or JPEG
//! header, Llama 4's tiles, and documented fixed costs otherwise.

/// The `detail` an image part asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// 512 px thumbnail: the base cost only.
    Low,
    /// Tiled at 512 px after scaling.
    High,
    /// The provider picks; rota assumes `High` (over-estimate rather than under).
    Auto,
}

impl Detail {
    /// Reads the `detail` field (absent is `auto`).
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("low") => Detail::Low,
            Some("high") => Detail::High,
            _ => Detail::Auto,
        }
    }
}

/// What the estimator knows about one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Width and height in pixels, when a data URL's header told.
    pub size: Option<(u32, u32)>,
    /// The detail asked for.
    pub detail: Detail,
}

/// OpenAI's per-image constants: base (also the `low` cost) and per 512 px tile.
#[derive(Clone, Copy, Debug)]
pub struct TileCost {
    /// Tokens for every image.
    pub base: u64,
    /// Tokens per 512 px tile at `high`.
    pub tile: u64,
}

/// gpt-4o, gpt-4.1, gpt-5, o-series.
pub const GPT4O: TileCost = TileCost {
    base: 85,
    tile: 170,
};
/// gpt-4o-mini counts images ~33× higher (same price as gpt-4o).
pub const GPT4O_MINI: TileCost = TileCost {
    base: 2833,
    tile: 5667,
};

/// OpenAI's tile rule: fit in 2048×2048, scale the short side down to 768, count 512 px
/// tiles. Unknown size costs the rule's maximum (8 tiles: a 2048×768 image).
pub fn openai_tokens(img: &ImageInfo, cost: TileCost) -> u64 {
    if img.detail == Detail::Low {
        return cost.base;
    }
    let tiles = match img.size {
        Some((w, h)) => openai_tiles(w, h),
        None => 8,
    };
    cost.base + cost.tile * tiles
}

/// The number of 512 px tiles of a `w`×`h` image under OpenAI's scaling.
fn openai_tiles(w: u32, h: u32) -> u64 {
    let (mut w, mut h) = (f64::from(w.max(1)), f64::from(h.max(1)));
    if w > 2048.0 || h > 2048.0 {
        let s = 2048.0 / w.max(h);
        w *= s;
        h *= s;
    }
    if w.min(h) > 768.0 {
        let s = 768.0 / w.min(h);
        w *= s;
        h *= s;
    }
    ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64
}

/// Llama 4 (Groq, Together): 336 px tiles of 144 tokens, at most 16, plus a global view
/// when tiled, plus a few marker tokens. Unknown size costs the maximum.
pub fn llama4_tokens(img: &ImageInfo) -> u64 {
    const TILE: u64 = 144;
    let tiles = match img.size {
        Some((w, h)) => {
            let t = u64::from(w.div_ceil(336).max(1)) * u64::from(h.div_ceil(336).max(1));
            t.min(16)
        }
        None => 16,
    };
    let global = if tiles > 1 { TILE } else { 0 };
    TILE * tiles + global + tiles + 3
}

/// The fixed cost of an image for a model rota knows nothing about.
pub const UNKNOWN_MODEL_IMAGE_TOKENS: u64 = 2500;

/// How a model family counts images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageRule {
    /// OpenAI's tile rule with these constants.
    OpenAi {
        /// Tokens for every image (the `low` cost).
        base: u64,
        /// Tokens per 512 px tile.
        tile: u64,
    },
    /// Llama 4's 336 px tiles.
    Llama4,
    /// A fixed cost per image.
    Fixed(u64),
}

impl ImageRule {
    /// Tokens of one image under this rule.
    pub fn tokens(self, img: &ImageInfo) -> u64 {
        match self {
            ImageRule::OpenAi { base, tile } => openai_tokens(img, TileCost { base, tile }),
            ImageRule::Llama4 => llama4_tokens(img),
            ImageRule::Fixed(n) => n,
        }
    }
}

/// Width and height from a `data:image/…;base64,` URL holding a PNG or JPEG, else `None`
/// (https URLs and other formats are not fetched).
pub fn size_of_data_url(url: &str) -> Option<(u32, u32)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    if !meta.ends_with(";base64") {
        return None;
    }
    // PNG headers sit in the first 24 bytes; JPEG frame headers may follow large EXIF
    // blocks, so decode up to 1 MiB.
    let bytes = decode_base64_prefix(data, 1 << 20);
    png_size(&bytes).or_else(|| jpeg_size(&bytes))
}

/// Decodes standard base64 (padding and white space tolerated) up to `max` bytes.
fn decode_base64_prefix(data: &str, max: usize) -> Vec<u8> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(max.min(data.len()));
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in data.bytes() {
        if c == b'=' {
            break;
        }
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

/// A PNG's size from its IHDR chunk.
fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 24 || &b[..8] != b"\x89PNG\r\n\x1a\n" || &b[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    Some((w, h))
}

/// A JPEG's size from its first start-of-frame segment.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return None;
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        if marker == 0xD8 || marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            if i + 9 > b.len() {
                return None;
            }
            let h = u32::from(u16::from_be_bytes([b[i + 5], b[i + 6]]));
            let w = u32::from(u16::from_be_bytes([b[i + 7], b[i + 8]]));
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Standard base64 of `bytes`, for building data URLs in tests.
    pub(crate) fn b64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// A PNG header (signature + IHDR) of the given size.
    pub(crate) fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn png_and_jpeg_sizes_from_data_urls() {
        let url = format!("data:image/png;base64,{}", b64(&png_header(1024, 768)));
        assert_eq!(size_of_data_url(&url), Some((1024, 768)));
        // JPEG: SOI, an APP0 segment, then SOF0 with height 600, width 800.
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x06, b'J', b'F', b'I', b'F'];
        j.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20, 0x03]);
        let url = format!("data:image/jpeg;base64,{}", b64(&j));
        assert_eq!(size_of_data_url(&url), Some((800, 600)));
        assert_eq!(size_of_data_url("https://example.com/cat.png"), None);
        assert_eq!(size_of_data_url("data:image/png;base64,!!!!"), None);
    }

    #[test]
    fn openai_tile_rule() {
        let img = |w, h, detail| ImageInfo {
            size: Some((w, h)),
            detail,
        };
        assert_eq!(openai_tokens(&img(4096, 4096, Detail::Low), GPT4O), 85);
        // 1024×1024 → 768×768 → 4 tiles.
        assert_eq!(openai_tokens(&img(1024, 1024, Detail::High), GPT4O), 765);
        // 2048×4096 → 1024×2048 → 768×1536 → 2×3 tiles.
        assert_eq!(openai_tokens(&img(2048, 4096, Detail::High), GPT4O), 1105);
        assert_eq!(openai_tokens(&img(500, 400, Detail::Auto), GPT4O), 255);
        let unknown = ImageInfo {
            size: None,
            detail: Detail::Auto,
        };
        assert_eq!(openai_tokens(&unknown, GPT4O), 85 + 170 * 8);
        assert_eq!(
            openai_tokens(&img(512, 512, Detail::High), GPT4O_MINI),
            2833 + 5667
        );
    }

    #[test]
    fn llama4_tiles_grow_with_size_and_cap() {
        let small = llama4_tokens(&ImageInfo {
            size: Some((300, 300)),
            detail: Detail::Auto,
        });
        let big = llama4_tokens(&ImageInfo {
            size: Some((1344, 1008)),
            detail: Detail::Auto,
        });
        let huge = llama4_tokens(&ImageInfo {
            size: Some((8000, 8000)),
            detail: Detail::Auto,
        });
        assert!(small < big && big < huge);
        assert_eq!(
            huge,
            llama4_tokens(&ImageInfo {
                size: None,
                detail: Detail::Auto
            })
        );
    }
}

//! Facts read from a JPEG's header without decoding it: whether it is whole, and its size.

/// True when `bytes` start with SOI (`FF D8`) and end with EOI (`FF D9`).
pub fn is_whole_jpeg(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9])
}

/// Width and height from a JPEG's start-of-frame segment; `None` for anything that is not
/// a JPEG with one within its first 64 KiB (a hostile frame costs a bounded scan).
pub fn jpeg_dimensions(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    let limit = jpeg.len().min(64 << 10);
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    while i + 9 < limit {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let length = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let height = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let width = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return (width > 0 && height > 0).then_some((width, height));
        }
        if length < 2 {
            return None;
        }
        i += 2 + length;
    }
    None
}

//! A live Matroska stream of JPEG frames, written by hand: the few EBML elements a
//! player needs to play MJPEG at the rate it was received. An EBML header, a Segment of
//! unknown size, one `V_MJPEG` track (size and `DefaultDuration`), then Clusters of
//! unknown size, each frame a `SimpleBlock` stamped in milliseconds. Every JPEG is a
//! keyframe, so a viewer may start at any frame.
//!
//! MJPEG over HTTP carries no timestamps, so every player guesses 25 fps; this stream
//! carries the time the relay received each frame.

/// Milliseconds per timestamp tick (`TimestampScale` is in nanoseconds).
const TIMESTAMP_SCALE_NS: u64 = 1_000_000;
/// A Cluster's blocks are stamped relative to it in 16 signed bits: start a new one
/// well before that runs out, and about once a second so a late joiner finds one soon.
pub const CLUSTER_SPAN_MS: u64 = 1000;
/// "Size unknown": the element ends where the next one of its level begins (live streams).
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// The content type of the stream.
pub const CONTENT_TYPE: &str = "video/x-matroska";

/// The variable-length size of an element's data (RFC 8794 §4).
fn size_vint(size: u64) -> Vec<u8> {
    // n bytes carry 7n bits; all ones is reserved (unknown size).
    let n = (1..=8u32)
        .find(|n| size < (1u64 << (7 * n)) - 1)
        .expect("element sizes fit in 56 bits");
    let marked = size | (1u64 << (7 * n));
    marked.to_be_bytes()[8 - n as usize..].to_vec()
}

fn element(id: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend(size_vint(data.len() as u64));
    out.extend_from_slice(data);
    out
}

fn uint(id: &[u8], value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    element(id, &bytes[first..])
}

fn text(id: &[u8], value: &str) -> Vec<u8> {
    element(id, value.as_bytes())
}

/// The start of the stream: EBML header, the Segment, its Info and the one video track.
/// `frame_ns` is the frame interval players take as the rate (`DefaultDuration`); left
/// out when it is not known, so that players read the rate from the stamps.
pub fn stream_head(width: u16, height: u16, frame_ns: Option<u64>) -> Vec<u8> {
    let ebml = [
        uint(&[0x42, 0x86], 1),          // EBMLVersion
        uint(&[0x42, 0xF7], 1),          // EBMLReadVersion
        uint(&[0x42, 0xF2], 4),          // EBMLMaxIDLength
        uint(&[0x42, 0xF3], 8),          // EBMLMaxSizeLength
        text(&[0x42, 0x82], "matroska"), // DocType
        uint(&[0x42, 0x87], 4),          // DocTypeVersion
        uint(&[0x42, 0x85], 2),          // DocTypeReadVersion
    ]
    .concat();
    let info = [
        uint(&[0x2A, 0xD7, 0xB1], TIMESTAMP_SCALE_NS),
        text(&[0x4D, 0x80], "oscstream"), // MuxingApp
        text(&[0x57, 0x41], "oscstream"), // WritingApp
    ]
    .concat();
    let video = [
        uint(&[0xB0], width.into()),  // PixelWidth
        uint(&[0xBA], height.into()), // PixelHeight
    ]
    .concat();
    let default_duration = frame_ns.map(|ns| uint(&[0x23, 0xE3, 0x83], ns));
    let track = [
        uint(&[0xD7], 1),         // TrackNumber
        uint(&[0x73, 0xC5], 1),   // TrackUID
        uint(&[0x83], 1),         // TrackType: video
        uint(&[0x9C], 0),         // FlagLacing
        text(&[0x86], "V_MJPEG"), // CodecID
        default_duration.unwrap_or_default(),
        element(&[0xE0], &video),
    ]
    .concat();
    let tracks = element(&[0x16, 0x54, 0xAE, 0x6B], &element(&[0xAE], &track));
    let mut out = element(&[0x1A, 0x45, 0xDF, 0xA3], &ebml);
    out.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]); // Segment
    out.extend_from_slice(&UNKNOWN_SIZE);
    out.extend(element(&[0x15, 0x49, 0xA9, 0x66], &info));
    out.extend(tracks);
    out
}

/// A Cluster of unknown size starting at `timestamp_ms` (from the stream's start).
pub fn cluster_head(timestamp_ms: u64) -> Vec<u8> {
    let mut out = vec![0x1F, 0x43, 0xB6, 0x75];
    out.extend_from_slice(&UNKNOWN_SIZE);
    out.extend(uint(&[0xE7], timestamp_ms));
    out
}

/// The head of a SimpleBlock holding a `jpeg_len`-byte keyframe `relative_ms` after its
/// Cluster's timestamp; the JPEG itself follows it unchanged.
pub fn block_head(relative_ms: i16, jpeg_len: usize) -> Vec<u8> {
    let mut out = vec![0xA3];
    out.extend(size_vint(jpeg_len as u64 + 4));
    out.push(0x81); // track 1
    out.extend_from_slice(&relative_ms.to_be_bytes());
    out.push(0x80); // keyframe
    out
}

/// Where each frame goes: when to start a Cluster, and the block's relative time.
#[derive(Debug, Default)]
pub struct Clusters {
    current: Option<u64>,
    last_ms: Option<u64>,
}

impl Clusters {
    /// The bytes that go before a frame stamped `at_ms` (a Cluster head if one is due,
    /// then the block head). Stamps only go forward: one not after the last is moved on
    /// by a millisecond, so a player never sees time stand still or run back.
    pub fn before_frame(&mut self, at_ms: u64, jpeg_len: usize) -> Vec<u8> {
        let at_ms = match self.last_ms {
            Some(last) if at_ms <= last => last + 1,
            _ => at_ms,
        };
        self.last_ms = Some(at_ms);
        let mut out = Vec::new();
        let start = match self.current {
            Some(start) if at_ms - start < CLUSTER_SPAN_MS => start,
            _ => {
                out.extend(cluster_head(at_ms));
                self.current = Some(at_ms);
                at_ms
            }
        };
        // Below CLUSTER_SPAN_MS, so it fits.
        out.extend(block_head((at_ms - start) as i16, jpeg_len));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_variable_length_integers() {
        assert_eq!(size_vint(0), [0x80]);
        assert_eq!(size_vint(126), [0xFE]);
        assert_eq!(size_vint(127), [0x40, 0x7F]);
        assert_eq!(size_vint(300_000), [0x24, 0x93, 0xE0]);
    }

    #[test]
    fn clusters_start_every_second_and_stamps_only_go_forward() {
        let mut c = Clusters::default();
        assert_eq!(&c.before_frame(0, 10)[..4], &[0x1F, 0x43, 0xB6, 0x75]);
        assert_eq!(c.before_frame(33, 10), block_head(33, 10));
        assert_eq!(
            c.before_frame(33, 10),
            block_head(34, 10),
            "never the same stamp"
        );
        assert_eq!(&c.before_frame(1000, 10)[..4], &[0x1F, 0x43, 0xB6, 0x75]);
    }
}

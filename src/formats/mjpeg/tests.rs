//! The MJPEG parser and part writer, fed every split, shape and hostile stream.

use super::*;

fn jpeg(tag: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    // An embedded thumbnail-like SOI/EOI pair in the middle must not end the frame.
    v.extend_from_slice(&[0xFF, 0xD8, tag, 0xFF, 0xD9]);
    v.resize(len - 2, tag);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn part(delim: &str, headers: &str, body: &[u8], after: &str) -> Vec<u8> {
    let mut v = format!("{delim}\r\n{headers}\r\n").into_bytes();
    v.extend_from_slice(body);
    v.extend_from_slice(after.as_bytes());
    v
}

fn run(boundary: &str, bytes: &[u8], split: &[usize]) -> Vec<Parsed> {
    let mut p = Parser::new(boundary);
    let mut out = Vec::new();
    let mut last = 0;
    for &s in split.iter().chain(std::iter::once(&bytes.len())) {
        p.push(&bytes[last..s], |e| out.push(e));
        last = s;
    }
    p.finish(|e| out.push(e));
    out
}

fn frames(out: &[Parsed]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|p| match p {
            Parsed::Frame(f) => Some(f.to_vec()),
            _ => None,
        })
        .collect()
}

fn rejects(out: &[Parsed]) -> Vec<Reject> {
    out.iter()
        .filter_map(|p| match p {
            Parsed::Rejected(r) => Some(*r),
            _ => None,
        })
        .collect()
}

const B: &str = THETA_BOUNDARY;

fn theta_part(body: &[u8]) -> Vec<u8> {
    part(
        B,
        &format!(
            "Content-type: image/jpeg\r\nContent-Length: {}\r\n",
            body.len()
        ),
        body,
        "\r\n",
    )
}

#[test]
fn theta_wire_format_gives_whole_frames() {
    let (a, b) = (jpeg(1, 300), jpeg(2, 500));
    let stream = [theta_part(&a), theta_part(&b)].concat();
    let out = run(B, &stream, &[]);
    assert_eq!(frames(&out), vec![a, b]);
    assert!(rejects(&out).is_empty());
}

#[test]
fn every_split_position_of_a_two_part_stream_gives_the_same_frames() {
    let (a, b) = (jpeg(1, 40), jpeg(2, 60));
    let stream = [theta_part(&a), theta_part(&b)].concat();
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let out = run(B, &stream, &[i, j]);
            assert_eq!(frames(&out), vec![a.clone(), b.clone()], "split at {i},{j}");
            assert!(rejects(&out).is_empty(), "split at {i},{j}");
        }
    }
}

#[test]
fn byte_by_byte_feeding_gives_the_same_frames() {
    let (a, b) = (jpeg(1, 40), jpeg(2, 60));
    let stream = [theta_part(&a), theta_part(&b)].concat();
    let splits: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(frames(&run(B, &stream, &splits)), vec![a, b]);
}

#[test]
fn rfc_delimiters_with_dashes_and_the_close_delimiter_are_accepted() {
    let a = jpeg(3, 100);
    let head = format!(
        "Content-Type: image/jpeg\r\nContent-Length: {}\r\n",
        a.len()
    );
    let stream = [
        part("--frame", &head, &a, "\r\n"),
        part("--frame", &head, &a, "\r\n"),
        b"--frame--\r\n".to_vec(),
    ]
    .concat();
    assert_eq!(frames(&run("frame", &stream, &[])), vec![a.clone(), a]);
}

#[test]
fn header_names_in_any_case_and_extra_headers_are_taken() {
    let a = jpeg(4, 100);
    let head = format!(
        "X-Timestamp: 12.5\r\nCONTENT-TYPE: image/jpeg\r\ncontent-LENGTH:{}\r\nX-Other: y\r\n",
        a.len()
    );
    let stream = part(B, &head, &a, "\r\n");
    assert_eq!(frames(&run(B, &stream, &[])), vec![a]);
}

#[test]
fn zero_one_or_two_crlfs_after_the_jpeg_are_taken() {
    let a = jpeg(5, 100);
    for after in ["", "\r\n", "\r\n\r\n", "\n"] {
        let head = format!("Content-Length: {}\r\n", a.len());
        let stream = [part(B, &head, &a, after), part(B, &head, &a, after)].concat();
        let out = run(B, &stream, &[]);
        assert_eq!(frames(&out), vec![a.clone(), a.clone()], "after {after:?}");
        assert!(rejects(&out).is_empty(), "after {after:?}");
    }
}

#[test]
fn a_part_without_content_length_ends_at_the_next_delimiter() {
    let (a, b) = (jpeg(6, 100), jpeg(7, 120));
    let stream = [
        part(B, "Content-Type: image/jpeg\r\n", &a, "\r\n"),
        part(B, "Content-Type: image/jpeg\r\n", &b, "\r\n"),
        format!("{B}\r\n").into_bytes(),
    ]
    .concat();
    for split in 0..=stream.len() {
        assert_eq!(
            frames(&run(B, &stream, &[split])),
            vec![a.clone(), b.clone()],
            "split at {split}"
        );
    }
}

#[test]
fn a_part_that_is_not_a_jpeg_is_dropped_and_counted() {
    let a = jpeg(8, 100);
    let not_jpeg = vec![b'x'; 50];
    let truncated = &a[..60];
    let stream = [theta_part(&not_jpeg), theta_part(truncated), theta_part(&a)].concat();
    let out = run(B, &stream, &[]);
    assert_eq!(frames(&out), vec![a]);
    assert_eq!(rejects(&out), vec![Reject::NotAJpeg, Reject::NotAJpeg]);
}

#[test]
fn an_oversized_declared_length_is_dropped_without_buffering_and_the_stream_resyncs() {
    let a = jpeg(9, 100);
    let stream = [
        part(
            B,
            "Content-Length: 99999999999\r\n",
            b"\xFF\xD8junk",
            "\r\n",
        ),
        theta_part(&a),
    ]
    .concat();
    let out = run(B, &stream, &[]);
    assert_eq!(frames(&out), vec![a]);
    assert_eq!(rejects(&out), vec![Reject::TooLarge]);
}

#[test]
fn garbage_lengths_are_dropped() {
    let a = jpeg(10, 100);
    let stream = [
        part(B, "Content-Length: -5\r\n", b"junk", "\r\n"),
        part(B, "Content-Length: 12abc\r\n", b"junk", "\r\n"),
        theta_part(&a),
    ]
    .concat();
    let out = run(B, &stream, &[]);
    assert_eq!(frames(&out), vec![a]);
    assert_eq!(rejects(&out), vec![Reject::BadHeaders, Reject::BadHeaders]);
}

#[test]
fn garbage_between_parts_and_endless_lines_are_skipped() {
    let a = jpeg(11, 100);
    let mut stream = b"preamble text\r\n".to_vec();
    stream.extend(vec![b'g'; 100_000]);
    stream.extend_from_slice(b"\r\n");
    stream.extend(theta_part(&a));
    stream.extend_from_slice(b"more garbage\r\n");
    stream.extend(theta_part(&a));
    let out = run(B, &stream, &[7, 50_000]);
    assert_eq!(frames(&out), vec![a.clone(), a]);
}

#[test]
fn endless_part_headers_are_dropped() {
    let a = jpeg(12, 100);
    let mut stream = format!("{B}\r\n").into_bytes();
    for i in 0..2000 {
        stream.extend(format!("X-Header-{i}: value\r\n").into_bytes());
    }
    stream.extend_from_slice(b"\r\n");
    stream.extend(theta_part(&a));
    let out = run(B, &stream, &[]);
    assert_eq!(frames(&out), vec![a]);
    assert_eq!(rejects(&out), vec![Reject::BadHeaders]);
}

#[test]
fn a_stream_cut_mid_frame_reports_truncation_and_no_frame() {
    let a = jpeg(13, 100);
    let stream = theta_part(&a);
    let out = run(B, &stream[..stream.len() - 30], &[]);
    assert!(frames(&out).is_empty());
    assert_eq!(rejects(&out), vec![Reject::Truncated]);
}

#[test]
fn boundary_is_read_from_content_type() {
    assert_eq!(
        boundary_of("multipart/x-mixed-replace; boundary=\"---osclivepreview---\"").as_deref(),
        Some("---osclivepreview---")
    );
    assert_eq!(
        boundary_of("multipart/x-mixed-replace;boundary=frame").as_deref(),
        Some("frame")
    );
    assert_eq!(boundary_of("image/jpeg"), None);
}

#[test]
fn our_parts_parse_back_to_the_same_jpegs() {
    let (a, b) = (jpeg(14, 100), jpeg(15, 80));
    let mut out = STREAM_PREAMBLE.as_bytes().to_vec();
    Part::new(a.clone().into(), 1.0)
        .write_from(&mut out, 0)
        .unwrap();
    let second = Part::new(b.clone().into(), 2.0);
    // A part written in two goes, as a viewer's thread finishes what the socket did not take.
    let mut first_go = Vec::new();
    second.write_from(&mut first_go, 0).unwrap();
    out.extend_from_slice(&first_go[..50]);
    second.write_from(&mut out, 50).unwrap();
    assert_eq!(second.byte_len(), first_go.len());
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("--oscstreamframe\r\nContent-Type: image/jpeg\r\nContent-Length: 100\r\n")
    );
    assert!(text.ends_with("\r\n--oscstreamframe\r\n"));
    assert_eq!(frames(&run(OUR_BOUNDARY, &out, &[])), vec![a, b]);
    assert_eq!(
        boundary_of(STREAM_CONTENT_TYPE).as_deref(),
        Some(OUR_BOUNDARY)
    );
    assert_eq!(STREAM_PREAMBLE, format!("--{OUR_BOUNDARY}\r\n"));
}

/// A small deterministic generator, so failures reproduce (also the DNS fuzz's).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A well-formed part in one of the shapes cameras send.
fn random_valid_part(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let delim = [B.to_string(), format!("--{B}")][rng.below(2)].clone();
    let name = ["Content-Length", "content-length", "CONTENT-LENGTH"][rng.below(3)];
    let extra = ["", "X-Timestamp: 1\r\n", "Content-type: image/jpeg\r\n"][rng.below(3)];
    let after = ["", "\r\n", "\r\n\r\n"][rng.below(3)];
    let head = if rng.below(4) == 0 {
        // No length: framed by the next delimiter, which needs a line break before it.
        return part(&delim, extra, body, "\r\n");
    } else {
        format!("{extra}{name}: {}\r\n", body.len())
    };
    part(&delim, &head, body, after)
}

fn random_splits(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

#[test]
fn generated_well_formed_streams_give_exactly_their_frames() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let bodies: Vec<Vec<u8>> = (0..1 + rng.below(4))
            .map(|i| jpeg(i as u8 + 1, 20 + rng.below(200)))
            .collect();
        let mut stream: Vec<u8> = bodies
            .iter()
            .flat_map(|b| random_valid_part(&mut rng, b))
            .collect();
        stream.extend_from_slice(format!("{B}\r\n").as_bytes());
        let out = run(B, &stream, &random_splits(&mut rng, stream.len()));
        assert_eq!(
            frames(&out),
            bodies,
            "round {round}: {:?}",
            String::from_utf8_lossy(&stream)
        );
        assert!(
            rejects(&out).is_empty(),
            "round {round}: {:?} {:?}",
            rejects(&out),
            String::from_utf8_lossy(&stream)
        );
    }
}

#[test]
fn generated_hostile_streams_never_panic_and_never_yield_a_corrupt_frame() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let known: Vec<Vec<u8>> = (0..4).map(|i| jpeg(i + 1, 50 + 30 * i as usize)).collect();
    for round in 0..20_000 {
        let mut stream = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let body = &known[rng.below(known.len())];
            match rng.below(7) {
                0 | 1 => stream.extend(random_valid_part(&mut rng, body)),
                2 => {
                    // A length that lies by a little, either way.
                    let lie = body.len() + 1 + rng.below(10);
                    let lie = if rng.below(2) == 0 {
                        lie
                    } else {
                        body.len() - 1 - rng.below(10)
                    };
                    stream.extend(part(B, &format!("Content-Length: {lie}\r\n"), body, "\r\n"));
                }
                3 => stream.extend((0..rng.below(300)).map(|_| rng.next() as u8)),
                4 => {
                    let junk = [
                        "Content-Length: 99999999999999999999",
                        "Content-Length: -1",
                        "Content-Length:",
                        "",
                    ];
                    let head = format!("{}\r\n", junk[rng.below(junk.len())]);
                    stream.extend(part(B, &head, &body[..body.len() / 2], "\r\n"));
                }
                5 => stream.extend_from_slice(b"\r\n\r\n\n"),
                _ => {
                    let cut = rng.below(body.len());
                    stream.extend(part(
                        B,
                        &format!("Content-Length: {}\r\n", body.len()),
                        &body[..cut],
                        "",
                    ));
                }
            }
        }
        let mut parser = Parser::new(B);
        let mut out = Vec::new();
        let mut last = 0;
        for cut in random_splits(&mut rng, stream.len())
            .into_iter()
            .chain([stream.len()])
        {
            parser.push(&stream[last..cut], |p| out.push(p));
            last = cut;
            assert!(
                parser.held() <= stream.len(),
                "round {round}: buffer bounded by input"
            );
        }
        parser.finish(|p| out.push(p));
        for f in frames(&out) {
            assert!(
                known.contains(&f),
                "round {round}: a frame that was never sent: {:?}\nin {:?}",
                f,
                stream
            );
        }
    }
}

#[test]
fn a_part_without_length_that_never_ends_is_dropped_with_bounded_memory() {
    let mut p = Parser::new(B);
    let mut out = Vec::new();
    p.push(
        format!("{B}\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
        |e| out.push(e),
    );
    let chunk = vec![0x55u8; 64 << 10];
    let mut peak = 0;
    for _ in 0..(20 << 20) / chunk.len() {
        p.push(&chunk, |e| out.push(e));
        peak = peak.max(p.unread());
    }
    assert!(peak <= MAX_PART_BYTES + chunk.len(), "peak {peak}");
    assert_eq!(rejects(&out), vec![Reject::TooLarge]);
    let a = jpeg(1, 100);
    p.push(&theta_part(&a), |e| out.push(e));
    assert_eq!(frames(&out), vec![a], "the stream recovers");
}

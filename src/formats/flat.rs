//! Flat views of an equirectangular picture: ffmpeg `v360`'s e→flat geometry as a
//! fixed-point bilinear lookup table per plane, and the JPEG decode and encode around it.
//! The code lives in its own crate, `oscstream-pixels` (`src/pixels`), so that it (and
//! the decoder and encoder it instantiates) is built for speed while the rest of the
//! binary is built for size; this module is its face inside oscstream.

pub use oscstream_pixels::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(yaw: f64, pitch: f64) -> ViewGeometry {
        ViewGeometry {
            yaw,
            pitch,
            roll: 0.0,
            fov: 90.0,
            width: 64,
            height: 36,
        }
    }

    #[test]
    fn the_centre_of_a_view_looks_where_yaw_and_pitch_say() {
        // A 360×180 source: column = longitude + 180, row = 90 - latitude.
        let centre = |g: ViewGeometry| {
            let remap = Remap::new(g, Mount::default(), (360, 180));
            remap.source_of(32, 18).unwrap()
        };
        let (x, y) = centre(geometry(0.0, 0.0));
        assert!(
            (179..=181).contains(&x) && (89..=91).contains(&y),
            "{x},{y}"
        );
        let (x, _) = centre(geometry(90.0, 0.0));
        assert!((269..=271).contains(&x), "yaw 90 looks right: {x}");
        let (_, y) = centre(geometry(0.0, 45.0));
        assert!((44..=46).contains(&y), "pitch 45 looks up: {y}");
    }

    #[test]
    fn the_mount_turns_every_view_before_its_own_numbers() {
        let mounted = Remap::new(
            geometry(0.0, 10.0),
            Mount {
                yaw: 90.0,
                ..Mount::default()
            },
            (360, 180),
        );
        let turned = Remap::new(geometry(90.0, 10.0), Mount::default(), (360, 180));
        for (x, y) in [(0, 0), (32, 18), (63, 35), (10, 30)] {
            assert_eq!(mounted.source_of(x, y), turned.source_of(x, y), "({x},{y})");
        }
        // Upside down: the view's top is the sphere's bottom.
        let hung = Remap::new(
            geometry(0.0, 0.0),
            Mount {
                roll: 180.0,
                ..Mount::default()
            },
            (360, 180),
        );
        let (_, top_row) = hung.source_of(32, 0).unwrap();
        assert!(top_row > 90, "{top_row}");
    }

    #[test]
    fn a_uniform_picture_stays_uniform_and_encodes_at_its_size() {
        let src = Planes {
            width: 64,
            height: 32,
            y: vec![200; 64 * 32],
            cb: vec![90; 32 * 16],
            cr: vec![160; 32 * 16],
        };
        let remap = Remap::new(geometry(30.0, -10.0), Mount::default(), (64, 32));
        let mut out = Planes::default();
        remap.apply(&src, &mut out);
        assert!(out.y.iter().all(|&v| v == 200));
        assert!(out.cb.iter().all(|&v| v == 90) && out.cr.iter().all(|&v| v == 160));
        let jpeg = encode(&out, VIEW_QUALITY).unwrap();
        assert_eq!(crate::formats::jpeg::jpeg_dimensions(&jpeg), Some((64, 36)));
        let mut back = Planes::default();
        decode(&jpeg, &mut back, &mut Vec::new()).unwrap();
        assert_eq!((back.width, back.height), (64, 36));
    }

    #[test]
    fn a_grey_camera_frame_decodes_with_neutral_chroma() {
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&[90u8; 64 * 32], 64, 32, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let mut planes = Planes::default();
        decode(&jpeg, &mut planes, &mut Vec::new()).unwrap();
        assert_eq!((planes.width, planes.height), (64, 32));
        assert!(planes.y.iter().all(|&v| (88..=92).contains(&v)));
        assert_eq!(planes.cb.len(), 32 * 16);
        assert!(planes.cb.iter().chain(&planes.cr).all(|&v| v == 128));
    }

    #[test]
    fn frames_that_do_not_decode_or_claim_too_much_are_refused() {
        let mut planes = Planes::default();
        let mut scratch = Vec::new();
        assert!(decode(b"\xff\xd8garbage\xff\xd9", &mut planes, &mut scratch).is_err());
        let mut giant = crate::formats::picture::Canvas::filled(16, 16, [0, 0, 0]).to_jpeg(80);
        // Rewrite the start-of-frame size to 65535×65535.
        let sof = giant.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        giant[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(decode(&giant, &mut planes, &mut scratch).is_err());
        assert!(scratch.len() < 1 << 20, "nothing large allocated");
    }
}

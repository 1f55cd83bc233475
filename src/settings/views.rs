//! A camera's `[[camera.view]]` tables and its mount offsets, checked: every number in
//! its range, names `[a-z0-9-]+` and unique per camera, sizes within full HD. A mistake
//! is one sentence with its line, as for the rest of the file (the config module
//! wraps it as its error).

use crate::formats::flat::{
    FOV, MAX_VIEW_HEIGHT, MAX_VIEW_WIDTH, Mount, PITCH, ROLL, ViewGeometry, YAW, degrees_in,
    is_view_side,
};
use crate::relay::views::ViewSpec;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// A view's size when it names none.
pub const DEFAULT_VIEW_SIZE: (u16, u16) = (1280, 720);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawView {
    name: Spanned<String>,
    yaw: Spanned<f64>,
    pitch: Spanned<f64>,
    #[serde(default)]
    roll: Option<Spanned<f64>>,
    fov: Spanned<f64>,
    size: Option<Spanned<String>>,
    fps: Option<Spanned<f64>>,
}

/// Where in the file a span is, as the sentences say it.
pub type At<'a> = dyn Fn(Range<usize>) -> String + 'a;

/// A view size `WIDTHxHEIGHT`, even sides from 16 up to full HD.
pub fn view_size(text: &str) -> Result<(u16, u16), String> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u16>().ok()?, h.trim().parse::<u16>().ok()?)));
    match parsed {
        Some((w, h)) if is_view_side(w, MAX_VIEW_WIDTH) && is_view_side(h, MAX_VIEW_HEIGHT) => {
            Ok((w, h))
        }
        _ => Err(format!(
            "a view size is WIDTHxHEIGHT with even sides, from 16x16 to {MAX_VIEW_WIDTH}x{MAX_VIEW_HEIGHT} (got {text:?})"
        )),
    }
}

/// The views of camera `camera`, checked.
pub fn views_of(raw: &[Spanned<RawView>], camera: &str, at: &At) -> Result<Vec<ViewSpec>, String> {
    let mut views: Vec<ViewSpec> = Vec::with_capacity(raw.len());
    for entry in raw {
        let v = entry.get_ref();
        let name = v.name.get_ref();
        let fail = |span: Range<usize>, why: String| format!("{}: {why}", at(span));
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(fail(
                v.name.span(),
                format!("the view name {name:?} may only hold a-z, 0-9 and -"),
            ));
        }
        if views.iter().any(|other| other.name == *name) {
            return Err(fail(
                v.name.span(),
                format!(
                    "camera {camera:?} has a second view named {name:?}; names must be unique per camera"
                ),
            ));
        }
        let angle = |s: &Spanned<f64>, range, what| {
            degrees_in(*s.get_ref(), range, what).map_err(|why| fail(s.span(), why))
        };
        let yaw = angle(&v.yaw, &YAW, "yaw")?;
        let pitch = angle(&v.pitch, &PITCH, "pitch")?;
        let roll = v
            .roll
            .as_ref()
            .map_or(Ok(0.0), |r| angle(r, &ROLL, "roll"))?;
        let fov = angle(&v.fov, &FOV, "fov")?;
        let (width, height) = match &v.size {
            None => DEFAULT_VIEW_SIZE,
            Some(s) => view_size(s.get_ref()).map_err(|why| fail(s.span(), why))?,
        };
        let fps = match &v.fps {
            None => None,
            Some(f) if f.get_ref().fract() == 0.0 && (1.0..=60.0).contains(f.get_ref()) => {
                Some(*f.get_ref() as u32)
            }
            Some(f) => {
                return Err(fail(
                    f.span(),
                    format!(
                        "fps takes a whole number of frames a second from 1 to 60 (got {})",
                        f.get_ref()
                    ),
                ));
            }
        };
        views.push(ViewSpec {
            name: name.clone(),
            geometry: ViewGeometry {
                yaw,
                pitch,
                roll,
                fov,
                width,
                height,
            },
            fps,
        });
    }
    Ok(views)
}

/// `yaw_offset`, `pitch_offset`, `roll_offset`: how the camera hangs.
pub fn mount_of(offsets: [&Option<Spanned<f64>>; 3], at: &At) -> Result<Mount, String> {
    let [yaw, pitch, roll] = offsets.map(|o| o.as_ref());
    let check = |o: Option<&Spanned<f64>>, range, what| match o {
        None => Ok(0.0),
        Some(s) => {
            degrees_in(*s.get_ref(), range, what).map_err(|why| format!("{}: {why}", at(s.span())))
        }
    };
    Ok(Mount {
        yaw: check(yaw, &YAW, "yaw_offset")?,
        pitch: check(pitch, &PITCH, "pitch_offset")?,
        roll: check(roll, &ROLL, "roll_offset")?,
    })
}

#[cfg(test)]
mod tests {
    use crate::settings::config::parse;
    use std::path::Path;

    const CAMERA: &str = "[[camera]]\nname = \"lobby\"\nhost = \"h\"\n";

    #[test]
    fn views_and_the_mount_are_read_with_their_defaults() {
        let text = format!(
            "{CAMERA}roll_offset = 180\n[[camera.view]]\nname = \"door\"\nyaw = 30\npitch = -10\nfov = 90\n\
             [[camera.view]]\nname = \"desk\"\nyaw = -45.5\npitch = 0\nroll = 5\nfov = 60\nsize = \"640x360\"\nfps = 5\n"
        );
        let file = parse(&text, Path::new("c.toml")).unwrap();
        let camera = &file.cameras[0];
        assert_eq!(camera.mount.roll, 180.0);
        let (door, desk) = (&camera.views[0], &camera.views[1]);
        assert_eq!(
            (
                door.name.as_str(),
                door.geometry.width,
                door.geometry.height
            ),
            ("door", 1280, 720)
        );
        assert_eq!(
            (door.geometry.yaw, door.geometry.pitch, door.fps),
            (30.0, -10.0, None)
        );
        assert_eq!(
            (desk.geometry.roll, desk.geometry.width, desk.fps),
            (5.0, 640, Some(5))
        );
    }

    #[test]
    fn each_view_mistake_names_its_line() {
        let view = "[[camera.view]]\nname = \"door\"\nyaw = 30\npitch = -10\nfov = 90\n";
        for (extra, line, says) in [
            (
                "yaw_offset = 400\n",
                "line 4",
                "yaw_offset takes degrees from -180 to 180",
            ),
            (
                &format!("{view}size = \"1281x720\"\n"),
                "line 9",
                "even sides",
            ),
            (&format!("{view}fps = 0\n"), "line 9", "from 1 to 60"),
            (&format!("{view}fps = 2.5\n"), "line 9", "whole number"),
            (
                &format!("{view}{view}"),
                "line 10",
                "second view named \"door\"",
            ),
            (
                &view.replace("fov = 90", "fov = 180"),
                "line 8",
                "fov takes degrees from 1 to 179",
            ),
            (
                &view.replace("\"door\"", "\"Door 1\""),
                "line 5",
                "a-z, 0-9",
            ),
            (
                &view.replace("fov = 90", "fov = 90\nzoom = 2"),
                "line 9",
                "zoom",
            ),
        ] {
            let err = parse(&format!("{CAMERA}{extra}"), Path::new("c.toml"))
                .unwrap_err()
                .0;
            assert!(err.contains(line) && err.contains(says), "{extra}: {err}");
        }
    }
}

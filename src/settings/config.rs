//! `oscstream --config FILE`: several cameras in one TOML file. Every mistake in the
//! file (an unknown key, a duplicate or malformed name, a password file that cannot be
//! read) is one sentence with the file's line number; `main` exits with code 2.
//!
//! ```toml
//! listen = "0.0.0.0:5000"      # optional; --listen wins
//! trust_proxy = ["127.0.0.1"]   # optional; with --trust-proxy
//! proxy_headers = "forwarded"   # optional; what that proxy writes (--proxy-headers)
//! [[camera]]
//! name = "front"               # [a-z0-9-]+, unique
//! host = "192.168.0.101"
//! port = 80                    # optional, 80
//! id = "THETAYN10010104"       # optional: Digest auth, with pwd_file
//! pwd_file = "/etc/oscstream/front.pwd"  # relative: in $CREDENTIALS_DIRECTORY, else beside this file
//! preview = "1920x960@8"       # optional
//! roll_offset = 180            # optional: hung upside down (also yaw_, pitch_offset)
//! [[camera.view]]              # optional, any number: flat views of this camera
//! name = "door"                # [a-z0-9-]+, unique per camera
//! yaw = 30                     # degrees, as ffmpeg's v360
//! pitch = -10
//! roll = 0                     # optional
//! fov = 90                     # horizontal field of view
//! size = "1280x720"            # optional
//! fps = 10                     # optional cap
//! ```

use crate::camera::client::CameraAddr;
use crate::camera::errors::SetIn;
use crate::formats::flat::Mount;
use crate::formats::osc::{Credentials, PreviewFormat};
use crate::relay::views::ViewSpec;
use crate::settings::values;
use crate::settings::views::{At, RawView, mount_of, views_of};
use crate::web::access::Net;
use crate::web::forwarded::ProxyHeaders;
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// One camera from the file.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub name: String,
    pub addr: CameraAddr,
    pub preview: Option<PreviewFormat>,
    pub views: Vec<ViewSpec>,
    pub mount: Mount,
}

/// What the file says.
#[derive(Debug, Clone)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// Proxies whose forwarding headers are believed (see `--trust-proxy`).
    pub trust_proxy: Vec<Net>,
    /// Which forwarding headers they write (see `--proxy-headers`).
    pub proxy_headers: Option<ProxyHeaders>,
    pub cameras: Vec<CameraSpec>,
}

/// A mistake in the file, worded for the user, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    listen: Option<Spanned<String>>,
    #[serde(default)]
    trust_proxy: Vec<Spanned<String>>,
    proxy_headers: Option<Spanned<String>>,
    #[serde(default)]
    camera: Vec<Spanned<RawCamera>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    name: Spanned<String>,
    host: Spanned<String>,
    port: Option<Spanned<u64>>,
    id: Option<Spanned<String>>,
    pwd_file: Option<Spanned<String>>,
    preview: Option<Spanned<String>>,
    yaw_offset: Option<Spanned<f64>>,
    pitch_offset: Option<Spanned<f64>>,
    roll_offset: Option<Spanned<f64>>,
    #[serde(default)]
    view: Vec<Spanned<RawView>>,
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    parse(&text, path)
}

/// Checks `text`, the contents of the file at `path` (named in the sentences, and the
/// folder relative `pwd_file` paths start from).
pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let shown = path.display();
    let at = |span: Range<usize>| format!("{shown}, line {}", line_of(text, span.start));
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let place = e.span().map_or_else(|| shown.to_string(), &at);
        // `[[camera.view]]` before any `[[camera]]` makes `camera` a table, not a list.
        let before_camera = e.message().contains("expected a sequence")
            && e.span()
                .and_then(|span| text.get(span))
                .is_some_and(|t| t.contains("[[camera.view]]") || t.trim() == "camera");
        let why = if before_camera {
            "a [[camera.view]] belongs under the [[camera]] it views: put it after that camera's lines"
        } else {
            first_line(e.message())
        };
        ConfigError(format!("{place}: {why}"))
    })?;
    if raw.camera.is_empty() {
        return Err(ConfigError(format!(
            "{shown} names no camera: add a [[camera]] with name and host"
        )));
    }
    let mut cameras: Vec<CameraSpec> = Vec::new();
    for entry in raw.camera {
        let camera = camera_spec(entry.into_inner(), path, &at, &cameras)?;
        cameras.push(camera);
    }
    let listen = raw.listen.map(Spanned::into_inner);
    let trust_proxy = raw
        .trust_proxy
        .iter()
        .map(|net| {
            Net::parse(net.get_ref()).map_err(|e| ConfigError(format!("{}: {e}", at(net.span()))))
        })
        .collect::<Result<_, _>>()?;
    let proxy_headers = raw
        .proxy_headers
        .map(|h| {
            ProxyHeaders::parse(h.get_ref())
                .map_err(|e| ConfigError(format!("{}: {e}", at(h.span()))))
        })
        .transpose()?;
    Ok(FileConfig {
        listen,
        trust_proxy,
        proxy_headers,
        cameras,
    })
}

/// One `[[camera]]`, checked: its name (unique among `before`), login, preview, host
/// and port.
fn camera_spec(
    c: RawCamera,
    path: &Path,
    at: &At,
    before: &[CameraSpec],
) -> Result<CameraSpec, ConfigError> {
    let name = c.name.get_ref();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(ConfigError(format!(
            "{}: the camera name {name:?} may only hold a-z, 0-9 and -",
            at(c.name.span())
        )));
    }
    if before.iter().any(|other| other.name == *name) {
        return Err(ConfigError(format!(
            "{}: a second camera is named {name:?}; names must be unique",
            at(c.name.span())
        )));
    }
    let credentials = credentials_of(&c, path, at)?;
    let preview = match &c.preview {
        None => None,
        Some(p) => Some(PreviewFormat::parse(p.get_ref()).ok_or_else(|| {
            ConfigError(format!(
                "{}: preview takes WIDTHxHEIGHT@FPS, e.g. 1920x960@8 (got {:?})",
                at(p.span()),
                p.get_ref()
            ))
        })?),
    };
    if c.host.get_ref().trim().is_empty() {
        return Err(ConfigError(format!(
            "{}: camera {name:?} has an empty host",
            at(c.host.span())
        )));
    }
    let host = values::camera_host(c.host.get_ref())
        .map_err(|e| ConfigError(format!("{}: {e}", at(c.host.span()))))?;
    let port = match &c.port {
        None => 80,
        Some(p) => {
            values::port(*p.get_ref()).map_err(|e| ConfigError(format!("{}: {e}", at(p.span()))))?
        }
    };
    Ok(CameraSpec {
        name: name.clone(),
        addr: CameraAddr {
            set_in: SetIn::Config(at(c.host.span())),
            mdns: crate::camera::mdns::is_mdns_name(&host).then(|| {
                crate::camera::client::MdnsName {
                    target: crate::camera::mdns::mdns_group(),
                    port_given: c.port.is_some(),
                }
            }),
            host,
            port,
            credentials,
        },
        preview,
        views: views_of(&c.view, name, at).map_err(ConfigError)?,
        mount: mount_of([&c.yaw_offset, &c.pitch_offset, &c.roll_offset], at)
            .map_err(ConfigError)?,
    })
}

/// A camera's `id` with the password from its `pwd_file` (relative to the config
/// file's folder), both or neither.
fn credentials_of(c: &RawCamera, path: &Path, at: &At) -> Result<Option<Credentials>, ConfigError> {
    let name = c.name.get_ref();
    match (&c.id, &c.pwd_file) {
        (None, None) => Ok(None),
        (Some(id), Some(file)) => {
            let file_path = secret_path(file.get_ref(), path);
            let password = crate::settings::secret::read_secret_file(
                &file_path,
                "pwd_file",
                "the camera password",
            )
            .map_err(|e| ConfigError(format!("{}: {e}", at(file.span()))))?;
            Ok(Some(Credentials::new(id.get_ref().clone(), password)))
        }
        (Some(id), None) => Err(ConfigError(format!(
            "{}: camera {name:?} has an id but no pwd_file with its password",
            at(id.span())
        ))),
        (None, Some(file)) => Err(ConfigError(format!(
            "{}: camera {name:?} has a pwd_file but no id",
            at(file.span())
        ))),
    }
}

/// Where a `pwd_file` is: as written when absolute; a relative one in systemd's
/// credentials directory when the service was given it there (`LoadCredential=`, so a
/// root-only file reaches a service without root), else next to the config file.
fn secret_path(file: &str, config: &Path) -> PathBuf {
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    match credentials.map(|dir| dir.join(file)) {
        Some(copy) if Path::new(file).is_relative() && copy.is_file() => copy,
        _ => config.parent().unwrap_or(Path::new(".")).join(file),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text, Path::new("cams.toml")).unwrap_err().0
    }

    #[test]
    fn a_good_file_gives_each_camera() {
        let c = parse(
            "listen = \"0.0.0.0:5000\"\n[[camera]]\nname = \"front\"\nhost = \"10.0.0.5\"\n\n[[camera]]\nname = \"roof-2\"\nhost = \"theta.local\"\nport = 8080\npreview = \"1920x960@8\"\n",
            Path::new("cams.toml"),
        )
        .unwrap();
        assert_eq!(c.listen.as_deref(), Some("0.0.0.0:5000"));
        assert_eq!(c.cameras.len(), 2);
        assert_eq!(
            (c.cameras[1].name.as_str(), c.cameras[1].addr.port),
            ("roof-2", 8080)
        );
        assert_eq!(c.cameras[0].addr.port, 80);
    }

    #[test]
    fn each_mistake_names_its_line() {
        let cases = [
            (
                "[[camera]]\nname = \"a\"\nhost = \"h\"\ncolour = \"red\"\n",
                "line 4",
                "colour",
            ),
            (
                "[[camera]]\nname = \"a\"\nhost = \"h\"\n[[camera]]\nname = \"a\"\nhost = \"i\"\n",
                "line 5",
                "unique",
            ),
            (
                "[[camera]]\nname = \"Front Door\"\nhost = \"h\"\n",
                "line 2",
                "a-z",
            ),
            (
                "[[camera]]\nname = \"a\"\nhost = \"h\"\nid = \"X\"\n",
                "line 4",
                "pwd_file",
            ),
            (
                "[[camera]]\nname = \"a\"\nhost = \"h\"\npreview = \"big\"\n",
                "line 4",
                "WIDTHxHEIGHT",
            ),
            (
                "[[camera]]\nname = \"a\"\nhost = \"h\"\nport = \"eighty\"\n",
                "line 4",
                "",
            ),
            ("[[camera]]\nname = \"a\"\n", "line 1", "host"),
            (
                "[[camera]]\nname = \"a\"\nhost = \"h\"\nid = \"X\"\npwd_file = \"/nonexistent/x.pwd\"\n",
                "line 5",
                "no such file",
            ),
            ("listen = 5000\n", "line 1", ""),
            (
                "[[camera.view]]\nname = \"door\"\nyaw = 0\npitch = 0\nfov = 90\n",
                "line 1",
                "belongs under the [[camera]] it views",
            ),
            (
                "[[camera]]\nname = \"a\"\nhost = \"h\"\nport = 0\n",
                "line 4",
                "1-65535",
            ),
            (
                "[[camera]]\nname = \"a\"\nhost = \"http://10.0.0.5/\"\n",
                "line 3",
                "not a camera address",
            ),
        ];
        for (text, line, words) in cases {
            let e = error(text);
            assert!(e.contains(line) && e.contains(words), "{text:?}: {e}");
            assert!(e.starts_with("cams.toml"), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        assert!(error("").contains("no camera"));
    }
}

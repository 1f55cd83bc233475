//! The relay's routes: one table of paths, methods and handlers, and the dispatch that
//! applies the access rules (Basic auth, read-only, CORS) before a handler runs. The 405
//! answers and their `Allow` headers come from the same table.
//!
//! The handlers are thin: the stream, snapshot and status belong to the camera's
//! [`Channel`], camera control to `api`. `/public/` serves only the embedded files,
//! looked up by exact name: no path ever reaches the file system, so `..` and friends
//! simply find nothing.

use crate::budget::Budget;
use crate::http::{Body, Method, Request, Response, Status};
use crate::relay::channel::Channel;
use crate::relay::feed::Feed;
use crate::relay::status::ChannelStatus;
use crate::web::access::Access;
use crate::web::api;
use crate::web::metrics;
use crate::web::status::{CameraList, CameraStatus};
use crate::web::streams::{self, CameraWait};
use crate::web::views;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The page and its assets: (name under /public/, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../public/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../public/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../public/style.css"),
    ),
];

/// A route's handler: the relay's routes, the channel it serves, the request, and the
/// rest of the path after a prefix route's prefix (the middle segment of an
/// [`Path::Around`] route; empty for exact routes).
type RouteFn = fn(&Routes, &Arc<Channel>, &Request, &str) -> Response;
/// A handler that waits on the camera (a camera call, a frame, a download): it runs
/// only with a share of [`Routes::camera_waits`], and the functions that wait take it.
type WaitFn = fn(&Routes, &Arc<Channel>, &Request, &str, &CameraWait) -> Response;

enum Handler {
    Now(RouteFn),
    Waits(WaitFn),
}

/// Which paths a route serves.
enum Path {
    Exact(&'static str),
    /// Every path that starts with this; the rest goes to the handler.
    Prefix(&'static str),
    /// One segment between these two (`/views/NAME/video_feed`); the segment goes to the
    /// handler.
    Around(&'static str, &'static str),
}

struct Route {
    path: Path,
    /// GET also answers HEAD.
    method: Method,
    handler: Handler,
}

const fn route(path: Path, method: Method, handler: Handler) -> Route {
    Route {
        path,
        method,
        handler,
    }
}

use Handler::{Now, Waits};
use Method::{Get, Post};
use Path::{Around, Exact, Prefix};

/// Every route of one camera.
const ROUTES: &[Route] = &[
    route(
        Exact("/"),
        Get,
        Now(|routes, ch, req, _| match req.query_param("action") {
            Some("stream") => video_feed(routes, ch, req, ""),
            Some("snapshot") => match routes.camera_wait() {
                Ok(waiting) => streams::snapshot(ch.feed(), &waiting).holding(waiting),
                Err(refused) => refused,
            },
            _ if Arc::ptr_eq(ch, &routes.channels[0]) => Response::redirect("/public/index.html"),
            _ => Response::redirect(&format!("/public/index.html?camera={}", ch.name())),
        }),
    ),
    route(
        Exact("/cameras"),
        Get,
        Now(|routes, _, _, _| routes.cameras()),
    ),
    route(Exact("/video_feed"), Get, Now(video_feed)),
    route(Exact("/stream"), Get, Now(video_feed)),
    route(
        Exact("/video.mkv"),
        Get,
        Now(|_, ch, req, _| stream_of(ch.feed(), req, streams::video_mkv)),
    ),
    route(Exact("/snapshot.jpg"), Get, Waits(snapshot)),
    route(Exact("/snapshot"), Get, Waits(snapshot)),
    route(
        Exact("/flat.jpg"),
        Get,
        Waits(|_, ch, req, _, waiting| views::flat_jpg(ch, req, waiting)),
    ),
    route(Around("/views/", "/video_feed"), Get, Now(view_feed)),
    route(Around("/views/", "/stream"), Get, Now(view_feed)),
    route(
        Around("/views/", "/video.mkv"),
        Get,
        Now(|_, ch, req, name| match views::find(ch, name) {
            Ok(view) => stream_of(view.feed(), req, streams::video_mkv),
            Err(missing) => missing,
        }),
    ),
    route(
        Around("/views/", "/snapshot.jpg"),
        Get,
        Waits(view_snapshot),
    ),
    route(Around("/views/", "/snapshot"), Get, Waits(view_snapshot)),
    route(
        Prefix("/views/"),
        Get,
        Now(|_, ch, _, rest| {
            let (name, what) = rest.split_once('/').unwrap_or((rest, ""));
            match views::find(ch, name) {
                Ok(_) => Response::error(
                    Status::NOT_FOUND,
                    format!("A view serves video_feed, video.mkv and snapshot.jpg, not {what:?}."),
                ),
                Err(missing) => missing,
            }
        }),
    ),
    route(
        Exact("/metrics"),
        Get,
        Now(|routes, _, _, _| {
            let connections = routes.connections.load(Ordering::Relaxed);
            let text = metrics::render(&routes.channels, connections, &routes.view_memory);
            Response::bytes(Status::OK, metrics::CONTENT_TYPE, text.into_bytes())
        }),
    ),
    route(
        Exact("/status"),
        Get,
        Now(|_, ch, _, _| Response::json(Status::OK, &CameraStatus::of(&ch.status()))),
    ),
    route(
        Exact("/info"),
        Get,
        Waits(|_, ch, _, _, _| api::camera_info(ch)),
    ),
    route(
        Exact("/osc/info"),
        Get,
        Waits(|_, ch, _, _, _| api::camera_info(ch)),
    ),
    route(
        Exact("/state"),
        Get,
        Waits(|_, ch, _, _, _| {
            api::camera_json(
                ch.camera()
                    .state()
                    .map(|s| serde_json::Value::Object(s.state)),
            )
        }),
    ),
    route(
        Exact("/osc/state"),
        Post,
        Waits(|_, ch, _, _, _| {
            api::camera_json(
                ch.camera()
                    .state()
                    .map(|s| serde_json::Value::Object(s.whole)),
            )
        }),
    ),
    route(
        Exact("/api/options"),
        Get,
        Waits(|_, ch, req, _, _| api::options(ch, req)),
    ),
    route(
        Exact("/api/preview-formats"),
        Get,
        Waits(|_, ch, _, _, _| api::preview_formats(ch)),
    ),
    route(
        Exact("/api/preview-format"),
        Post,
        Waits(|_, ch, req, _, _| api::set_preview_format(ch, req)),
    ),
    route(
        Exact("/api/picture"),
        Post,
        Waits(|routes, ch, _, _, _| api::take_picture(ch, &routes.base_of(ch))),
    ),
    route(
        Exact("/api/files"),
        Get,
        Waits(|routes, ch, req, _, _| api::files(ch, req, &routes.base_of(ch))),
    ),
    route(
        Exact("/public"),
        Get,
        Now(|_, _, _, _| Response::redirect("/public/index.html")),
    ),
    route(
        Exact("/public/"),
        Get,
        Now(|_, _, _, _| Response::redirect("/public/index.html")),
    ),
    route(Prefix("/public/"), Get, Now(|_, _, _, name| asset(name))),
    route(
        Prefix("/camera-files/"),
        Get,
        Waits(|_, ch, _, rest, _| api::camera_file(ch, rest)),
    ),
    route(
        Prefix("/getOption/"),
        Get,
        Waits(|_, ch, _, name, _| api::get_option(ch, name)),
    ),
    route(Prefix("/setOption/"), Get, Now(set_option_gone)),
    route(Prefix("/setOption/"), Post, Now(set_option_gone)),
];

/// A stream of `feed` (`video_feed` or `video.mkv`), HEAD and `?fps=` as the request says.
fn stream_of(
    feed: &Arc<Feed>,
    req: &Request,
    stream: fn(Arc<Feed>, bool, Option<&str>) -> Response,
) -> Response {
    stream(
        feed.clone(),
        req.method == Method::Head,
        req.query_param("fps"),
    )
}

fn video_feed(_: &Routes, channel: &Arc<Channel>, req: &Request, _: &str) -> Response {
    stream_of(channel.feed(), req, streams::video_feed)
}

fn snapshot(_: &Routes, ch: &Arc<Channel>, _: &Request, _: &str, w: &CameraWait) -> Response {
    streams::snapshot(ch.feed(), w)
}

fn view_feed(_: &Routes, channel: &Arc<Channel>, req: &Request, name: &str) -> Response {
    match views::find(channel, name) {
        Ok(view) => stream_of(view.feed(), req, streams::video_feed),
        Err(missing) => missing,
    }
}

fn view_snapshot(
    _: &Routes,
    ch: &Arc<Channel>,
    _: &Request,
    name: &str,
    w: &CameraWait,
) -> Response {
    match views::find(ch, name) {
        Ok(view) => streams::snapshot(view.feed(), w),
        Err(missing) => missing,
    }
}

fn set_option_gone(_: &Routes, _: &Arc<Channel>, _: &Request, _: &str) -> Response {
    Response::error(
        Status::GONE,
        "GET /setOption is gone: it let any web page change the camera. Use POST /api/preview-format.",
    )
}

impl Route {
    /// The rest of `path` after this route, when it matches.
    fn matches<'p>(&self, path: &'p str) -> Option<&'p str> {
        match self.path {
            Exact(exact) => (path == exact).then_some(""),
            Prefix(prefix) => path.strip_prefix(prefix),
            Around(before, after) => path
                .strip_prefix(before)?
                .strip_suffix(after)
                .filter(|middle| !middle.is_empty() && !middle.contains('/')),
        }
    }

    fn accepts(&self, method: Method) -> bool {
        method == self.method || (method == Method::Head && self.method == Method::Get)
    }
}

/// Every method the table serves, for CORS preflight answers.
const ALL_METHODS: &str = "GET, HEAD, POST, OPTIONS";

/// Everything the routes need: the cameras' channels (the first also answers at the
/// seed's routes), the access rules, and the server's count of open connections.
pub struct Routes {
    pub channels: Vec<Arc<Channel>>,
    pub access: Access,
    pub connections: Arc<AtomicUsize>,
    /// Requests waiting on a camera at once, below the connection cap.
    pub camera_waits: Arc<Budget>,
    /// Bytes of frames being written to snapshot readers at once.
    pub pinned: Arc<Budget>,
    /// The flat views' memory, for `/metrics`.
    pub view_memory: Arc<Budget>,
}

impl Routes {
    pub fn handle(&self, req: Request) -> Response {
        let response = self.route(req);
        match &self.access.allow_origin {
            Some(origin) => response
                .with_header("Access-Control-Allow-Origin", origin.clone())
                .with_header("Vary", "Origin"),
            None => response,
        }
    }

    fn route(&self, req: Request) -> Response {
        if let Some(refused) = self.access.refuse_host(&req) {
            return refused;
        }
        if req.method == Method::Options {
            // Preflight requests carry no credentials, so they are answered before auth.
            return Response::bytes(Status::NO_CONTENT, "text/plain", &b""[..])
                .with_header("Allow", ALL_METHODS)
                .with_header("Access-Control-Allow-Methods", ALL_METHODS)
                .with_header(
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type",
                )
                .with_header("Access-Control-Max-Age", "600");
        }
        if req.method == Method::Other {
            return method_not_allowed(ALL_METHODS.into());
        }
        if let Some(refused) = self.access.refuse_login(&req) {
            return refused;
        }
        if req.method == Method::Post {
            if self.access.read_only {
                return Response::error(
                    Status::FORBIDDEN,
                    "This relay is read-only (--read-only): it does not change the camera.",
                );
            }
            if let Some(refused) = self.access.refuse_cross_site(&req) {
                return refused;
            }
        }
        // Everything of one camera lives under /cameras/NAME/; the first camera also
        // answers at the top, as the seed's routes did.
        if let Some(rest) = req.path.strip_prefix("/cameras/") {
            let (name, sub) = rest.split_once('/').unwrap_or((rest, ""));
            let Some(channel) = self.channels.iter().find(|c| c.name() == name) else {
                return Response::error(
                    Status::NOT_FOUND,
                    format!("There is no camera named {name}; /cameras lists them."),
                );
            };
            return self.dispatch(channel, &req, &format!("/{sub}"));
        }
        self.dispatch(&self.channels[0], &req, &req.path)
    }

    /// Where a camera's routes are: empty for the first (it answers at the top too),
    /// `/cameras/NAME` for the others.
    fn base_of(&self, channel: &Arc<Channel>) -> String {
        if Arc::ptr_eq(channel, &self.channels[0]) {
            String::new()
        } else {
            format!("/cameras/{}", channel.name())
        }
    }

    /// `GET /cameras`: each camera's name, model, state and URLs.
    fn cameras(&self) -> Response {
        let statuses: Vec<(&str, ChannelStatus)> = self
            .channels
            .iter()
            .map(|c| (c.name(), c.status()))
            .collect();
        Response::json(Status::OK, &CameraList::of(&statuses))
    }

    /// A share of the camera waits, or 503 when they are all taken.
    fn camera_wait(&self) -> Result<CameraWait, Response> {
        self.camera_waits
            .try_take(1)
            .map(CameraWait)
            .ok_or_else(|| {
                Response::error(
                    Status::SERVICE_UNAVAILABLE,
                    format!(
                        "{} requests are already waiting on the camera; try again shortly.",
                        self.camera_waits.max()
                    ),
                )
                .with_header("Retry-After", "1")
            })
    }

    /// Runs `route`, with a share of the camera waits if it waits on the camera, and of
    /// the pinned bytes for a frame it answers with.
    fn run(&self, route: &Route, channel: &Arc<Channel>, req: &Request, rest: &str) -> Response {
        let response = match route.handler {
            Now(handler) => handler(self, channel, req, rest),
            Waits(handler) => match self.camera_wait() {
                Ok(waiting) => handler(self, channel, req, rest, &waiting).holding(waiting),
                Err(refused) => return refused,
            },
        };
        match &response.body {
            Body::Shared(frame) => match self.pinned.try_take(frame.len() as u64) {
                Some(share) => response.holding(share),
                None => Response::error(
                    Status::SERVICE_UNAVAILABLE,
                    "Too many slow readers are still receiving frames; try again shortly.",
                )
                .with_header("Retry-After", "1"),
            },
            _ => response,
        }
    }

    /// Runs the route for `path` on `channel`; 405 with `Allow` when the path exists for
    /// other methods, 404 when it does not exist at all.
    fn dispatch(&self, channel: &Arc<Channel>, req: &Request, path: &str) -> Response {
        let mut allowed: Vec<Method> = Vec::new();
        for route in ROUTES {
            let Some(rest) = route.matches(path) else {
                continue;
            };
            if route.accepts(req.method) {
                return self.run(route, channel, req, rest);
            }
            allowed.push(route.method);
        }
        if allowed.is_empty() {
            return Response::error(Status::NOT_FOUND, format!("There is nothing at {path}."));
        }
        let mut names: Vec<&str> = Vec::new();
        for method in [Method::Get, Method::Head, Method::Post] {
            let listed = allowed
                .iter()
                .any(|m| *m == method || (method == Method::Head && *m == Method::Get));
            if listed {
                names.push(method.as_str());
            }
        }
        method_not_allowed(names.join(", "))
    }
}

fn method_not_allowed(allow: String) -> Response {
    Response::error(Status::METHOD_NOT_ALLOWED, format!("Use {allow} here."))
        .with_header("Allow", allow)
}

/// What the page may load and run: only its own files, its own stream and images made
/// from them; no inline script, no framing by other sites.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; media-src 'self' blob:; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => Response::bytes(Status::OK, content_type, *bytes)
            .with_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            .with_header("X-Content-Type-Options", "nosniff"),
        None => Response::error(
            Status::NOT_FOUND,
            format!("There is no file /public/{name}."),
        ),
    }
}

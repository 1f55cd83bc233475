//! The relay's routes: one table of paths, methods and handlers, and the dispatch that
//! applies the access rules (Basic auth, read-only, CORS) before a handler runs. The 405
//! answers and their `Allow` headers come from the same table.
//!
//! The handlers are thin: the stream, snapshot and status belong to the camera's
//! [`Channel`], camera control to `api`. `/public/` serves only the embedded files,
//! looked up by exact name: no path ever reaches the file system, so `..` and friends
//! simply find nothing.

use crate::relay::channel::Channel;
use crate::web::access::Access;
use crate::web::api;
use crate::web::budget::Budget;
use crate::web::http::{Body, Method, Request, Response, Status};
use crate::web::metrics;
use crate::web::status::status_json;
use crate::web::streams;
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
/// rest of the path after a prefix route's prefix (empty for exact routes).
type RouteFn = fn(&Routes, &Arc<Channel>, &Request, &str) -> Response;

struct Route {
    path: &'static str,
    /// Matches every path that starts with `path`; the rest goes to the handler.
    prefix: bool,
    /// GET also answers HEAD.
    method: Method,
    handler: RouteFn,
    /// The handler waits on the camera (a camera call, a frame, a download): it runs
    /// only with a share of [`Routes::camera_waits`].
    waits: bool,
}

const fn exact(path: &'static str, method: Method, handler: RouteFn) -> Route {
    Route {
        path,
        prefix: false,
        method,
        handler,
        waits: false,
    }
}

const fn prefix(path: &'static str, method: Method, handler: RouteFn) -> Route {
    Route {
        path,
        prefix: true,
        method,
        handler,
        waits: false,
    }
}

/// `route`, which waits on the camera.
const fn waits(route: Route) -> Route {
    Route {
        waits: true,
        ..route
    }
}

use Method::{Get, Post};

/// Every route of one camera.
const ROUTES: &[Route] = &[
    exact("/", Get, |routes, ch, req, _| {
        match req.query_param("action") {
            Some("stream") => streams::video_feed(
                ch.clone(),
                req.method == Method::Head,
                req.query_param("fps"),
            ),
            Some("snapshot") => streams::snapshot(&**ch),
            _ if Arc::ptr_eq(ch, &routes.channels[0]) => Response::redirect("/public/index.html"),
            _ => Response::redirect(&format!("/public/index.html?camera={}", ch.name())),
        }
    }),
    exact("/cameras", Get, |routes, _, _, _| {
        Response::json(Status::OK, &routes.cameras())
    }),
    exact("/video_feed", Get, video_feed),
    exact("/stream", Get, video_feed),
    exact("/video.mkv", Get, |_, ch, req, _| {
        streams::video_mkv(
            ch.clone(),
            req.method == Method::Head,
            req.query_param("fps"),
        )
    }),
    waits(exact("/snapshot.jpg", Get, |_, ch, _, _| {
        streams::snapshot(&**ch)
    })),
    waits(exact("/snapshot", Get, |_, ch, _, _| {
        streams::snapshot(&**ch)
    })),
    waits(exact("/flat.jpg", Get, |_, ch, req, _| {
        views::flat_jpg(ch, req)
    })),
    prefix("/views/", Get, |_, ch, req, rest| {
        views::view_route(ch, req, rest)
    }),
    exact("/metrics", Get, |routes, _, _, _| {
        let connections = routes.connections.load(Ordering::Relaxed);
        let text = metrics::render(&routes.channels, connections);
        Response::bytes(Status::OK, metrics::CONTENT_TYPE, text.into_bytes())
    }),
    exact("/status", Get, |_, ch, _, _| {
        Response::json(Status::OK, &status_json(&ch.status()))
    }),
    waits(exact("/info", Get, |_, ch, _, _| api::camera_info(ch))),
    waits(exact("/osc/info", Get, |_, ch, _, _| api::camera_info(ch))),
    waits(exact("/state", Get, |_, ch, _, _| {
        api::camera_json(
            ch.camera()
                .state()
                .map(|s| serde_json::Value::Object(s.state)),
        )
    })),
    waits(exact("/osc/state", Post, |_, ch, _, _| {
        api::camera_json(
            ch.camera()
                .state()
                .map(|s| serde_json::Value::Object(s.whole)),
        )
    })),
    waits(exact("/api/options", Get, |_, ch, req, _| {
        api::options(ch, req)
    })),
    waits(exact("/api/preview-formats", Get, |_, ch, _, _| {
        api::preview_formats(ch)
    })),
    waits(exact("/api/preview-format", Post, |_, ch, req, _| {
        api::set_preview_format(ch, req)
    })),
    waits(exact("/api/picture", Post, |routes, ch, _, _| {
        api::take_picture(ch, &routes.base_of(ch))
    })),
    waits(exact("/api/files", Get, |routes, ch, req, _| {
        api::files(ch, req, &routes.base_of(ch))
    })),
    exact("/public", Get, |_, _, _, _| {
        Response::redirect("/public/index.html")
    }),
    exact("/public/", Get, |_, _, _, _| {
        Response::redirect("/public/index.html")
    }),
    prefix("/public/", Get, |_, _, _, name| asset(name)),
    waits(prefix("/camera-files/", Get, |_, ch, _, rest| {
        api::camera_file(ch, rest)
    })),
    waits(prefix("/getOption/", Get, |_, ch, _, name| {
        api::get_option(ch, name)
    })),
    prefix("/setOption/", Get, set_option_gone),
    prefix("/setOption/", Post, set_option_gone),
];

fn video_feed(_: &Routes, channel: &Arc<Channel>, req: &Request, _: &str) -> Response {
    streams::video_feed(
        channel.clone(),
        req.method == Method::Head,
        req.query_param("fps"),
    )
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
        if self.prefix {
            path.strip_prefix(self.path)
        } else {
            (path == self.path).then_some("")
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
    fn cameras(&self) -> serde_json::Value {
        let list: Vec<serde_json::Value> = self
            .channels
            .iter()
            .map(|c| {
                let s = c.status();
                let base = format!("/cameras/{}", c.name());
                let views: Vec<serde_json::Value> = c
                    .views()
                    .list()
                    .iter()
                    .map(|v| {
                        let s = v.status();
                        serde_json::json!({
                            "name": s.name,
                            "width": s.width,
                            "height": s.height,
                            "urls": {
                                "video_feed": format!("{base}/views/{}/video_feed", s.name),
                                "snapshot": format!("{base}/views/{}/snapshot.jpg", s.name),
                            },
                        })
                    })
                    .collect();
                serde_json::json!({
                    "name": c.name(),
                    "model": s.counts.camera_model,
                    "address": s.camera_address,
                    "online": s.online,
                    "viewers": s.counts.viewers,
                    "urls": {
                        "page": format!("/public/index.html?camera={}", c.name()),
                        "video_feed": format!("{base}/video_feed"),
                        "snapshot": format!("{base}/snapshot.jpg"),
                        "status": format!("{base}/status"),
                        "flat": format!("{base}/flat.jpg"),
                    },
                    "views": views,
                })
            })
            .collect();
        serde_json::json!({ "cameras": list })
    }

    /// Runs `route`, with a share of the camera waits if it waits on the camera, and of
    /// the pinned bytes for a frame it answers with.
    fn run(&self, route: &Route, channel: &Arc<Channel>, req: &Request, rest: &str) -> Response {
        let waiting = match route.waits {
            false => None,
            true => match self.camera_waits.try_take(1) {
                Some(share) => Some(share),
                None => {
                    return Response::error(
                        Status::SERVICE_UNAVAILABLE,
                        format!(
                            "{} requests are already waiting on the camera; try again shortly.",
                            self.camera_waits.max()
                        ),
                    )
                    .with_header("Retry-After", "1");
                }
            },
        };
        let response = (route.handler)(self, channel, req, rest);
        let response = match &response.body {
            Body::Shared(frame) => match self.pinned.try_take(frame.len() as u64) {
                Some(share) => response.holding(share),
                None => {
                    return Response::error(
                        Status::SERVICE_UNAVAILABLE,
                        "Too many slow readers are still receiving frames; try again shortly.",
                    )
                    .with_header("Retry-After", "1");
                }
            },
            _ => response,
        };
        match waiting {
            Some(share) => response.holding(share),
            None => response,
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

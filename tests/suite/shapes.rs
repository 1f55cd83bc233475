//! Every camera answer the relay reads, in shapes OSC never gives it: a camera on raw
//! sockets answers each request with a well-formed THETA answer in which one value, at
//! any depth (the root included), is replaced by a hostile one (a string, a list, a
//! huge number, null, deep nesting, a 10 000-character string...). Written from the
//! camera's side: the templates are what a THETA sends. The relay must answer each one
//! with a sentence (or use it, when it happens to be usable), never panic, and keep
//! serving.

use crate::common::*;
use oscstream::camera::client::Camera;
use oscstream::camera::errors::OscError;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

/// What a THETA Z1 answers, by the name the fake camera files it under.
fn templates() -> Vec<(&'static str, Value)> {
    let done =
        |name: &str, results: Value| json!({"name": name, "state": "done", "results": results});
    vec![
        (
            "/osc/info",
            json!({"manufacturer": "RICOH", "model": "RICOH THETA Z1", "serialNumber": "10010104",
                "firmwareVersion": "3.10.1", "apiLevel": [2], "endpoints": {"httpPort": 80}}),
        ),
        (
            "/osc/state",
            json!({"fingerprint": "FIG_0008", "state": {"batteryLevel": 0.8,
                "_batteryState": "charging", "_boardTemp": 40.5, "_batteryTemp": 31,
                "_cameraError": ["HIGH_TEMPERATURE_WARNING"], "_apiVersion": 2}}),
        ),
        (
            "camera.getOptions",
            done(
                "camera.getOptions",
                json!({"options": {"sleepDelay": 300, "offDelay": 64800,
                "previewFormat": {"width": 1024, "height": 512, "framerate": 30},
                "previewFormatSupport": [{"width": 1024, "height": 512, "framerate": 30}]}}),
            ),
        ),
        (
            "camera.setOptions",
            json!({"name": "camera.setOptions", "state": "done"}),
        ),
        (
            "camera.listFiles",
            done(
                "camera.listFiles",
                json!({"entries": [{"name": "R0013308.JPG", "size": 4051440,
                "fileUrl": "http://192.168.1.1/files/150100525831424d42079d18e0b6c300/100RICOH/R0013308.JPG",
                "dateTimeZone": "2015:07:10 11:05:18+09:00", "width": 5376, "height": 2688}],
                "totalEntries": 1}),
            ),
        ),
        (
            "camera.takePicture",
            json!({"name": "camera.takePicture", "state": "inProgress", "id": "3",
                "progress": {"completion": 0}}),
        ),
        (
            "/osc/commands/status",
            done(
                "camera.takePicture",
                json!({"fileUrl": "http://192.168.1.1/files/150100525831424d42079d18e0b6c300/100RICOH/R0013308.JPG"}),
            ),
        ),
        (
            "camera.startSession",
            done(
                "camera.startSession",
                json!({"sessionId": "SID_0001", "timeout": 180}),
            ),
        ),
        (
            "error",
            json!({"name": "camera.getOptions", "state": "error",
                "error": {"code": "invalidParameterName", "message": "Parameter optionNames contains unsupported option a."}}),
        ),
    ]
}

/// A value OSC never puts where it lands.
fn hostile(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => json!("x"),
        1 => json!([1]),
        2 => json!(7),
        3 => json!(-1),
        4 => json!(1.5e300),
        5 => Value::Null,
        6 => json!(true),
        7 => json!({}),
        8 => json!([{"a": [null, {"b": "c"}]}]),
        9 => json!(18446744073709551615u64),
        10 => json!("busy\nWATCHDOG=trigger\u{1b}[31m"),
        11 => json!("x".repeat(10_000)),
        12 => {
            let mut v = json!(1);
            for _ in 0..100 {
                v = json!([v]);
            }
            v
        }
        _ => json!({"state": [1], "results": "x", "entries": [1]}),
    }
}

/// Every path into `v`, the root (empty) included.
fn paths(v: &Value, at: &mut Vec<String>, all: &mut Vec<Vec<String>>) {
    all.push(at.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                at.push(k.clone());
                paths(child, at, all);
                at.pop();
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                at.push(i.to_string());
                paths(child, at, all);
                at.pop();
            }
        }
        _ => {}
    }
}

fn replace_at(v: &mut Value, path: &[String], with: Value) {
    match path.split_first() {
        None => *v = with,
        Some((key, rest)) => match v {
            Value::Object(map) => replace_at(map.get_mut(key).unwrap(), rest, with),
            Value::Array(list) => replace_at(&mut list[key.parse::<usize>().unwrap()], rest, with),
            _ => unreachable!("paths only lead through objects and arrays"),
        },
    }
}

/// `template` with one value, somewhere, made hostile.
fn mutate(template: &Value, rng: &mut Rng) -> Value {
    let mut all = Vec::new();
    paths(template, &mut Vec::new(), &mut all);
    let mut v = template.clone();
    let path = &all[rng.below(all.len())];
    replace_at(&mut v, path, hostile(rng));
    v
}

/// The fake camera's answers now: (HTTP status, body) by path or command name.
type Answers = Arc<Mutex<Vec<(&'static str, u16, String)>>>;
/// How many requests the fake camera answered, by path or command name, and the
/// `camera.setOptions` bodies it got.
type Served = Arc<Mutex<Vec<(String, u64)>>>;
type SetOptions = Arc<Mutex<Vec<String>>>;

/// An OSC camera on raw sockets that answers from `answers`; `/osc/commands/execute`
/// by the command named in the request.
struct ShapeCamera {
    addr: SocketAddr,
    answers: Answers,
    served: Served,
    set_options: SetOptions,
    stop: Arc<AtomicBool>,
}

impl ShapeCamera {
    fn start() -> ShapeCamera {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let answers: Answers = Arc::new(Mutex::new(Vec::new()));
        let served: Served = Arc::new(Mutex::new(Vec::new()));
        let set_options: SetOptions = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, sv, so, st) = (
            answers.clone(),
            served.clone(),
            set_options.clone(),
            stop.clone(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (a, sv, so) = (a.clone(), sv.clone(), so.clone());
                thread::spawn(move || serve(conn, &a, &sv, &so));
            }
        });
        ShapeCamera {
            addr,
            answers,
            served,
            set_options,
            stop,
        }
    }

    fn served(&self, key: &str) -> u64 {
        let served = self.served.lock().unwrap();
        served.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
    }

    fn answer(&self, key: &'static str, status: u16, body: &Value) {
        let mut answers = self.answers.lock().unwrap();
        answers.retain(|(k, _, _)| *k != key);
        answers.push((key, status, body.to_string()));
    }
}

impl Drop for ShapeCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Answers requests on one connection (keep-alive, as a THETA does) until it closes.
fn serve(conn: TcpStream, answers: &Answers, served: &Served, set_options: &SetOptions) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let command = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|b| b.get("name").and_then(Value::as_str).map(str::to_string));
        if command.as_deref() == Some("camera.getLivePreview") {
            stream_preview(&mut out);
            return;
        }
        let key = command.unwrap_or(path);
        if key == "camera.setOptions" {
            let body = String::from_utf8_lossy(&body).into_owned();
            set_options.lock().unwrap().push(body);
        }
        {
            let mut served = served.lock().unwrap();
            match served.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => served.push((key.clone(), 1)),
            }
        }
        let (status, text) = answers
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, s, t)| (*s, t.clone()))
            .unwrap_or((200, r#"{"state":"done"}"#.to_string()));
        let answer = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        // One write: a head and body in two would wait on delayed ACKs.
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The live preview as a THETA sends it, until the relay goes.
fn stream_preview(out: &mut TcpStream) {
    let jpeg = oscstream::formats::picture::no_signal_jpeg("shape camera", 256, 128);
    let _ = out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=\"---osclivepreview---\"\r\n\r\n",
    );
    loop {
        let head = format!(
            "---osclivepreview---\r\nContent-type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        );
        let sent = out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(&jpeg))
            .and_then(|()| out.write_all(b"\r\n"));
        if sent.is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(33));
    }
}

/// Every camera call the relay makes, once, against the camera's current answers.
fn every_call(camera: &Camera) -> Vec<(&'static str, Result<(), OscError>)> {
    vec![
        ("info", camera.info().map(drop)),
        ("state", camera.state().map(drop)),
        (
            "getOptions",
            camera.options(&["sleepDelay", "offDelay"]).map(drop),
        ),
        ("previewFormats", camera.preview_formats().map(drop)),
        (
            "setOptions",
            camera.set_options(json!({"sleepDelay": 65535})),
        ),
        ("listFiles", camera.list_files(10).map(drop)),
        ("takePicture", camera.take_picture().map(drop)),
        ("startSession", camera.start_session().map(drop)),
    ]
}

#[test]
fn generated_hostile_answers_to_every_camera_call_are_sentences_not_panics() {
    let camera = ShapeCamera::start();
    let timeouts = oscstream::timeouts::Timeouts {
        picture: Duration::from_millis(300),
        command_poll: Duration::from_millis(1),
        ..test_timeouts()
    };
    let client = Camera::new(camera_at(camera.addr, None), &timeouts);
    let templates = templates();
    let rounds = env_number("SHAPE_ROUNDS", 600);
    let (mut refused, mut used) = (0, 0);
    let started = Instant::now();
    for seed in 1..=rounds {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        for (key, template) in &templates {
            let (key, status) = match *key {
                "error" => (
                    ["camera.getOptions", "camera.setOptions"][rng.below(2)],
                    400,
                ),
                key => (key, 200),
            };
            camera.answer(key, status, &mutate(template, &mut rng));
        }
        for (call, result) in every_call(&client) {
            match result {
                Ok(()) => used += 1,
                Err(e) => {
                    let sentence = e.to_string();
                    assert!(
                        sentence.starts_with("the camera at ")
                            || sentence.starts_with("another app"),
                        "seed {seed}, {call}: {sentence}"
                    );
                    assert!(
                        sentence.chars().count() < 1200,
                        "seed {seed}, {call}: clipped"
                    );
                    refused += 1;
                }
            }
        }
    }
    println!(
        "{rounds} rounds x 8 calls in {:?}: {refused} refused with a sentence, {used} usable",
        started.elapsed()
    );
    assert!(refused > 0 && used > 0, "the shapes reach both outcomes");
}

/// Panics in the relay's own threads (by their names), wherever they happen.
static RELAY_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_relay_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = thread::current().name().unwrap_or("").to_string();
            if ["upstream", "health", "http-conn"].contains(&name.as_str())
                || name.starts_with("http-accept")
            {
                RELAY_PANICS.lock().unwrap().push(format!("{name}: {info}"));
            }
            previous(info);
        }));
    });
}

#[test]
fn the_relay_keeps_serving_through_the_issues_hostile_answers() {
    watch_relay_panics();
    let camera = ShapeCamera::start();
    for (key, template) in templates() {
        camera.answer(key, 200, &template);
    }
    let relay = start_relay(camera_at(camera.addr, None));
    let base = format!("http://{}", relay.addr());
    // One viewer all along: keep-awake reads options before each preview, and the health
    // poll reads the state while it streams.
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    viewer.next_part();
    let shapes: Vec<(&'static str, Value)> = vec![
        ("/osc/state", json!({"state": "x"})),
        ("/osc/state", json!({"state": [1]})),
        ("camera.getOptions", json!({"results": "x"})),
        ("camera.getOptions", json!([])),
        ("camera.listFiles", json!({"results": {"entries": [1]}})),
        ("camera.listFiles", json!({"results": 7})),
        ("/osc/info", json!("x")),
        (
            "camera.takePicture",
            json!({"state": "done", "results": [1]}),
        ),
    ];
    let routes = [
        "/state",
        "/info",
        "/api/options?names=a",
        "/getOption/previewFormat",
        "/api/files",
        "/api/preview-formats",
    ];
    for (key, shape) in shapes {
        let before = camera.served(key);
        camera.answer(key, 200, &shape);
        if key == "/osc/state" {
            // The health poll reads it while the viewer streams, with no request at all.
            wait_for(Duration::from_secs(3), "the health poll", || {
                (camera.served(key) >= before + 2).then_some(())
            });
        }
        for route in routes {
            let (code, body) = get_json(&format!("{base}{route}"));
            assert!(
                code == 200 || code == 502,
                "{key} {shape} {route}: {code} {body}"
            );
            if code == 502 {
                let error = body["error"].as_str().unwrap_or_default();
                assert!(error.starts_with("The camera at"), "{route}: {body}");
            }
        }
        for route in ["/osc/state", "/api/picture"] {
            let (code, body) = post_json(&format!("{base}{route}"), "{}");
            assert!(
                code == 200 || code == 502,
                "{key} {shape} {route}: {code} {body}"
            );
        }
    }
    let (code, _) = get_json(&format!("{base}/status"));
    assert_eq!(code, 200);
    viewer.next_part();
    // The template's getOptions answer holds more than the timers asked for: only the
    // timers are ever set.
    let sets = camera.set_options.lock().unwrap().clone();
    assert!(!sets.is_empty(), "the timers were set");
    for body in &sets {
        let options = serde_json::from_str::<Value>(body).unwrap()["parameters"]["options"].clone();
        let names: Vec<&String> = options.as_object().unwrap().keys().collect();
        assert!(
            names
                .iter()
                .all(|n| ["sleepDelay", "offDelay", "_offDelayUSB"].contains(&n.as_str())),
            "{body}"
        );
    }
    let panics = RELAY_PANICS.lock().unwrap().clone();
    assert!(
        panics.is_empty(),
        "the relay's threads panicked: {panics:?}"
    );
}

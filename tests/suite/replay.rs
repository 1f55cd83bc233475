//! Real cameras' own answers, through the relay's routes. A camera of the test's own
//! replays the JSON bodies recorded from real THETAs (S, SC, SC2, V, Z1, X) that the
//! project keeps beside the repository in `../shared/theta-answers/bodies` (read only,
//! never copied here), and the relay must read every one and agree with it: the model,
//! firmware, battery and temperatures, the preview formats as the camera lists them,
//! pictures through the recorded inProgress → done (or canceled) sequences, the files,
//! and keeping it awake with the "never" its own lists offer, put back on stop only when
//! changed.
//!
//! The camera answers `getOptions` from the options it was given (a recorded answer's,
//! or a recorded options dump); a name it does not know is left out, and a request
//! naming none it knows is refused with OSC's `invalidParameterName`. `setOptions` takes
//! a timer only among the values its `...Support` list names.

use crate::common::*;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Where the recorded answers are: beside the clone, as CI has them.
fn answers_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/theta-answers/bodies");
    if dir.is_dir() {
        return Some(dir);
    }
    skip("the recorded THETA answers (../shared/theta-answers) are not beside the clone");
    None
}

fn body(dir: &Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// One recorded camera: what it answers to each request.
#[derive(Clone)]
struct Recorded {
    info: Value,
    state: Value,
    options: Map<String, Value>,
    /// `camera.takePicture`'s answer, then `/osc/commands/status`'s, each with its HTTP status.
    picture: Vec<(u16, Value)>,
    files: Option<Value>,
    /// API level 1 (a THETA S before `clientVersion` 2): the state it has after the switch.
    level_2_state: Option<Value>,
    session: Option<Value>,
}

impl Recorded {
    fn new(dir: &Path, info: &str, state: &str) -> Recorded {
        Recorded {
            info: body(dir, info),
            state: body(dir, state),
            options: Map::new(),
            picture: Vec::new(),
            files: None,
            level_2_state: None,
            session: None,
        }
    }

    /// The options of a recorded `getOptions` answer (or of an options dump).
    fn with_options(mut self, dir: &Path, file: &str) -> Recorded {
        let b = body(dir, file);
        let options = b["results"]["options"]
            .as_object()
            .or(b.as_object())
            .unwrap();
        self.options.extend(options.clone());
        self
    }
}

/// What the camera was asked to set, in order.
type Sets = Arc<Mutex<Vec<Value>>>;

struct ReplayCamera {
    addr: SocketAddr,
    sets: Sets,
    stop: Arc<AtomicBool>,
}

impl ReplayCamera {
    fn start(recorded: Recorded) -> ReplayCamera {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sets: Sets = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let camera = Arc::new(Mutex::new(recorded));
        let (log, done) = (sets.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (camera, log, done) = (camera.clone(), log.clone(), done.clone());
                thread::spawn(move || serve(conn, &camera, &log, &done));
            }
        });
        ReplayCamera { addr, sets, stop }
    }

    fn timers(&self) -> Vec<Value> {
        self.sets.lock().unwrap().clone()
    }
}

impl Drop for ReplayCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn answer(conn: &mut TcpStream, status: u16, body: &Value) {
    let text = body.to_string();
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn osc_error(command: &str, code: &str, message: &str) -> Value {
    json!({"name": command, "state": "error", "error": {"code": code, "message": message}})
}

fn serve(mut conn: TcpStream, camera: &Mutex<Recorded>, sets: &Sets, stop: &AtomicBool) {
    let Some((path, request)) = read_camera_request(&mut conn) else {
        return;
    };
    let mut cam = camera.lock().unwrap();
    match path.as_str() {
        "/osc/info" => answer(&mut conn, 200, &cam.info),
        "/osc/state" => answer(&mut conn, 200, &cam.state),
        "/osc/commands/status" => match cam.picture.len() {
            0 => answer(
                &mut conn,
                400,
                &osc_error("camera.takePicture", "invalidParameterValue", "no command."),
            ),
            _ => {
                let (status, body) = cam.picture.remove(0);
                answer(&mut conn, status, &body);
            }
        },
        "/osc/commands/execute" => {
            let name = request["name"].as_str().unwrap_or_default().to_string();
            let params = request["parameters"].clone();
            match name.as_str() {
                "camera.getLivePreview" => {
                    drop(cam);
                    preview(conn, stop);
                }
                "camera.getOptions" => get_options(&mut conn, &cam, &params),
                "camera.setOptions" => set_options(&mut conn, &mut cam, &params, sets),
                "camera.takePicture" if !cam.picture.is_empty() => {
                    let (status, body) = cam.picture.remove(0);
                    answer(&mut conn, status, &body);
                }
                "camera.listFiles" if cam.files.is_some() => {
                    answer(&mut conn, 200, cam.files.as_ref().unwrap())
                }
                "camera.startSession" if cam.session.is_some() => {
                    answer(&mut conn, 200, cam.session.as_ref().unwrap())
                }
                _ => answer(
                    &mut conn,
                    400,
                    &osc_error(&name, "unknownCommand", "command not supported."),
                ),
            }
        }
        _ => {
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
}

fn get_options(conn: &mut TcpStream, cam: &Recorded, params: &Value) {
    let names: Vec<&str> = params["optionNames"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let known: Map<String, Value> = names
        .iter()
        .filter_map(|n| Some((n.to_string(), cam.options.get(*n)?.clone())))
        .collect();
    if known.is_empty() {
        let first = names.first().copied().unwrap_or_default();
        let message = format!("unrecognized option {first}.");
        return answer(
            conn,
            400,
            &osc_error("camera.getOptions", "invalidParameterName", &message),
        );
    }
    answer(
        conn,
        200,
        &json!({"name": "camera.getOptions", "state": "done", "results": {"options": known}}),
    );
}

fn set_options(conn: &mut TcpStream, cam: &mut Recorded, params: &Value, sets: &Sets) {
    let options = params["options"].as_object().cloned().unwrap_or_default();
    if options.contains_key("clientVersion") {
        if let Some(state) = cam.level_2_state.take() {
            cam.state = state;
        }
        sets.lock().unwrap().push(Value::Object(options));
        return answer(
            conn,
            200,
            &json!({"name": "camera.setOptions", "state": "done"}),
        );
    }
    // Timers only: what their lists allow is the question here (an X's offDelay list
    // has 0 and not 65535); other options are taken as sent.
    for (name, value) in options.iter().filter(|(name, _)| name.ends_with("Delay")) {
        let listed = cam
            .options
            .get(&format!("{name}Support"))
            .and_then(Value::as_array);
        if listed.is_some_and(|l| !l.contains(value)) {
            let message = format!("{name} {value} is not supported.");
            return answer(
                conn,
                400,
                &osc_error("camera.setOptions", "invalidParameterValue", &message),
            );
        }
    }
    cam.options.extend(options.clone());
    sets.lock().unwrap().push(Value::Object(options));
    answer(
        conn,
        200,
        &json!({"name": "camera.setOptions", "state": "done"}),
    );
}

/// A THETA's live preview: small real JPEGs, ten a second, until the client goes.
fn preview(mut conn: TcpStream, stop: &AtomicBool) {
    let jpeg = oscstream::formats::picture::Canvas::filled(256, 128, [40, 90, 160]).to_jpeg(80);
    let _ = conn.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=\"---osclivepreview---\"\r\n\r\n",
    );
    while !stop.load(Ordering::SeqCst) {
        let head = format!(
            "---osclivepreview---\r\nContent-type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        );
        let sent = conn.write_all(head.as_bytes()).is_ok()
            && conn.write_all(&jpeg).is_ok()
            && conn.write_all(b"\r\n").is_ok();
        if !sent {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// A relay in this process for `camera`.
fn relay_for(camera: &ReplayCamera) -> oscstream::app::relay::Relay {
    start_relay(camera_at(camera.addr, None))
}

fn get(relay: &oscstream::app::relay::Relay, path: &str) -> (u16, Value) {
    get_json(&format!("http://{}{path}", relay.addr()))
}

/// The relay's `/status` once it has learnt the camera's model at first contact.
fn status_after_contact(relay: &oscstream::app::relay::Relay) -> Value {
    wait_for(Duration::from_secs(10), "the first contact", || {
        let (_, s) = get(relay, "/status");
        (!s["camera_model"].is_null()).then_some(s)
    })
}

#[test]
fn every_recorded_camera_is_read_by_the_relays_routes() {
    let Some(dir) = answers_dir() else { return };
    let cases = [
        ("s", "s/info.json", "s/state_api2.json"),
        ("sc", "sc/info.json", "s/state_api2.json"),
        ("sc2", "sc2/info_fw0182.json", "sc2/state.json"),
        (
            "sc2",
            "sc2/info_fw0151_curl.json",
            "sc2/state_self_timer.json",
        ),
        ("sc2", "sc2/info_business_fw0652.json", "sc2/state.json"),
        (
            "v",
            "v/info_fw1111_osc_server_comment.json",
            "v/state_osc_server_comment.json",
        ),
        ("z1", "z1/info.json", "z1/state_gps_on.json"),
        ("z1", "z1/info.json", "z1/state_docs.json"),
        ("x", "x/info_docs_fw2400.json", "x/state_docs.json"),
        (
            "x",
            "x/info_theta_client.json",
            "x/state_high_temp_warning.json",
        ),
    ];
    for (model, info, state) in cases {
        // No options were recorded from an SC or a V: their getOptions is refused.
        let recorded = match model {
            "z1" | "x" => Recorded::new(&dir, info, state)
                .with_options(&dir, &format!("{model}/fake_theta_options_dump.json")),
            "sc2" => Recorded::new(&dir, info, state)
                .with_options(&dir, "sc2/get_options_fw120_getOpions.json"),
            "s" => Recorded::new(&dir, info, state).with_options(&dir, "s/get_options_init.json"),
            _ => Recorded::new(&dir, info, state),
        };
        let expected_info = recorded.info.clone();
        let expected_state = recorded.state["state"].clone();
        let camera = ReplayCamera::start(recorded);
        let relay = relay_for(&camera);
        let status = status_after_contact(&relay);
        let said = format!("{model} ({info}, {state})");
        assert_eq!(
            status["camera_model"], expected_info["model"],
            "{said}: {status}"
        );
        let (code, info_back) = get(&relay, "/info");
        assert_eq!(code, 200, "{said}: {info_back}");
        assert_eq!(
            info_back["firmwareVersion"], expected_info["firmwareVersion"],
            "{said}"
        );
        let (code, state_back) = get(&relay, "/state");
        assert_eq!(code, 200, "{said}: {state_back}");
        assert_eq!(
            state_back["batteryLevel"], expected_state["batteryLevel"],
            "{said}"
        );
        // Health comes from /osc/state while the preview runs.
        let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
        viewer.next_part();
        let health = wait_for(Duration::from_secs(10), "the camera's health", || {
            viewer.next_part();
            let (_, s) = get(&relay, "/status");
            (!s["health"]["battery"].is_null()).then_some(s["health"].clone())
        });
        assert_eq!(
            health["battery"], expected_state["batteryLevel"],
            "{said}: {health}"
        );
        for (ours, theirs) in [
            ("board_temp", "_boardTemp"),
            ("battery_temp", "_batteryTemp"),
        ] {
            if let Some(t) = expected_state[theirs].as_f64() {
                assert_eq!(health[ours].as_f64(), Some(t), "{said}: {health}");
            }
        }
        let (_, cameras) = get(&relay, "/cameras");
        assert_eq!(
            cameras["cameras"][0]["model"], expected_info["model"],
            "{said}"
        );
        println!(
            "{said}: {} fw {}, battery {}",
            expected_info["model"], expected_info["firmwareVersion"], health["battery"]
        );
    }
}

fn post(relay: &oscstream::app::relay::Relay, path: &str, body: &str) -> (u16, Value) {
    post_json(&format!("http://{}{path}", relay.addr()), body)
}

/// A sentence that ends with exactly one full stop (a camera's message often has its own).
fn one_full_stop(text: &str) -> bool {
    text.ends_with('.') && !text.ends_with("..")
}

#[test]
fn preview_formats_are_offered_as_the_recorded_cameras_list_them() {
    let Some(dir) = answers_dir() else { return };
    // A Z1 lists 6720x3360@2, larger than the relay relays: not offered, not switched to.
    let z1 = ReplayCamera::start(
        Recorded::new(&dir, "z1/info.json", "z1/state.json")
            .with_options(&dir, "z1/fake_theta_options_dump.json"),
    );
    let relay = relay_for(&z1);
    let (code, formats) = get(&relay, "/api/preview-formats");
    assert_eq!(code, 200, "{formats}");
    let big = json!({"width": 6720, "height": 3360, "framerate": 2});
    assert!(
        !formats["supported"].as_array().unwrap().contains(&big),
        "{formats}"
    );
    assert_eq!(formats["too_large"], json!([big]), "{formats}");
    assert_eq!(
        formats["supported"].as_array().unwrap().len(),
        5,
        "{formats}"
    );
    let (code, refused) = post(&relay, "/api/preview-format", &big.to_string());
    assert_eq!(code, 400, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("up to 3840x1920"),
        "{refused}"
    );
    drop(relay);

    // An X reports 1024x512@15, which its own list lacks: current, and selectable.
    let x = ReplayCamera::start(
        Recorded::new(&dir, "x/info_docs_fw2400.json", "x/state_docs.json")
            .with_options(&dir, "x/fake_theta_options_dump.json"),
    );
    let relay = relay_for(&x);
    let (_, formats) = get(&relay, "/api/preview-formats");
    let fifteen = json!({"width": 1024, "height": 512, "framerate": 15});
    assert_eq!(formats["current"], fifteen, "{formats}");
    assert!(
        formats["supported"].as_array().unwrap().contains(&fifteen),
        "{formats}"
    );
    let (code, answer) = post(&relay, "/api/preview-format", &fifteen.to_string());
    assert_eq!(code, 200, "{answer}");
    drop(relay);

    // An SC2 says 0x0@0 (and a stray framerate beside it): unknown, not a size.
    let sc2 = ReplayCamera::start(
        Recorded::new(&dir, "sc2/info_fw0182.json", "sc2/state.json")
            .with_options(&dir, "sc2/get_options_fw120_getOpions.json")
            .with_options(&dir, "sc2/get_options_preview_format_zeros.json"),
    );
    let relay = relay_for(&sc2);
    let (code, formats) = get(&relay, "/api/preview-formats");
    assert_eq!(code, 200, "{formats}");
    assert_eq!(formats["current"], Value::Null, "{formats}");
    assert_eq!(formats["supported"], json!([]), "{formats}");
    drop(relay);

    // An S knows neither option: the camera's own message, with one full stop.
    let s = ReplayCamera::start(
        Recorded::new(&dir, "s/info.json", "s/state_api2.json")
            .with_options(&dir, "s/get_options_init.json"),
    );
    let relay = relay_for(&s);
    let (code, refused) = get(&relay, "/api/preview-formats");
    assert_eq!(code, 400, "{refused}");
    let said = refused["error"].as_str().unwrap();
    assert!(said.contains("unrecognized option previewFormat"), "{said}");
    assert!(one_full_stop(said), "{said}");
}

#[test]
fn pictures_follow_the_recorded_sequences_and_a_canceled_one_is_the_cameras_verdict() {
    let Some(dir) = answers_dir() else { return };
    let shot = |info: &str, state: &str, sequence: &[(u16, &str)]| {
        let mut recorded = Recorded::new(&dir, info, state);
        recorded.picture = sequence
            .iter()
            .map(|(code, f)| (*code, body(&dir, f)))
            .collect();
        let camera = ReplayCamera::start(recorded);
        let relay = relay_for(&camera);
        let answer = post(&relay, "/api/picture", "");
        drop(relay);
        answer
    };
    let (code, z1) = shot(
        "z1/info.json",
        "z1/state.json",
        &[
            (200, "z1/take_picture_progress.json"),
            (200, "z1/take_picture_done.json"),
        ],
    );
    assert_eq!(code, 200, "{z1}");
    let done = body(&dir, "z1/take_picture_done.json");
    assert_eq!(z1["fileUrl"], done["results"]["fileUrl"], "{z1}");
    let (code, x) = shot(
        "x/info_docs_fw2400.json",
        "x/state_docs.json",
        &[
            (200, "x/take_picture_progress_tutorial.json"),
            (200, "x/status_done_fake_theta.json"),
        ],
    );
    assert_eq!(code, 200, "{x}");
    assert!(x["url"].as_str().unwrap().ends_with("R0010015.JPG"), "{x}");
    // A self-timer shot canceled on the camera: HTTP 403 from /osc/commands/status.
    let (code, canceled) = shot(
        "z1/info.json",
        "z1/state.json",
        &[
            (200, "z1/take_picture_progress.json"),
            (403, "z1/take_picture_cancel.json"),
        ],
    );
    let said = canceled["error"].as_str().unwrap_or_default();
    assert_eq!(code, 409, "{canceled}");
    assert!(
        said.contains("canceled camera.takePicture: shooting is canceled"),
        "{said}"
    );
    assert!(one_full_stop(said), "{said}");
}

#[test]
fn recorded_file_lists_are_listed_through_the_relay() {
    let Some(dir) = answers_dir() else { return };
    for (info, state, files) in [
        (
            "z1/info.json",
            "z1/state.json",
            "z1/list_files_image_10.json",
        ),
        (
            "x/info_docs_fw2400.json",
            "x/state_docs.json",
            "x/list_files_image_5.json",
        ),
        (
            "x/info_docs_fw2400.json",
            "x/state_docs.json",
            "x/list_files_no_detail_docs.json",
        ),
        (
            "v/info_fw1111_osc_server_comment.json",
            "v/state_osc_server_comment.json",
            "v/list_files_video.json",
        ),
    ] {
        let mut recorded = Recorded::new(&dir, info, state);
        recorded.files = Some(body(&dir, files));
        let entries = recorded.files.as_ref().unwrap()["results"]["entries"].clone();
        let camera = ReplayCamera::start(recorded);
        let relay = relay_for(&camera);
        let (code, listed) = get(&relay, "/api/files?count=10");
        assert_eq!(code, 200, "{files}: {listed}");
        let listed = listed["files"]
            .as_array()
            .cloned()
            .or_else(|| listed["entries"].as_array().cloned())
            .unwrap_or_default();
        assert_eq!(listed.len(), entries.as_array().unwrap().len(), "{files}");
        for (ours, theirs) in listed.iter().zip(entries.as_array().unwrap()) {
            assert_eq!(ours["name"], theirs["name"], "{files}");
        }
    }
}

#[test]
fn cameras_are_kept_awake_with_the_never_their_lists_offer_and_left_as_found() {
    let Some(dir) = answers_dir() else { return };
    // An X and a Z1 list 0, not 65535, among their offDelay values; 65535 for sleepDelay.
    for (model, info, own) in [
        (
            "x",
            "x/info_docs_fw2400.json",
            json!({"sleepDelay": 180, "offDelay": 43200}),
        ),
        (
            "z1",
            "z1/info.json",
            json!({"sleepDelay": 180, "offDelay": 64800}),
        ),
    ] {
        let camera = ReplayCamera::start(
            Recorded::new(&dir, info, &format!("{model}/state_docs.json"))
                .with_options(&dir, &format!("{model}/fake_theta_options_dump.json")),
        );
        let relay = relay_for(&camera);
        wait_for(Duration::from_secs(10), "the timers set to never", || {
            camera.timers().first().cloned()
        });
        let never = json!({"sleepDelay": 65535, "offDelay": 0});
        assert_eq!(camera.timers(), vec![never], "{model}");
        relay.stop();
        assert_eq!(
            camera.timers().last(),
            Some(&own),
            "{model}: put back on stop"
        );
    }
    // An S and an SC2 keep "never" themselves: nothing is set, nothing put back.
    for (info, state, options) in [
        (
            "s/info.json",
            "s/state_api2.json",
            "s/get_options_init.json",
        ),
        (
            "sc2/info_fw0182.json",
            "sc2/state.json",
            "sc2/get_options_fw120_getOpions.json",
        ),
    ] {
        let camera =
            ReplayCamera::start(Recorded::new(&dir, info, state).with_options(&dir, options));
        let relay = relay_for(&camera);
        status_after_contact(&relay);
        let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
        viewer.next_part();
        drop(viewer);
        relay.stop();
        assert_eq!(
            camera.timers(),
            Vec::<Value>::new(),
            "{info}: nothing to set or put back"
        );
    }
}

#[test]
fn a_theta_s_is_switched_to_api_level_2_with_its_recorded_answers_and_an_old_one_is_named() {
    let Some(dir) = answers_dir() else { return };
    let mut recorded = Recorded::new(&dir, "s/info.json", "s/state_api1.json")
        .with_options(&dir, "s/get_options_init.json");
    recorded.session = Some(body(&dir, "s/start_session_done.json"));
    recorded.level_2_state = Some(body(&dir, "s/state_api2.json"));
    let camera = ReplayCamera::start(recorded);
    let relay = relay_for(&camera);
    let mut viewer = Viewer::connect(relay.addr(), "/video_feed");
    wait_for(Duration::from_secs(10), "frames from the S", || {
        let part = viewer.next_part();
        (jpeg_size(&part.jpeg) == Some((256, 128))).then_some(())
    });
    assert!(
        camera.timers().iter().any(|s| s["clientVersion"] == 2),
        "{:?}",
        camera.timers()
    );
    drop(viewer);
    drop(relay);
    let old = ReplayCamera::start(Recorded::new(
        &dir,
        "s/info_fw0160.json",
        "s/state_api1.json",
    ));
    let relay = relay_for(&old);
    let _viewer = Viewer::connect(relay.addr(), "/video_feed");
    let reason = wait_for(Duration::from_secs(10), "the old firmware named", || {
        let (_, s) = get(&relay, "/status");
        let said = s["last_error"].as_str()?.to_string();
        said.contains("01.60").then_some(said)
    });
    assert!(reason.contains("update it"), "{reason}");
}

//! The camera's answers as types. Everything the relay reads from a camera's JSON is
//! read here, into structs with optional fields, so that a shape we do not expect (a
//! string where OSC has an object, a list of numbers where it has entries) is an
//! [`AnswerError`] naming the command and the part, never a panic. Nothing else indexes
//! into a camera's JSON; what is passed on as it came (`/info`, `/state`, options) is
//! passed on only once its outer shape has been checked here.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt;

/// A JSON object as the camera sent it.
pub type Object = Map<String, Value>;

/// Most characters of the camera's own words kept in an error: a camera's 200 KB
/// message must not become 200 KB of log.
pub const MAX_CAMERA_TEXT_CHARS: usize = 200;

/// An answer of a shape OSC does not give it: which answer, which part, and what the
/// reader found instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError {
    pub answer: String,
    pub part: &'static str,
    pub found: String,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it answered {} with {} not of the shape OSC gives them ({})",
            self.answer, self.part, self.found
        )
    }
}

/// `text` cut to [`MAX_CAMERA_TEXT_CHARS`], with a mark where it was cut.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_CAMERA_TEXT_CHARS) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// Reads `value` (the `part` of the answer to `answer`) as a `T`.
pub fn read<T: DeserializeOwned>(
    answer: &str,
    part: &'static str,
    value: Value,
) -> Result<T, AnswerError> {
    serde_json::from_value(value).map_err(|e| AnswerError {
        answer: answer.to_string(),
        part,
        found: clip(&e.to_string()),
    })
}

/// `GET /osc/info`: the fields the relay uses, and the whole object for `/info`.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    /// OSC API levels the camera speaks (`[1]`, `[1, 2]`, `[2]`); empty when it does not say.
    pub api_level: Vec<u64>,
    pub whole: Object,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InfoFields {
    model: Option<String>,
    firmware_version: Option<String>,
    #[serde(default)]
    api_level: Vec<u64>,
}

impl Info {
    pub fn read(answer: Value) -> Result<Info, AnswerError> {
        let whole: Object = read("/osc/info", "a body", answer)?;
        let fields: InfoFields = read("/osc/info", "fields", Value::Object(whole.clone()))?;
        Ok(Info {
            model: fields.model,
            firmware_version: fields.firmware_version,
            api_level: fields.api_level,
            whole,
        })
    }
}

/// `POST /osc/state`: what the relay reads of the camera's state, and the objects as
/// they came for `/state` (the inner `state`) and `/osc/state` (the whole answer).
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub battery_level: Option<f64>,
    pub battery_state: Option<String>,
    pub board_temp: Option<f64>,
    pub battery_temp: Option<f64>,
    pub camera_errors: Vec<String>,
    pub api_version: Option<u64>,
    pub state: Object,
    pub whole: Object,
}

#[derive(Deserialize)]
struct StateEnvelope {
    state: Object,
}

#[derive(Deserialize)]
struct StateFields {
    #[serde(rename = "batteryLevel")]
    battery_level: Option<f64>,
    #[serde(rename = "_batteryState")]
    battery_state: Option<String>,
    #[serde(rename = "_boardTemp")]
    board_temp: Option<f64>,
    #[serde(rename = "_batteryTemp")]
    battery_temp: Option<f64>,
    #[serde(rename = "_cameraError", default)]
    camera_errors: Vec<String>,
    #[serde(rename = "_apiVersion")]
    api_version: Option<u64>,
}

impl State {
    pub fn read(answer: Value) -> Result<State, AnswerError> {
        let whole: Object = read("/osc/state", "a body", answer)?;
        let envelope: StateEnvelope = read("/osc/state", "a state", Value::Object(whole.clone()))?;
        let f: StateFields = read(
            "/osc/state",
            "state fields",
            Value::Object(envelope.state.clone()),
        )?;
        Ok(State {
            battery_level: f.battery_level,
            battery_state: f.battery_state,
            board_temp: f.board_temp,
            battery_temp: f.battery_temp,
            camera_errors: f.camera_errors,
            api_version: f.api_version,
            state: envelope.state,
            whole,
        })
    }
}

/// A command object (`/osc/commands/execute` and `/osc/commands/status`).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub state: CommandState,
    /// For `inProgress`: the id to ask `/osc/commands/status` with.
    pub id: Option<String>,
    /// For `done`: the results, an object (absent for commands that have none).
    pub results: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandState {
    Done,
    InProgress,
}

#[derive(Deserialize)]
struct CommandFields {
    state: Option<String>,
    id: Option<CommandId>,
    results: Option<Value>,
}

/// Some cameras send the id as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum CommandId {
    Text(String),
    Number(u64),
}

impl Command {
    /// `command`'s answer. A command object without a state is taken as done: several
    /// THETAs leave it out of quick answers such as `setOptions`.
    pub fn read(command: &str, answer: Value) -> Result<Command, AnswerError> {
        let f: CommandFields = read(command, "a command object", answer)?;
        let state = match f.state.as_deref() {
            None | Some("done") => CommandState::Done,
            Some("inProgress") => CommandState::InProgress,
            Some(other) => {
                return Err(AnswerError {
                    answer: command.to_string(),
                    part: "a state",
                    found: format!("state {:?}", clip(other)),
                });
            }
        };
        Ok(Command {
            state,
            id: f.id.map(|id| match id {
                CommandId::Text(s) => s,
                CommandId::Number(n) => n.to_string(),
            }),
            results: f.results,
        })
    }

    /// The results, read as a `T` (a missing `results` reads as `null`).
    pub fn results<T: DeserializeOwned>(&self, command: &str) -> Result<T, AnswerError> {
        read(
            command,
            "results",
            self.results.clone().unwrap_or(Value::Null),
        )
    }
}

/// `camera.getOptions` results.
#[derive(Deserialize)]
pub struct OptionsResults {
    pub options: Object,
}

/// `camera.startSession` results (OSC API level 1).
#[derive(Deserialize)]
pub struct SessionResults {
    #[serde(rename = "sessionId")]
    pub session_id: String,
}

/// `camera.takePicture` results, once done.
#[derive(Deserialize)]
pub struct PictureResults {
    #[serde(rename = "fileUrl")]
    pub file_url: String,
}

/// `camera.listFiles` results: each entry an object, passed on with what it holds.
#[derive(Deserialize)]
pub struct FileList {
    #[serde(default)]
    pub entries: Vec<Object>,
    #[serde(rename = "totalEntries")]
    pub total_entries: Option<u64>,
}

/// An OSC error object's code and message, as far as the camera gave them as text.
pub fn error_of(answer: Option<&Value>) -> (Option<String>, Option<String>) {
    let error = answer.and_then(|v| v.get("error"));
    let field = |name: &str| {
        error
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(clip)
    };
    (field("code"), field("message"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_issues_shapes_are_errors_not_panics() {
        assert!(State::read(json!({"state": "x"})).is_err());
        assert!(State::read(json!({"state": [1]})).is_err());
        let options = Command::read("camera.getOptions", json!({"results": "x"})).unwrap();
        assert!(
            options
                .results::<OptionsResults>("camera.getOptions")
                .is_err()
        );
        assert!(Command::read("camera.getOptions", json!([])).is_err());
        let files = Command::read("camera.listFiles", json!({"results": {"entries": [1]}}));
        assert!(
            files
                .unwrap()
                .results::<FileList>("camera.listFiles")
                .is_err()
        );
        let files = Command::read("camera.listFiles", json!({"results": 7})).unwrap();
        let e = files.results::<FileList>("camera.listFiles").err().unwrap();
        assert_eq!(
            e.to_string(),
            "it answered camera.listFiles with results not of the shape OSC gives them \
             (invalid type: integer `7`, expected struct FileList)"
        );
    }

    #[test]
    fn a_camera_s_long_words_are_clipped() {
        let long = "é".repeat(10_000);
        let e = Command::read("camera.x", json!({ "state": long })).unwrap_err();
        assert!(e.to_string().chars().count() < 400, "{e}");
    }

    #[test]
    fn real_answers_read() {
        let info = Info::read(
            json!({"model": "RICOH THETA Z1", "firmwareVersion": "3.10.1",
            "apiLevel": [2], "endpoints": {"httpPort": 80}}),
        )
        .unwrap();
        assert_eq!(info.model.as_deref(), Some("RICOH THETA Z1"));
        assert_eq!(info.api_level, [2]);
        let state = State::read(
            json!({"fingerprint": "FIG_1", "state": {"batteryLevel": 0.8,
            "_cameraError": ["HIGH_TEMPERATURE"], "_boardTemp": 41}}),
        )
        .unwrap();
        assert_eq!(state.battery_level, Some(0.8));
        assert_eq!(state.board_temp, Some(41.0));
        assert_eq!(state.camera_errors, ["HIGH_TEMPERATURE"]);
        let c = Command::read(
            "camera.takePicture",
            json!({"state": "inProgress", "id": 7}),
        );
        assert_eq!(c.unwrap().id.as_deref(), Some("7"));
    }
}

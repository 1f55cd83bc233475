//! The camera's sleep and power-off timers, in OSC's words: which options they are,
//! what "never" is on each model, reading them and setting them. What the relay does
//! with them (keep them at "never" while it runs, remember and put back the camera's
//! own) is `relay::control`'s.

use crate::camera::answers::Object;
use crate::camera::client::Camera;
use crate::camera::errors::OscError;
use serde_json::{Value, json};

/// The camera's "never" for `sleepDelay` and `offDelay`.
pub const TIMER_NEVER: u64 = 65535;
/// The timers the relay keeps at "never" while it runs; `_offDelayUSB` only where the
/// camera has it (THETA A1).
pub const TIMERS: [&str; 2] = ["sleepDelay", "offDelay"];
pub const USB_TIMER: &str = "_offDelayUSB";
/// The longest timer a camera lists (a Z1's offDelay: a week); a kept value beyond it
/// was not written by the relay.
pub const MAX_TIMER_SECONDS: u64 = 604_800;

/// Whether a timer's value means "never": 65535, or 0 as a V or later reads it back (and
/// as an X or Z1 lists it).
pub fn is_never(value: &Value) -> bool {
    matches!(value.as_u64(), Some(0) | Some(TIMER_NEVER))
}

/// A timer's "never" from the values the camera lists for it: 65535 where the list has
/// it (or there is no list: the spec's word), else 0 where the list has that (RICOH's X
/// and Z1 list 0 and not 65535), else 65535.
pub fn never_of(listed: Option<&[Value]>) -> u64 {
    let has = |n: u64| listed.is_some_and(|l| l.iter().any(|v| v.as_u64() == Some(n)));
    if listed.is_none() || has(TIMER_NEVER) || !has(0) {
        TIMER_NEVER
    } else {
        0
    }
}

/// The timers asked for, of what the camera answered: another option it added, or a
/// timer that is not a number of seconds, is neither set nor put back.
pub fn timers_in(options: Object, asked: &[&str]) -> Object {
    options
        .into_iter()
        .filter(|(name, value)| asked.contains(&name.as_str()) && value.is_u64())
        .collect()
}

/// The timers named `names`, read now.
pub fn read(camera: &Camera, names: &[&str]) -> Result<Object, OscError> {
    Ok(timers_in(camera.options(names)?, names))
}

/// The camera's timers the relay keeps: sleep and power-off, and the USB power-off
/// where the camera has it (only an A1 does; asking others for it is an error).
pub fn read_all(camera: &Camera) -> Result<Object, OscError> {
    let mut found = read(camera, &TIMERS)?;
    if let Ok(usb) = camera.options(&[USB_TIMER]) {
        found.extend(timers_in(usb, &[USB_TIMER]));
    }
    Ok(found)
}

/// Each of `timers`' "never" as this camera lists it (a camera without support lists,
/// or that refuses the question, gets 65535).
pub fn never_values(camera: &Camera, timers: &Object) -> Object {
    let names: Vec<String> = timers.keys().map(|k| format!("{k}Support")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let supports = camera.options(&names).unwrap_or_default();
    timers
        .keys()
        .map(|k| {
            let listed = supports
                .get(&format!("{k}Support"))
                .and_then(Value::as_array);
            (k.clone(), json!(never_of(listed.map(Vec::as_slice))))
        })
        .collect()
}

/// Sets those of `current` not at "never" to `never`'s value for them; `Ok(false)`,
/// without a word to the camera, when all are "never" already.
pub fn set_never(camera: &Camera, current: &Object, never: &Object) -> Result<bool, OscError> {
    let to_set: Object = current
        .iter()
        .filter(|(_, v)| !is_never(v))
        .map(|(k, _)| {
            (
                k.clone(),
                never.get(k).cloned().unwrap_or(json!(TIMER_NEVER)),
            )
        })
        .collect();
    if to_set.is_empty() {
        return Ok(false);
    }
    camera.set_options(Value::Object(to_set)).map(|()| true)
}

/// Puts back `saved` (the camera's own timers); `Ok(false)`, without a word to the
/// camera, when they were all "never" anyway.
pub fn put_back(camera: &Camera, saved: Object) -> Result<bool, OscError> {
    let saved: Object = saved.into_iter().filter(|(_, v)| !is_never(v)).collect();
    if saved.is_empty() {
        return Ok(false);
    }
    // A V or later reads "never" back as 0, which setOptions does not take for sleepDelay.
    let options: Object = saved
        .iter()
        .map(|(k, v)| {
            let never = k == "sleepDelay" && v.as_u64() == Some(0);
            (
                k.clone(),
                if never { json!(TIMER_NEVER) } else { v.clone() },
            )
        })
        .collect();
    camera.set_options(Value::Object(options)).map(|()| true)
}

/// Of timers kept on disk by an earlier run, those a camera could have had: only the
/// timers the relay writes, each a number of seconds a camera takes.
pub fn plausible(kept: Object) -> Object {
    timers_in(kept, &[TIMERS[0], TIMERS[1], USB_TIMER])
        .into_iter()
        .filter(|(_, v)| v.as_u64().is_some_and(|n| n <= MAX_TIMER_SECONDS))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_is_taken_from_the_list_the_camera_gives() {
        let list = |values: &[u64]| values.iter().map(|v| json!(v)).collect::<Vec<_>>();
        // An X's offDelaySupport: 0 and 3600 to 172800, no 65535.
        assert_eq!(never_of(Some(&list(&[0, 3600, 7200, 172_800]))), 0);
        assert_eq!(never_of(Some(&list(&[60, 120, 65535]))), TIMER_NEVER);
        assert_eq!(never_of(Some(&list(&[60, 120]))), TIMER_NEVER);
        assert_eq!(never_of(None), TIMER_NEVER);
    }
}

//! OSC API level 2 on the cameras that start at level 1 (THETA S and SC): the
//! handshake (`camera.startSession`, then `clientVersion` 2) that lets them stream to
//! another app, and the S firmware that cannot.

use crate::camera::client::Camera;
use crate::camera::errors::OscError;

/// The THETA S firmware from which it can stream to other apps (API level 2).
const S_FIRMWARE_FOR_LEVEL_2: [u32; 2] = [1, 62];

/// THETA S and SC speak OSC API level 1 until a client sets `clientVersion` 2 in a
/// session, and fall back to it whenever their Wi-Fi link drops: so this runs before
/// every preview. `Ok(true)` when it switched the camera (options changed); cameras that
/// speak only level 2 cost one cached `/osc/info`.
pub fn speak_api_level_2(camera: &Camera) -> Result<bool, OscError> {
    // A camera that does not say (or says it badly) is taken to speak level 2; opening
    // the preview tells the rest.
    let Ok(info) = camera.info_cached() else {
        return Ok(false);
    };
    let speaks_level_1 = info.api_level.contains(&1);
    if !speaks_level_1 {
        return Ok(false);
    }
    let model = info.model.as_deref().unwrap_or_default();
    let firmware = info.firmware_version.as_deref().unwrap_or_default();
    let version: Vec<u32> = firmware
        .split('.')
        .map(|part| part.trim().parse().unwrap_or(0))
        .collect();
    if model == "RICOH THETA S" && version.as_slice() < &S_FIRMWARE_FOR_LEVEL_2[..] {
        return Err(OscError::FirmwareTooOld {
            camera: camera.addr().host_port(),
            firmware: firmware.to_string(),
        });
    }
    let Ok(state) = camera.state() else {
        return Ok(false);
    };
    if state.api_version != Some(1) {
        return Ok(false);
    }
    let session = camera.start_session()?;
    camera.set_client_version_2(&session)?;
    Ok(true)
}

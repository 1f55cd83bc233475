//! The values flags and the config file take, each checked in one place: a camera's
//! address, a port, sizes and rates, and every whole number within its range.

use crate::formats::osc::PreviewFormat;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// A whole number within `range`; otherwise the sentence "`takes` from LO to HI (got 'S')",
/// so `takes` names the flag and its unit ("--lost-after takes seconds").
pub fn number_in(s: &str, range: RangeInclusive<u64>, takes: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{takes} from {} to {} (got '{s}')",
            range.start(),
            range.end()
        )),
    }
}

/// Whole seconds within `range`, for the flag named.
pub fn seconds_in(s: &str, range: RangeInclusive<u64>, flag: &str) -> Result<Duration, String> {
    number_in(s, range, &format!("{flag} takes seconds")).map(Duration::from_secs)
}

pub fn preview_format(s: &str) -> Result<PreviewFormat, String> {
    PreviewFormat::parse(s).ok_or_else(|| {
        format!("--preview takes WIDTHxHEIGHT@FPS, e.g. 1024x512@30 or 1920x960@8 (got '{s}')")
    })
}

/// A host name `--allow-host` accepts, lower-cased without its final dot, or `*`.
pub fn host_name(s: &str) -> Result<String, String> {
    let name = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = name == "*"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "--allow-host takes a host name like camera.example.org, or '*' (got '{s}')"
        ))
    }
}

/// A port given as text.
pub fn port_text(s: &str) -> Result<u16, String> {
    s.parse::<u64>()
        .map_err(|_| format!("'{s}' is not a port number (1-65535)"))
        .and_then(port)
}

/// A picture size like `1024x512`, 16 to 8192 pixels a side.
pub fn size(s: &str) -> Result<(u16, u16), String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)));
    match parsed {
        Some((w, h)) if (16..=8192).contains(&w) && (16..=8192).contains(&h) => Ok((w, h)),
        _ => Err(format!(
            "'{s}' is not a size like 1024x512 (16 to 8192 pixels a side)"
        )),
    }
}

/// A camera's host: an IP address, or a host name (letters, digits, `-`, `_`, `.`).
/// Anything else (a URL, a path, a space) is a mistake, not a name to look up.
pub fn camera_host(s: &str) -> Result<String, String> {
    let host = s.trim();
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if name_ok || host.parse::<IpAddr>().is_ok() {
        Ok(host.to_string())
    } else {
        Err(format!(
            "'{s}' is not a camera address: give an IP address like 192.168.0.101 or a name like THETAYN10010104.local"
        ))
    }
}

/// A TCP port a camera can listen on: 1 to 65535.
pub fn port(n: u64) -> Result<u16, String> {
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("'{n}' is not a port number (1-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        for good in [
            "192.168.0.101",
            "THETAYN10010104.local",
            "theta-1",
            "fe80::1",
        ] {
            assert_eq!(camera_host(good).as_deref(), Ok(good));
        }
        for bad in ["", "http://192.168.1.1", "a/b", "a b", "x?y"] {
            assert!(camera_host(bad).is_err(), "{bad}");
        }
        assert_eq!(port(80), Ok(80));
        assert!(port(0).is_err());
        assert!(port(70000).is_err());
    }
}

//! Values the flags and the config file share, checked the same way in both: a camera's
//! address and a port.

use std::net::IpAddr;

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

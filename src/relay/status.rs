//! One channel's state at one moment, as a type: built in one place
//! ([`crate::relay::channel::Channel::status`]) from what the hub, the fan-out, camera
//! control and the health watcher each keep once. `/status`, `/cameras`, `/metrics` and
//! the systemd STATUS line all read it.

use crate::camera::client::Mode;
use crate::camera::errors::OscError;
use crate::formats::flat::Mount;
use crate::relay::frame::Delivered;
use crate::relay::health::Health;
use crate::relay::hub::Counts;
use crate::relay::link::{LinkState, UpstreamState};
use crate::relay::views::ViewStatus;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ChannelStatus {
    pub name: String,
    pub mode: Mode,
    /// The camera as configured (`host:port`), and the address requests go to now.
    pub camera: String,
    pub camera_address: String,
    /// What the camera's feed counts: frames and viewers.
    pub counts: Counts,
    /// What the camera connection does, its model, and why it last failed.
    pub link: LinkState,
    /// What reached viewers.
    pub delivered: Delivered,
    pub fps: f64,
    pub last_frame_age: Option<Duration>,
    /// Viewers see live camera frames (not NO SIGNAL or COOLING).
    pub online: bool,
    pub health: Health,
    /// While an overheated camera's preview is closed: how much longer.
    pub cooling_left: Option<Duration>,
    /// The camera's flat views, and its frames that did not decode for them.
    pub views: Vec<ViewStatus>,
    /// How the camera hangs (the page turns its sphere by it too).
    pub mount: Mount,
    pub view_decode_failures: u64,
}

impl ChannelStatus {
    pub fn upstream(&self) -> UpstreamState {
        self.link.upstream
    }

    /// Why viewers do not see live frames, in words; `None` while they do.
    pub fn offline_reason(&self) -> Option<String> {
        if self.online {
            return None;
        }
        Some(match (self.link.upstream, &self.link.last_error) {
            (UpstreamState::Cooling, _) => format!(
                "the camera overheated ({}); its preview is closed to let it cool down for {:.0} s more",
                self.health.errors.join(", "),
                self.cooling_left.unwrap_or_default().as_secs_f64()
            ),
            (UpstreamState::Idle, Some(e @ OscError::Unreachable { .. })) => {
                format!("nobody is watching, and the camera does not answer: {e}")
            }
            (UpstreamState::Idle, _) => {
                "nobody is watching, so the camera connection is closed".to_string()
            }
            (UpstreamState::Connecting, None) => "connecting to the camera".to_string(),
            (UpstreamState::Streaming, _) => match self.last_frame_age {
                Some(age) => format!(
                    "the camera has sent no frame for {:.0} s",
                    age.as_secs_f64()
                ),
                None => "the camera has not sent a frame yet".to_string(),
            },
            (_, Some(e)) => e.to_string(),
            (UpstreamState::Retrying, None) => "reconnecting to the camera".to_string(),
        })
    }

    /// One line for a service manager: what the relay does now.
    pub fn summary(&self) -> String {
        let (s, viewers) = (&self.link, self.counts.viewers);
        match s.upstream {
            UpstreamState::Idle => match &s.last_error {
                Some(e @ OscError::Unreachable { .. }) => {
                    format!("idle: nobody is watching; camera unreachable: {e}")
                }
                _ => "idle: nobody is watching".to_string(),
            },
            UpstreamState::Cooling => format!(
                "cooling down: the camera reports {}",
                self.health.errors.join(", ")
            ),
            UpstreamState::Streaming if s.last_error.is_none() => format!(
                "streaming {:.0} fps to {} viewer{}",
                self.fps,
                viewers,
                if viewers == 1 { "" } else { "s" }
            ),
            _ => match &s.last_error {
                Some(e @ OscError::Unreachable { .. }) => format!("camera unreachable: {e}"),
                Some(e) => format!("reconnecting: {e}"),
                None => "connecting to the camera".to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::link::LinkState;

    fn status(link: LinkState, online: bool) -> ChannelStatus {
        ChannelStatus {
            name: "main".into(),
            mode: Mode::Direct,
            camera: "192.0.2.1:80".into(),
            camera_address: "192.0.2.1:80".into(),
            counts: Counts::default(),
            link,
            delivered: Delivered::default(),
            fps: 0.0,
            last_frame_age: None,
            online,
            health: Health::default(),
            cooling_left: None,
            views: Vec::new(),
            mount: Mount::default(),
            view_decode_failures: 0,
        }
    }

    #[test]
    fn the_offline_reason_says_what_the_camera_link_does() {
        let idle = status(LinkState::default(), false);
        assert!(
            idle.offline_reason()
                .unwrap()
                .contains("nobody is watching")
        );
        assert_eq!(idle.summary(), "idle: nobody is watching");
        let refused = OscError::Unreachable {
            camera: "192.0.2.1:80".into(),
            detail: "Connection refused".into(),
            set_in: Default::default(),
        };
        let retrying = status(
            LinkState {
                upstream: UpstreamState::Retrying,
                last_error: Some(refused.clone()),
                ..LinkState::default()
            },
            false,
        );
        assert_eq!(retrying.offline_reason(), Some(refused.to_string()));
        assert!(retrying.summary().starts_with("camera unreachable: "));
        let idle_unreachable = status(
            LinkState {
                last_error: Some(refused.clone()),
                ..LinkState::default()
            },
            false,
        );
        assert!(
            idle_unreachable
                .summary()
                .starts_with("idle: nobody is watching; camera unreachable")
        );
        assert!(
            idle_unreachable
                .offline_reason()
                .unwrap()
                .contains("does not answer")
        );
        let streaming = status(
            LinkState {
                upstream: UpstreamState::Streaming,
                ..LinkState::default()
            },
            true,
        );
        assert_eq!(streaming.offline_reason(), None);
        assert_eq!(streaming.summary(), "streaming 0 fps to 0 viewers");
    }
}

//! The simulated camera's own life, on a clock it is given (`time_scale` camera seconds
//! per real second), written from the camera's side of what a THETA does:
//!
//! - it falls asleep after `sleepDelay` with no command and no open preview, and the
//!   first command after that only wakes it (it is refused, as a waking THETA may);
//! - asleep for `offDelay`, it switches itself off: its port closes, its DNS-SD
//!   responder falls silent; it comes back only by a power cycle, with factory timers;
//! - its board heats while the preview runs and cools when it stops; above
//!   [`WARNING_C`] it reports `HIGH_TEMPERATURE_WARNING`, above [`HIGH_C`]
//!   `HIGH_TEMPERATURE`, and a preview left open that hot for [`HOT_GRACE_SECS`]
//!   switches it off (a Z1 does).
//!
//! "Never" is 0 for both timers, as a THETA V or later reads it back.

use crate::sim::Timers;
use crate::sync::Locked;
use std::sync::Mutex;
use std::time::Instant;

/// The board's temperature at rest, °C.
pub const AMBIENT_C: f64 = 38.0;
/// `HIGH_TEMPERATURE_WARNING` from here on.
pub const WARNING_C: f64 = 60.0;
/// `HIGH_TEMPERATURE` from here on.
pub const HIGH_C: f64 = 70.0;
/// A preview kept open this many camera seconds above [`HIGH_C`] switches the camera off.
pub const HOT_GRACE_SECS: f64 = 180.0;

/// How a camera's life runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifeConfig {
    /// SimCamera seconds per real second.
    pub time_scale: f64,
    /// The timers it has out of the box, and again after every power cycle.
    pub factory: Timers,
    /// °C per camera minute while the preview runs, and while it does not.
    pub heat_per_minute: f64,
    pub cool_per_minute: f64,
}

impl Default for LifeConfig {
    /// A Z1 in a warm room, at real speed.
    fn default() -> Self {
        LifeConfig {
            time_scale: 1.0,
            factory: crate::sim::FACTORY_TIMERS,
            heat_per_minute: 1.0,
            cool_per_minute: 2.0,
        }
    }
}

/// Why the camera switched itself off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOff {
    /// Asleep for `offDelay`.
    Timers,
    /// Streaming too long too hot.
    Heat,
}

/// What the camera's life is now.
pub struct Life {
    config: LifeConfig,
    state: Mutex<LifeState>,
}

struct LifeState {
    /// The camera clock, in camera seconds since power-on, and when it was last read.
    now: f64,
    read_at: Instant,
    /// SimCamera time of the last command or of the end of the last preview.
    last_activity: f64,
    asleep_since: Option<f64>,
    board_temp: f64,
    hot_since: Option<f64>,
    off: Option<PowerOff>,
}

/// What [`Life::advance`] found: what to do about it is the simulator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    FellAsleep,
    SwitchedOff(PowerOff),
}

impl Life {
    pub fn new(config: LifeConfig) -> Life {
        Life {
            config,
            state: Mutex::new(LifeState {
                now: 0.0,
                read_at: Instant::now(),
                last_activity: 0.0,
                asleep_since: None,
                board_temp: AMBIENT_C,
                hot_since: None,
                off: None,
            }),
        }
    }

    pub fn config(&self) -> &LifeConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LifeState> {
        self.state.locked()
    }

    /// Moves the camera clock to now: heat, sleep and power-off as due. `previewing`:
    /// a preview is open; `timers` the camera's (0 = never).
    pub fn advance(&self, previewing: bool, timers: Timers) -> Option<Event> {
        let mut s = self.lock();
        if s.off.is_some() {
            return None;
        }
        let dt = s.read_at.elapsed().as_secs_f64() * self.config.time_scale;
        s.read_at = Instant::now();
        s.now += dt;
        let now = s.now;
        let minutes = dt / 60.0;
        if previewing {
            s.board_temp += self.config.heat_per_minute * minutes;
            s.last_activity = now;
        } else {
            s.board_temp = (s.board_temp - self.config.cool_per_minute * minutes).max(AMBIENT_C);
        }
        match (previewing, s.board_temp > HIGH_C) {
            (true, true) => {
                let since = *s.hot_since.get_or_insert(now);
                if now - since >= HOT_GRACE_SECS {
                    s.off = Some(PowerOff::Heat);
                    return Some(Event::SwitchedOff(PowerOff::Heat));
                }
            }
            _ => s.hot_since = None,
        }
        if let Some(since) = s.asleep_since {
            if timers.off_delay != 0 && now - since >= f64::from(timers.off_delay) {
                s.off = Some(PowerOff::Timers);
                return Some(Event::SwitchedOff(PowerOff::Timers));
            }
        } else if !previewing
            && timers.sleep_delay != 0
            && now - s.last_activity >= f64::from(timers.sleep_delay)
        {
            s.asleep_since = Some(now);
            return Some(Event::FellAsleep);
        }
        None
    }

    /// A command came. `false` when it only woke the camera (and is refused).
    pub fn command(&self) -> bool {
        let mut s = self.lock();
        s.last_activity = s.now;
        s.asleep_since.take().is_none()
    }

    pub fn switched_off(&self) -> Option<PowerOff> {
        self.lock().off
    }

    /// The board's temperature and the errors it reports for it.
    pub fn heat(&self) -> (f64, Vec<&'static str>) {
        let t = self.lock().board_temp;
        let errors = if t > HIGH_C {
            vec!["HIGH_TEMPERATURE"]
        } else if t > WARNING_C {
            vec!["HIGH_TEMPERATURE_WARNING"]
        } else {
            vec![]
        };
        (t, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_then_off_then_nothing() {
        let life = Life::new(LifeConfig {
            time_scale: 1e6,
            ..LifeConfig::default()
        });
        let timers = Timers {
            sleep_delay: 60,
            off_delay: 300,
        };
        let mut events = Vec::new();
        let started = Instant::now();
        while life.switched_off().is_none() && started.elapsed().as_secs() < 2 {
            events.extend(life.advance(false, timers));
        }
        assert_eq!(
            events,
            [Event::FellAsleep, Event::SwitchedOff(PowerOff::Timers)]
        );
    }

    #[test]
    fn never_means_never_and_a_command_wakes() {
        let life = Life::new(LifeConfig {
            time_scale: 1e6,
            ..LifeConfig::default()
        });
        let never = Timers {
            sleep_delay: 0,
            off_delay: 0,
        };
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(life.advance(false, never), None);
        let soon = Timers {
            sleep_delay: 60,
            off_delay: 0,
        };
        assert_eq!(life.advance(false, soon), Some(Event::FellAsleep));
        assert!(!life.command(), "the first command only wakes it");
        assert!(life.command());
    }
}

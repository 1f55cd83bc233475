//! Every duration the relay waits for, in one value that travels with its config, the
//! way ureq keeps its `Timeouts`. Production uses [`Timeouts::default`]; tests pass
//! short ones, so they exercise the same code without waiting out real-world budgets.
//!
//! Each field says what it bounds and why its default is what it is. They come in four
//! groups: the camera (requests, the preview, retries), viewers (streams, snapshots,
//! downloads), our HTTP server, and the relay's own housekeeping (stopping, logging, the
//! lost hook). A timeout error names the budget that ran out ("within the 10 s answer
//! budget").

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    // The camera.
    /// Opening a TCP connection to the camera. A camera on the same Wi-Fi answers in
    /// milliseconds; 3 s covers a sleeping access point waking up.
    pub camera_connect: Duration,
    /// The camera's answer to a request, and each read of its stream: a camera silent
    /// this long is asleep or gone.
    pub camera_read: Duration,
    /// A whole camera answer (headers and JSON body), however slowly it drips in.
    pub camera_answer: Duration,
    /// The live preview delivering bytes but no complete frame for this long is stalled
    /// and reopened.
    pub frame_stall: Duration,
    /// From shutter to stored file when taking a picture.
    pub picture: Duration,
    /// How often a running camera command's status is asked.
    pub command_poll: Duration,
    /// RICOH's pause between `camera.setOptions` and the next preview or picture.
    pub set_options_pause: Duration,
    /// The first retry after a preview ends; later ones double up to `retry_max`.
    pub retry_first: Duration,
    pub retry_max: Duration,
    /// `/osc/info` answers are reused this long: pages poll it, the camera hardly changes.
    pub info_max_age: Duration,
    /// The camera connection stays open this long after the last viewer leaves, so a
    /// page reload does not cost a reconnect.
    pub linger: Duration,
    // Viewers.
    /// A snapshot request waits this long for a frame.
    pub snapshot_wait: Duration,
    /// A newest frame older than this is not served as a snapshot; the next is awaited.
    pub snapshot_max_age: Duration,
    /// A viewer joining gets the newest frame at once if it is at most this old.
    pub join_max_age: Duration,
    /// While the camera sends nothing, each viewer still gets a frame this often: it
    /// keeps players from giving up and finds viewers that have gone.
    pub keepalive: Duration,
    /// After this long without a camera frame, viewers see NO SIGNAL.
    pub no_signal_after: Duration,
    /// While the preview runs, the camera's state (battery, temperatures, errors) is
    /// asked at most this often: the camera answers one request at a time.
    pub health_poll: Duration,
    /// While the relay runs, whether or not anyone watches, the camera's sleep timers are
    /// read again this often (one `getOptions`) and set again if the camera lost them (a
    /// power cycle, a reset). A sleeping V sleeps after 60 s at the least, so once a minute.
    pub awake_check: Duration,
    /// A camera file download (`/camera-files/...`) as a whole; a THETA's largest video
    /// takes a few minutes over its Wi-Fi.
    pub download: Duration,
    /// A download slower than the minimum rate is cut once this long has passed (a
    /// start-up stall is forgiven).
    pub download_grace: Duration,
    // Our HTTP server.
    /// A connection must deliver a whole request head (and body) within this.
    pub request: Duration,
    /// A client that takes no bytes (or no whole part of a stream) for this long is dropped.
    pub write: Duration,
    /// With every connection taken, a new one waits this long for the oldest idle one,
    /// closed to make room, to end.
    pub eviction: Duration,
    // The relay's housekeeping.
    /// A stop waits this long for viewers to finish their part and the camera
    /// connection to close (systemd's stop timeout is far longer).
    pub stop: Duration,
    /// However late a stop begins, putting the camera's timers back gets at least this.
    pub restore_min: Duration,
    /// The same camera failure is logged again at most this often while it lasts.
    pub repeat_log: Duration,
    /// Each camera writes at most a few failure or recovery lines in this window.
    pub log_window: Duration,
    /// An `--on-camera-lost` command is killed after this.
    pub hook: Duration,
    /// After the hook exits, its output may take this long to close (something it
    /// started in the background may hold it open).
    pub hook_output: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            camera_connect: Duration::from_secs(3),
            camera_read: Duration::from_secs(5),
            camera_answer: Duration::from_secs(10),
            frame_stall: Duration::from_secs(5),
            picture: Duration::from_secs(30),
            command_poll: Duration::from_millis(250),
            set_options_pause: Duration::from_secs(1),
            retry_first: Duration::from_millis(250),
            retry_max: Duration::from_secs(5),
            info_max_age: Duration::from_secs(5),
            linger: Duration::from_secs(10),
            snapshot_wait: Duration::from_secs(5),
            snapshot_max_age: Duration::from_secs(1),
            join_max_age: Duration::from_secs(1),
            keepalive: Duration::from_secs(1),
            no_signal_after: Duration::from_secs(3),
            health_poll: Duration::from_secs(10),
            awake_check: Duration::from_secs(60),
            download: Duration::from_secs(600),
            download_grace: Duration::from_secs(10),
            request: Duration::from_secs(10),
            write: Duration::from_secs(10),
            eviction: Duration::from_millis(200),
            stop: Duration::from_millis(1500),
            restore_min: Duration::from_millis(500),
            repeat_log: Duration::from_secs(300),
            log_window: Duration::from_secs(60),
            hook: Duration::from_secs(60),
            hook_output: Duration::from_secs(1),
        }
    }
}

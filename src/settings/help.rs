//! The text `oscstream --help` prints: every flag, grouped by what it is for.

pub const HELP: &str = "\
oscstream — relay the live 360° preview of an OSC camera (RICOH THETA S, SC, V, Z1, X, SC2) to
browsers, curl, VLC, ffmpeg and home automation, over one camera connection.

USAGE:
  oscstream [OPTIONS]            relay a camera
  oscstream simulate [OPTIONS]   run only the simulated camera
  oscstream discover [--timeout SECS] [--mdns ADDR:PORT]
                                 find cameras on your network by name (DNS-SD)

MODE 1 — this computer joined the camera's own Wi-Fi (camera at 192.168.1.1:80, no login):
  oscstream

MODE 2 — the camera joined your router; every camera request uses Digest auth:
  oscstream -r -o 192.168.0.101 -p 80 --id THETAYL00103139 --pwd 00103139

TRY IT WITHOUT A CAMERA:
  oscstream --simulate

OPTIONS:
  -r, --router          the camera is on your router (Mode 2): needs -o, -p (unless -o is a
                        name), --id and a password
  -o, --host HOST       the camera's address (default 192.168.1.1), or its name:
                        THETAYN10010104.local (found by mDNS again whenever it moves)
      --mdns ADDR:PORT  send mDNS queries to this responder instead of the group
  -p, --port PORT       the camera's port (default 80)
  -i, --id ID           the camera's id, e.g. THETAYL00103139 (Mode 2)
      --pwd PASSWORD    the camera's password, e.g. 00103139 (Mode 2); never printed.
                        Any local user can read a command line: prefer one of
      --pwd-file PATH   the camera's password from the first line of PATH (chmod 600), or
                        the environment variable OSCSTREAM_PWD
      --listen ADDR     where viewers connect (default 127.0.0.1:5000; 0.0.0.0:5000 for your LAN)
      --max-viewers N   stream viewers of each camera served at once (default 64), and as
                        many again for its flat views together; more get 503
      --view-memory MIB memory the flat views may keep, all cameras together (default 192);
                        a view that would need more answers 503
      --preview WxH@FPS set the camera's preview format first, e.g. 1024x512@30, 1920x960@8
      --auth USER:PASS  HTTP Basic auth on every route (viewers and control); or
      --auth-file PATH  a USER:PASS line from PATH, or the variable OSCSTREAM_AUTH
      --read-only       refuse every POST route (no pictures, no format changes) with 403
      --cool-down SECS  when the camera reports overheating, close its preview this long
                        (default 300); viewers see a COOLING frame meanwhile
      --on-camera-lost CMD  run CMD (sh -c, with OSCSTREAM_CAMERA=host:port) when a camera
                        has failed for --lost-after SECS (default 120), then at most once
                        per that while it stays lost; e.g. 'uhubctl -a cycle -l 1-1 -p 2'
      --let-camera-sleep  leave the camera's sleep and power-off timers alone (by default
                        they are set to never while the relay runs, and put back on stop)
      --state-dir DIR   keep each camera's own timers in DIR, so that they are put back
                        even after a crash or kill -9 (default $STATE_DIRECTORY, if set)
      --allow-origin O  allow web pages from origin O to use the relay (CORS) and to
                        change the camera; other sites' pages may not
      --trust-proxy ADDR  believe this proxy's forwarding headers (an IP or CIDR,
                        repeatable; name the proxy, not a range its clients are in):
                        client addresses, the public scheme and host come from them
      --proxy-headers H   which headers that proxy writes: x-forwarded (X-Forwarded-For/
                        -Proto/-Host; nginx, Caddy, HAProxy; the default) or forwarded
                        (RFC 7239); the other kind is the client's and never read
      --allow-host NAME answer to this host name too (repeatable); IP addresses,
                        localhost and this computer's names always work; '*' any name
      --simulate [N]    relay a simulated camera (or N of them) started on free loopback
                        ports; with -r --id --pwd they demand Digest auth with those
      --config FILE     several cameras from a TOML file ([[camera]] name, host, port,
                        id, pwd_file, preview); each at /cameras/NAME/, the first also at /
  -h, --help            this text
  -V, --version         the version

SIMULATE OPTIONS (oscstream simulate):
      --listen ADDR     where the simulated camera listens (default 127.0.0.1:8080)
      --mdns ADDR:PORT  answer DNS-SD queries there (UDP), as THETAYN10010001.local
  -i, --id ID --pwd PASSWORD   demand Digest auth with these credentials
      --size WxH        preview size (default 1024x512)
      --fps N           preview framerate (default 30)
      --model NAME      'RICOH THETA Z1' (default) or 'RICOH THETA S' (API level 1 until
                        a client sets clientVersion 2; 640x320@10 only)
      --time-scale K    live a camera's life K times faster than real time: sleep after
                        sleepDelay, switch off offDelay later, heat up while streaming

Then open http://127.0.0.1:5000/public/index.html, or record at real speed:
  curl http://127.0.0.1:5000/video.mkv > theta.mkv     (Matroska, each frame stamped)
  curl http://127.0.0.1:5000/video_feed > out.mjpeg    (the MJPEG stream as it is)
Flat views (perspective, ffmpeg v360's numbers): /flat.jpg?yaw=30&pitch=-10&fov=90, or
[[camera.view]] tables in --config, each served at /cameras/NAME/views/VIEW/video_feed.
";

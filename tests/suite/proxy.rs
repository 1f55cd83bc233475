//! Proxies as people run them in front of the relay, with two clients behind them
//! (`curl --interface 127.0.0.2` and `127.0.0.3`): the docs' nginx recipe as written,
//! an nginx that writes only `Forwarded`, and HAProxy with `option forwardfor`. Needs
//! `nginx`, `haproxy` and `curl` (`.ci/run` installs them); without them a test says
//! `SKIPPED` locally and fails under `CI=true`.

use crate::common::*;
use oscstream::web::access::{Access, Net};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child; SIGTERM lets nginx stop its workers too.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The docs' server block, listening on `port` and passing to `relay`, in an
/// nginx.conf of its own under `dir`.
fn nginx_conf(dir: &Path, port: u16, relay: &str) -> String {
    let server = doc_block("nginx", "proxy_pass http://127.0.0.1:5000")
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("127.0.0.1:5000", relay);
    let dir = dir.display();
    format!(
        "daemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nevents {{}}\nhttp {{\n    access_log {dir}/access.log;\n    client_body_temp_path {dir}/body;\n    proxy_temp_path {dir}/proxy;\n    fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;\n{server}\n}}\n"
    )
}

/// Median of camera-to-viewer delays over `parts` frames of `/video_feed` through `addr`.
fn median_delay(addr: std::net::SocketAddr, parts: usize) -> Duration {
    let mut viewer = Viewer::connect_as(addr, "/video_feed", "me", "secret");
    let mut delays = Vec::new();
    while delays.len() < parts {
        let part = viewer.next_part();
        let Some((_, written_us)) = oscstream::sim::read_stamp(&part.jpeg) else {
            continue;
        };
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros();
        delays.push(Duration::from_micros(
            now_us.saturating_sub(written_us) as u64
        ));
    }
    delays.sort();
    delays[delays.len() / 2]
}

/// `curl` from `from` (a loopback address of its own), as a client behind the proxy.
fn curl(from: &str, args: &[&str]) -> String {
    let mut all = vec![
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--interface",
        from,
    ];
    all.extend_from_slice(args);
    let out = tool("curl", &all).expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_readmes_nginx_recipe_keeps_streams_prompt_the_page_working_and_lockouts_per_client() {
    if tool(NGINX, &["-v"]).is_none() || tool("curl", &["--version"]).is_none() {
        return;
    }
    let sim = start_sim_with(oscstream::sim::SimConfig {
        width: 1024,
        height: 512,
        ..sim_config()
    });
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.access = Access {
        basic_auth: Some(("me".into(), "secret".into())),
        trust_proxy: vec![Net::parse("127.0.0.1").unwrap()],
        allow_hosts: vec!["theta.home".into()],
        ..Access::default()
    };
    let relay = oscstream::app::relay::Relay::start(config).unwrap();
    let dir = temp_dir("nginx-proxy");
    let port = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&dir, port, &relay.addr().to_string())).unwrap();
    let _nginx = Nginx(
        Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    let proxy: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    wait_for(Duration::from_secs(10), "nginx to listen", || {
        std::net::TcpStream::connect(proxy).ok()
    });

    // Frames as promptly through nginx as directly (it would hold each until the next).
    let direct = median_delay(relay.addr(), 60);
    let proxied = median_delay(proxy, 60);
    println!(
        "camera-to-viewer delay, median of 60 frames: direct {direct:?}, through nginx {proxied:?}"
    );
    assert!(
        proxied < direct + Duration::from_millis(15),
        "nginx adds {:?} per frame",
        proxied.saturating_sub(direct)
    );

    // The page's POST under the public name, through the proxy.
    let public = format!("http://theta.home:{port}");
    let code = curl(
        "127.0.0.2",
        &[
            "-u",
            "me:secret",
            "-X",
            "POST",
            "-H",
            &format!("Host: theta.home:{port}"),
            "-H",
            &format!("Origin: {public}"),
            "-H",
            "Sec-Fetch-Site: same-origin",
            &format!("http://127.0.0.1:{port}/api/picture"),
        ],
    );
    assert_eq!(code, "200", "the page's Take a picture under {public}");

    // 127.0.0.2 guesses passwords, naming 127.0.0.3 in a forged X-Forwarded-For:
    // only 127.0.0.2 is locked out. (Then rotating forged headers of every kind.)
    let status_url = format!("http://127.0.0.1:{port}/status");
    let t = Instant::now();
    for _ in 0..10 {
        curl(
            "127.0.0.2",
            &[
                "-u",
                "me:wrong",
                "-H",
                "X-Forwarded-For: 127.0.0.3",
                &status_url,
            ],
        );
    }
    assert_eq!(curl("127.0.0.2", &["-u", "me:secret", &status_url]), "429");
    assert_eq!(curl("127.0.0.3", &["-u", "me:secret", &status_url]), "200");
    println!(
        "ten wrong passwords through nginx in {:?}: that client 429, the other 200",
        t.elapsed()
    );
    only_the_guesser_is_locked_out(port, "the docs' nginx", ("127.0.0.6", "127.0.0.7"));
    // Sent straight to the relay from an untrusted peer, forwarding headers are nobody's word.
    let relay_status = format!("http://{}/status", relay.addr());
    for _ in 0..10 {
        curl(
            "127.0.0.4",
            &[
                "-u",
                "me:wrong",
                "-H",
                "X-Forwarded-For: 127.0.0.5",
                &relay_status,
            ],
        );
    }
    assert_eq!(
        curl("127.0.0.4", &["-u", "me:secret", &relay_status]),
        "429"
    );
    assert_eq!(
        curl("127.0.0.5", &["-u", "me:secret", &relay_status]),
        "200"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const HAPROXY: &str = "/usr/sbin/haproxy";

/// A proxy process of the test's own, stopped when dropped.
fn run_proxy(command: &mut Command, listen: u16) -> Nginx {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the proxy starts");
    let proxy: std::net::SocketAddr = ([127, 0, 0, 1], listen).into();
    wait_for(Duration::from_secs(10), "the proxy to listen", || {
        std::net::TcpStream::connect(proxy).ok()
    });
    Nginx(child)
}

/// A relay with Basic auth behind a proxy at 127.0.0.1 that writes `headers`.
fn relay_behind_proxy(
    sim: &oscstream::sim::Simulator,
    headers: oscstream::web::forwarded::ProxyHeaders,
) -> oscstream::app::relay::Relay {
    let mut config = relay_config(camera_at(sim.addr(), None), Duration::from_secs(10));
    config.access = Access {
        basic_auth: Some(("me".into(), "secret".into())),
        trust_proxy: vec![Net::parse("127.0.0.1").unwrap()],
        proxy_headers: headers,
        allow_hosts: vec!["theta.home".into()],
        ..Access::default()
    };
    oscstream::app::relay::Relay::start(config).unwrap()
}

/// `guesser` sends ten wrong passwords through the proxy at `port`, each time with new
/// forwarding headers of its own (two X-Forwarded-For lines, a Forwarded, an obfuscated
/// name); then it is locked out, and `other` is not.
fn only_the_guesser_is_locked_out(port: u16, proxy: &str, (guesser, other): (&str, &str)) {
    let url = format!("http://127.0.0.1:{port}/status");
    for n in 1..=10 {
        let code = curl(
            guesser,
            &[
                "-u",
                "me:wrong",
                "-H",
                &format!("X-Forwarded-For: 10.9.0.{n}"),
                "-H",
                "X-Forwarded-For: 127.0.0.8",
                "-H",
                &format!("Forwarded: for=10.8.0.{n}, for=_hidden"),
                &url,
            ],
        );
        assert_eq!(code, "401", "wrong password #{n} through {proxy}");
    }
    assert_eq!(
        curl(guesser, &["-u", "me:secret", &url]),
        "429",
        "the guesser behind {proxy} is locked out"
    );
    assert_eq!(
        curl(other, &["-u", "me:secret", &url]),
        "200",
        "the other client behind {proxy} is not"
    );
}

#[test]
fn behind_haproxy_forwardfor_forged_headers_neither_escape_the_lock_out_nor_the_host_check() {
    if tool(HAPROXY, &["-v"]).is_none() || tool("curl", &["--version"]).is_none() {
        return;
    }
    let sim = start_sim();
    let relay = relay_behind_proxy(&sim, Default::default());
    let dir = temp_dir("haproxy");
    let port = free_port();
    let conf = dir.join("haproxy.cfg");
    std::fs::write(
        &conf,
        format!(
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  option forwardfor\nfrontend public\n  bind 127.0.0.1:{port}\n  default_backend relay\nbackend relay\n  server relay {}\n",
            relay.addr()
        ),
    )
    .unwrap();
    let _haproxy = run_proxy(Command::new(HAPROXY).arg("-db").arg("-f").arg(&conf), port);
    only_the_guesser_is_locked_out(port, "HAProxy", ("127.0.0.2", "127.0.0.3"));
    // HAProxy passes the client's own X-Forwarded-Host on: it never gets past Host.
    let url = format!("http://127.0.0.1:{port}/snapshot.jpg");
    for (host, forwarded_host) in [("evil.example", "127.0.0.1"), ("127.0.0.1", "evil.example")] {
        let code = curl(
            "127.0.0.3",
            &[
                "-H",
                &format!("Host: {host}"),
                "-H",
                &format!("X-Forwarded-Host: {forwarded_host}"),
                &url,
            ],
        );
        assert_eq!(
            code, "421",
            "Host {host}, X-Forwarded-Host {forwarded_host}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn behind_an_nginx_that_writes_only_forwarded_the_client_s_x_forwarded_for_is_ignored() {
    if tool(NGINX, &["-v"]).is_none() || tool("curl", &["--version"]).is_none() {
        return;
    }
    let sim = start_sim();
    let relay = relay_behind_proxy(&sim, oscstream::web::forwarded::ProxyHeaders::Forwarded);
    let dir = temp_dir("nginx-forwarded");
    let port = free_port();
    let conf = dir.join("nginx.conf");
    let recipe = nginx_conf(&dir, port, &relay.addr().to_string());
    let only_forwarded = recipe
        .lines()
        .filter(|l| !l.contains("X-Forwarded"))
        .map(|l| {
            if l.contains("proxy_set_header Host") {
                format!(
                    "{l}\n        proxy_set_header Forwarded \"for=$remote_addr;proto=$scheme\";"
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        only_forwarded.contains("proxy_set_header Forwarded"),
        "{only_forwarded}"
    );
    std::fs::write(&conf, only_forwarded).unwrap();
    let _nginx = run_proxy(
        Command::new(NGINX).arg("-p").arg(&dir).arg("-c").arg(&conf),
        port,
    );
    only_the_guesser_is_locked_out(port, "nginx writing Forwarded", ("127.0.0.2", "127.0.0.3"));
    let _ = std::fs::remove_dir_all(&dir);
}

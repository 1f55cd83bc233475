//! The README's nginx recipe, run as written in front of the relay, with two clients
//! behind it (`curl --interface 127.0.0.2` and `127.0.0.3`). Needs `nginx` and `curl`
//! (`.ci/run` installs nginx); without them it says `SKIPPED` locally and fails under
//! `CI=true`.

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

/// The README's server block, listening on `port` and passing to `relay`, in an
/// nginx.conf of its own under `dir`.
fn nginx_conf(dir: &Path, port: u16, relay: &str) -> String {
    let server = readme_block("nginx", "proxy_pass http://127.0.0.1:5000")
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
    // only 127.0.0.2 is locked out.
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

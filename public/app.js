// The page: a drag-to-look sphere drawn with WebGL from the relay's MJPEG stream, read
// by this script itself (so it knows when each frame arrives and when they stop), a
// flat view from the same frames, a camera panel and the relay's status. It reconnects
// by itself, forever, so it can hang on a wall for a year. No library and no build
// step, so it works offline on a board, under the relay's Content-Security-Policy.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const probing = params.get("probe") === "1";
const kiosk = params.get("kiosk") === "1";
// With several cameras each has its routes under /cameras/NAME/; ?camera=NAME picks one.
const cameraName = params.get("camera");
const base = cameraName ? `/cameras/${encodeURIComponent(cameraName)}` : "";
// The Routes panel names the routes of the camera on show.
for (const a of document.querySelectorAll("a[data-route]")) a.href = base + a.dataset.route;
if (cameraName) {
  document.getElementById("kiosk-link").href =
    `/public/index.html?kiosk=1&camera=${encodeURIComponent(cameraName)}`;
}
const probe = $("probe");

// Test hooks, only with ?probe=1: counts and a drawn pixel a test can read. A headless
// browser dumps the page once it has loaded, so a probed page keeps one endless image
// loading (one frame a second): the browser's own timeout then decides when to look.
if (probing) {
  const hold = new Image();
  hold.src = `${base}/video_feed?fps=1`;
}
const counts = { received: 0, superseded: 0, uploads: 0, decoding: 0, undecodable: 0, ticks: 0, errors: 0, csp: 0 };
function report(extra) {
  if (!probing) return;
  Object.assign(probe.dataset, {
    received: String(counts.received), superseded: String(counts.superseded),
    uploads: String(counts.uploads), decoding: String(counts.decoding),
    undecodable: String(counts.undecodable), pending: String(newest ? 1 : 0),
    ticks: String(counts.ticks), frames: String(counts.uploads),
    errors: String(counts.errors), csp: String(counts.csp), ...extra,
  });
}
window.addEventListener("error", () => { counts.errors++; report(); });
window.addEventListener("unhandledrejection", () => { counts.errors++; report(); });
if (window.ReportingObserver) {
  // Content-Security-Policy violations, including those from before this script ran.
  new ReportingObserver((reports) => { counts.csp += reports.length; report(); },
    { types: ["csp-violation"], buffered: true }).observe();
}

// One line for screen readers, for real changes only (online, offline, picture saved).
let lastAnnounced = "";
function announce(text) {
  if (text === lastAnnounced) return;
  lastAnnounced = text;
  $("announce").textContent = text;
}

// ---------- the stream ----------

const NO_FRAME_RECONNECT_MS = 3000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 5000;
const HIDDEN_FPS = 1;
const CRLF2 = [13, 10, 13, 10];

// Parts of a multipart/x-mixed-replace body, framed by Content-Length as the relay
// writes them: bytes go in as they come, whole parts come out.
class PartReader {
  constructor() { this.buf = new Uint8Array(1 << 16); this.len = 0; }
  push(chunk) {
    if (this.len + chunk.length > this.buf.length) {
      let size = this.buf.length;
      while (size < this.len + chunk.length) size *= 2;
      const bigger = new Uint8Array(size);
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
  }
  next() {
    const headEnd = indexOf(this.buf, this.len, CRLF2);
    if (headEnd < 0) {
      if (this.len > 16384) throw new Error("a part head longer than 16 KiB");
      return null;
    }
    const head = new TextDecoder().decode(this.buf.subarray(0, headEnd));
    const length = /content-length:\s*(\d+)/i.exec(head);
    if (!length) throw new Error("a part without Content-Length");
    const start = headEnd + 4;
    const end = start + Number(length[1]);
    if (this.len < end) return null;
    const jpeg = this.buf.slice(start, end);
    const stamp = /x-timestamp:\s*([\d.]+)/i.exec(head);
    this.buf.copyWithin(0, end, this.len);
    this.len -= end;
    return { jpeg, timestamp: stamp ? Number(stamp[1]) : null };
  }
}

function indexOf(buf, len, needle) {
  outer: for (let i = 0; i + needle.length <= len; i++) {
    for (let j = 0; j < needle.length; j++) if (buf[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const stream = {
  controller: null, lastFrameAt: 0, backoff: BACKOFF_FIRST_MS, connected: false,
  arrivals: [], delay: null, everConnected: false,
};
let newest = null; // the newest decoded frame (ImageBitmap) not yet drawn
let drawnFrame = null; // the frame the texture holds now

async function readStream() {
  for (;;) {
    const controller = new AbortController();
    stream.controller = controller;
    const query = document.hidden ? `?fps=${HIDDEN_FPS}` : "";
    try {
      const response = await fetch(`${base}/video_feed${query}`, { cache: "no-store", signal: controller.signal });
      if (!response.ok) throw new Error(`the stream answered ${response.status}`);
      const reader = response.body.getReader();
      const parts = new PartReader();
      stream.lastFrameAt = performance.now();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parts.push(value);
        for (let part = parts.next(); part; part = parts.next()) onPart(part);
      }
    } catch (e) {
      // Aborted on purpose (no frames, tab hidden or shown) or the relay went away.
    }
    if (stream.controller === controller) {
      stream.connected = false;
      $("badge").hidden = false;
      await new Promise((resolve) => setTimeout(resolve, stream.backoff));
      stream.backoff = Math.min(stream.backoff * 2, BACKOFF_MAX_MS);
    }
  }
}

function onPart(part) {
  const now = performance.now();
  stream.lastFrameAt = now;
  stream.backoff = BACKOFF_FIRST_MS;
  if (!stream.connected) {
    stream.connected = true;
    $("badge").hidden = true;
    // The relay or the camera may have changed while we were away.
    if (stream.everConnected) refreshCamera();
    stream.everConnected = true;
  }
  counts.received++;
  stream.arrivals.push(now);
  if (stream.arrivals.length > 30) stream.arrivals.shift();
  if (part.timestamp) stream.delay = Date.now() / 1000 - part.timestamp;
  const blob = new Blob([part.jpeg], { type: "image/jpeg" });
  if (view.flat || !gl) {
    showFlat(blob);
    return;
  }
  counts.decoding++;
  createImageBitmap(blob).then((bitmap) => {
    counts.decoding--;
    // A frame not drawn yet is replaced by the newer one: the view shows the newest.
    if (newest) { newest.close(); counts.superseded++; }
    newest = bitmap;
  }, () => { counts.decoding--; counts.undecodable++; });
}

// No frame for a while means the connection is dead even if TCP has not noticed.
setInterval(() => {
  if (stream.controller && performance.now() - stream.lastFrameAt > NO_FRAME_RECONNECT_MS) {
    stream.lastFrameAt = performance.now();
    stream.controller.abort();
  }
  const a = stream.arrivals;
  const fps = a.length > 1 && performance.now() - a[a.length - 1] < 2000
    ? ((a.length - 1) * 1000) / (a[a.length - 1] - a[0]) : 0;
  const delay = stream.delay === null ? "" : ` · ${Math.max(0, stream.delay * 1000).toFixed(0)} ms behind`;
  $("stream-facts").textContent = stream.connected ? `${fps.toFixed(0)} fps${delay}` : "";
}, 500);

// A hidden tab asks for one frame a second; shown again, for all of them.
document.addEventListener("visibilitychange", () => {
  if (stream.controller) stream.controller.abort();
});

let flatUrl = null;
function showFlat(blob) {
  const url = URL.createObjectURL(blob);
  const img = $("flat");
  img.onload = () => { if (flatUrl && flatUrl !== url) URL.revokeObjectURL(flatUrl); flatUrl = url; };
  img.src = url;
}

// ---------- the sphere ----------

const canvas = $("sphere");
// mount: how the camera hangs (the config's yaw_, pitch_, roll_offset) as a GL mat3.
const view = { yaw: 0, pitch: 0, fov: 90, flat: false, dirty: true, mount: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
let gl = null;
let uniforms = null;

const VERTEX = `
attribute vec2 corner;
varying vec2 screen;
void main() { screen = corner; gl_Position = vec4(corner, 0.0, 1.0); }`;

// For each pixel: the direction it looks in, then that direction's longitude and
// latitude are the coordinates in the equirectangular picture.
const FRAGMENT = `
precision highp float;
varying vec2 screen;
uniform sampler2D picture;
uniform float yaw, pitch, tanHalfFov, aspect;
uniform mat3 mount;
const float PI = 3.14159265358979;
void main() {
  vec3 d = normalize(vec3(screen.x * tanHalfFov * aspect, screen.y * tanHalfFov, -1.0));
  float cp = cos(pitch), sp = sin(pitch);
  d = vec3(d.x, d.y * cp + d.z * sp, -d.y * sp + d.z * cp);
  float cy = cos(yaw), sy = sin(yaw);
  d = vec3(d.x * cy - d.z * sy, d.y, d.x * sy + d.z * cy);
  // Into ffmpeg v360's axes (x right, y down, z ahead), where the mount turns it.
  vec3 f = mount * vec3(d.x, -d.y, -d.z);
  float lon = atan(f.x, f.z);
  float lat = -asin(clamp(f.y, -1.0, 1.0));
  vec2 uv = vec2(fract(lon / (2.0 * PI) + 0.5), 0.5 - lat / PI);
  gl_FragColor = texture2D(picture, uv);
}`;

// Sets WebGL up; on any failure the flat view takes over with a one-line note, and the
// panels go on working.
function initSphere() {
  const context = canvas.getContext("webgl", { antialias: false });
  if (!context) throw new Error("this browser offers no WebGL");
  const compile = (type, source) => {
    const shader = context.createShader(type);
    context.shaderSource(shader, source);
    context.compileShader(shader);
    if (!context.getShaderParameter(shader, context.COMPILE_STATUS)) {
      throw new Error(`shader: ${context.getShaderInfoLog(shader)}`);
    }
    return shader;
  };
  const program = context.createProgram();
  context.attachShader(program, compile(context.VERTEX_SHADER, VERTEX));
  context.attachShader(program, compile(context.FRAGMENT_SHADER, FRAGMENT));
  context.linkProgram(program);
  if (!context.getProgramParameter(program, context.LINK_STATUS)) {
    throw new Error(`shader link: ${context.getProgramInfoLog(program)}`);
  }
  context.useProgram(program);
  context.bindBuffer(context.ARRAY_BUFFER, context.createBuffer());
  context.bufferData(context.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), context.STATIC_DRAW);
  const corner = context.getAttribLocation(program, "corner");
  context.enableVertexAttribArray(corner);
  context.vertexAttribPointer(corner, 2, context.FLOAT, false, 0, 0);
  context.bindTexture(context.TEXTURE_2D, context.createTexture());
  // Clamp + no mipmaps works for any picture size in WebGL 1; the shader wraps longitude.
  context.texParameteri(context.TEXTURE_2D, context.TEXTURE_WRAP_S, context.CLAMP_TO_EDGE);
  context.texParameteri(context.TEXTURE_2D, context.TEXTURE_WRAP_T, context.CLAMP_TO_EDGE);
  context.texParameteri(context.TEXTURE_2D, context.TEXTURE_MIN_FILTER, context.LINEAR);
  context.texParameteri(context.TEXTURE_2D, context.TEXTURE_MAG_FILTER, context.LINEAR);
  uniforms = Object.fromEntries(["yaw", "pitch", "tanHalfFov", "aspect", "mount"]
    .map((name) => [name, context.getUniformLocation(program, name)]));
  gl = context;
  drawnFrame = null;
  view.dirty = true;
}

function sphereUnavailable(reason) {
  gl = null;
  $("gl-note").textContent = `The 3D view is not available (${reason}); showing the flat picture.`;
  $("gl-note").hidden = false;
  setFlat(true);
  $("toggle-flat").disabled = true;
  report({ flat: "true" });
}

try {
  initSphere();
} catch (e) {
  sphereUnavailable(e.message);
}

canvas.addEventListener("webglcontextlost", (e) => {
  e.preventDefault(); // ask for it back
  gl = null;
  $("gl-note").textContent = "The 3D view was lost; showing the flat picture until it is back.";
  $("gl-note").hidden = false;
  setFlat(true);
});
canvas.addEventListener("webglcontextrestored", () => {
  try {
    initSphere();
    $("gl-note").hidden = true;
    setFlat(false);
  } catch (e) {
    sphereUnavailable(e.message);
  }
});

// Draws only when something changed: a new frame (uploaded once) or a new view angle.
function draw() {
  requestAnimationFrame(draw);
  counts.ticks++;
  if (!gl || view.flat) return;
  const fresh = newest;
  if (!fresh && !view.dirty) return;
  const w = Math.round(canvas.clientWidth * devicePixelRatio);
  const h = Math.round(canvas.clientHeight * devicePixelRatio);
  if (w === 0 || h === 0) return;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  if (fresh) {
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, fresh);
    if (drawnFrame) drawnFrame.close();
    drawnFrame = fresh;
    newest = null;
    counts.uploads++;
  }
  if (!drawnFrame) return;
  view.dirty = false;
  gl.viewport(0, 0, w, h);
  gl.uniform1f(uniforms.yaw, view.yaw);
  gl.uniform1f(uniforms.pitch, view.pitch);
  gl.uniform1f(uniforms.tanHalfFov, Math.tan(view.fov * Math.PI / 360));
  gl.uniform1f(uniforms.aspect, w / h);
  gl.uniformMatrix3fv(uniforms.mount, false, view.mount);
  gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  if (probing && fresh) {
    // Read the middle pixel back: proof that the live picture reached the canvas.
    const px = new Uint8Array(4);
    gl.readPixels(w >> 1, h >> 1, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    report({ nonblank: String(px[0] + px[1] + px[2] > 0), pixel: px.slice(0, 3).join(",") });
  }
}
requestAnimationFrame(draw);
if (probing) setInterval(() => report(), 250);

function look(dYaw, dPitch) {
  view.yaw = (view.yaw + dYaw) % (2 * Math.PI);
  view.pitch = Math.max(-1.55, Math.min(1.55, view.pitch + dPitch));
  view.dirty = true;
  showFinder();
}
function zoom(factor) {
  view.fov = Math.max(30, Math.min(120, view.fov * factor));
  view.dirty = true;
  showFinder();
}

const pointers = new Map();
let pinchDistance = 0;
canvas.addEventListener("pointerdown", (e) => {
  canvas.setPointerCapture(e.pointerId);
  pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
});
canvas.addEventListener("pointermove", (e) => {
  const last = pointers.get(e.pointerId);
  if (!last) return;
  const now = { x: e.clientX, y: e.clientY };
  pointers.set(e.pointerId, now);
  if (pointers.size === 1) {
    const perPixel = (view.fov * Math.PI / 180) / canvas.clientHeight;
    look(-(now.x - last.x) * perPixel, (now.y - last.y) * perPixel);
  } else if (pointers.size === 2) {
    const [a, b] = [...pointers.values()];
    const distance = Math.hypot(a.x - b.x, a.y - b.y);
    if (pinchDistance > 0) zoom(pinchDistance / distance);
    pinchDistance = distance;
  }
});
const release = (e) => { pointers.delete(e.pointerId); pinchDistance = 0; };
canvas.addEventListener("pointerup", release);
canvas.addEventListener("pointercancel", release);
canvas.addEventListener("wheel", (e) => { e.preventDefault(); zoom(Math.exp(e.deltaY * 0.001)); }, { passive: false });
canvas.addEventListener("keydown", (e) => {
  const step = 0.1;
  const keys = {
    ArrowLeft: () => look(step, 0), ArrowRight: () => look(-step, 0),
    ArrowUp: () => look(0, step), ArrowDown: () => look(0, -step),
    "+": () => zoom(0.9), "=": () => zoom(0.9), "-": () => zoom(1.1),
  };
  if (keys[e.key]) { keys[e.key](); e.preventDefault(); }
});
new ResizeObserver(() => { view.dirty = true; }).observe(canvas);

// The toggle keeps its label; its state is aria-pressed.
function setFlat(flat) {
  view.flat = flat;
  view.dirty = true;
  $("flat").hidden = !flat;
  canvas.hidden = flat;
  $("toggle-flat").setAttribute("aria-pressed", String(flat));
}
$("toggle-flat").addEventListener("click", () => setFlat(!view.flat));
$("reset-view").addEventListener("click", () => { view.yaw = 0; view.pitch = 0; view.fov = 90; view.dirty = true; showFinder(); });

// ---------- the view finder ----------
// The sphere's direction in ffmpeg v360's numbers, as the relay's views and flat.jpg
// take them: yaw to the right, pitch up, the horizontal field of view of a 16:9 view
// (the sphere's own fov is vertical). A link #yaw=30&pitch=-10&fov=90 opens that view.

const FINDER_ASPECT = 1280 / 720;
const DEG = 180 / Math.PI;

function finderNumbers() {
  const yaw = ((view.yaw * DEG) % 360 + 540) % 360 - 180;
  const pitch = -view.pitch * DEG;
  const fov = 2 * Math.atan(Math.tan(view.fov / 2 / DEG) * FINDER_ASPECT) * DEG;
  return { yaw: Math.round(yaw), pitch: Math.round(pitch), fov: Math.min(179, Math.max(1, Math.round(fov))) };
}

function showFinder() {
  const n = finderNumbers();
  $("finder-numbers").textContent = `yaw ${n.yaw}° · pitch ${n.pitch}° · fov ${n.fov}°`;
  $("finder-link").href = `${base}/flat.jpg?yaw=${n.yaw}&pitch=${n.pitch}&roll=0&fov=${n.fov}&width=1280&height=720`;
  $("finder-snippet").textContent =
    `[[camera.view]]\nname = "my-view"\nyaw = ${n.yaw}\npitch = ${n.pitch}\nroll = 0\nfov = ${n.fov}\nsize = "1280x720"\n# fps = 10               # optional cap; default the camera's rate`;
}

function lookFromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const num = (k) => (h.has(k) && Number.isFinite(Number(h.get(k))) ? Number(h.get(k)) : null);
  const [yaw, pitch, fov] = [num("yaw"), num("pitch"), num("fov")];
  if (yaw !== null) view.yaw = yaw / DEG;
  if (pitch !== null) view.pitch = Math.max(-1.55, Math.min(1.55, -pitch / DEG));
  if (fov !== null) view.fov = 2 * Math.atan(Math.tan(Math.min(179, Math.max(1, fov)) / 2 / DEG) / FINDER_ASPECT) * DEG;
  view.dirty = true;
  showFinder();
}
lookFromHash();
addEventListener("hashchange", lookFromHash);

// ---------- fullscreen and kiosk ----------

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else $("view").requestFullscreen().catch(() => {});
}
$("fullscreen").addEventListener("click", toggleFullscreen);
document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
  if (e.key === "f" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) toggleFullscreen();
});

if (kiosk) {
  document.body.classList.add("kiosk");
  // The cursor hides after a few seconds without moving.
  let idleTimer = null;
  const awake = () => {
    document.body.classList.remove("idle");
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => document.body.classList.add("idle"), 3000);
  };
  document.addEventListener("pointermove", awake);
  awake();
  if (probing) {
    // Checked again as the page fills in (the views and the finder come with /status).
    const kioskReport = () => {
      const others = "header, nav, #grid, .panel, .view-controls, .finder, #views";
      const shown = [...document.querySelectorAll(others)]
        .filter((el) => getComputedStyle(el).display !== "none").length;
      const stage = document.querySelector(".stage").getBoundingClientRect();
      report({
        kioskOthersShown: String(shown),
        kioskScrolls: String(document.documentElement.scrollHeight > window.innerHeight),
        kioskStage: `${Math.round(stage.width)}x${Math.round(stage.height)}`,
        kioskWindow: `${window.innerWidth}x${window.innerHeight}`,
      });
    };
    kioskReport();
    setInterval(kioskReport, 500);
  }
}

// ---------- talking to the relay ----------

async function getJson(url, options) {
  const response = await fetch(url, { cache: "no-store", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${url} answered ${response.status}`);
  return body;
}

function say(text) { $("camera-message").textContent = text; }

function fillList(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    return [dt, dd];
  }));
}

// The relay's own state: no camera round-trip, so polling costs the camera nothing.
async function refreshStatus() {
  try {
    const s = await getJson(base + "/status");
    fillList($("status"), [
      ["Camera link", s.online ? "online" : "offline"],
      ["Upstream", s.upstream],
      ["Frames per second", s.fps],
      ["Viewers", s.viewers],
      ["Reconnects", s.reconnects],
      ["Dropped parts", s.frames_dropped],
      [s.online ? "Last error" : "Why offline", (s.online ? s.last_error : s.offline_reason) || "none"],
      ...healthRows(s.health),
    ]);
    $("camera-line").textContent = `camera: ${s.camera_model || "unknown"} at ${s.camera} (${s.mode})`;
    showViews(s.views || []);
    if (s.mount) setMount(s.mount);
    announce(s.online ? "Camera online." : `Camera offline: ${s.offline_reason || "unknown"}.`);
  } catch (e) {
    $("camera-line").textContent = "camera: the relay is not answering";
    announce("The relay is not answering.");
  }
}

// ffmpeg v360's rotation for yaw, pitch and roll (its order, ypr), as the relay turns
// views by the mount; stored column by column, as GL takes a mat3.
function setMount({ yaw, pitch, roll }) {
  const [sy, cy] = [Math.sin(yaw / DEG), Math.cos(yaw / DEG)];
  const [sp, cp] = [Math.sin(pitch / DEG), Math.cos(pitch / DEG)];
  const [sr, cr] = [Math.sin(roll / DEG), Math.cos(roll / DEG)];
  const mul = (a, b) => a.map((row) => [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j]));
  const m = mul(mul([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], [[1, 0, 0], [0, cp, -sp], [0, sp, cp]]),
    [[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]);
  const columns = [0, 1, 2].flatMap((j) => [m[0][j], m[1][j], m[2][j]]);
  if (columns.some((v, i) => v !== view.mount[i])) {
    view.mount = columns;
    view.dirty = true;
  }
}

// The configured flat views, each with a thumbnail (a snapshot, renewed with the status).
function showViews(views) {
  $("views").hidden = views.length === 0;
  const list = $("views-list");
  for (const v of views) {
    let item = document.getElementById(`view-item-${v.name}`);
    if (!item) {
      item = document.createElement("li");
      item.id = `view-item-${v.name}`;
      const at = `${base}/views/${encodeURIComponent(v.name)}`;
      const link = document.createElement("a");
      link.href = `${at}/video_feed`;
      const img = document.createElement("img");
      img.id = `view-thumb-${v.name}`;
      img.alt = `Flat view ${v.name}`;
      img.width = 320;
      link.append(img);
      const facts = document.createElement("p");
      const fps = v.fps_limit ? ` · at most ${v.fps_limit} fps` : "";
      facts.textContent = `${v.name}: yaw ${v.yaw}°, pitch ${v.pitch}°, roll ${v.roll}°, fov ${v.fov}° · ${v.width}×${v.height}${fps} · `;
      for (const [label, href] of [["stream", `${at}/video_feed`], ["snapshot", `${at}/snapshot.jpg`], ["video.mkv", `${at}/video.mkv`]]) {
        const a = document.createElement("a");
        a.href = href;
        a.textContent = label;
        facts.append(a, document.createTextNode(" "));
      }
      item.append(link, facts);
      list.append(item);
    }
    document.getElementById(`view-thumb-${v.name}`).src =
      `${base}/views/${encodeURIComponent(v.name)}/snapshot.jpg?t=${Date.now()}`;
  }
}

// What the camera says of itself (the relay asks it while streaming), shown as it changes.
function healthRows(health) {
  if (!health) return [];
  const rows = [];
  const degrees = (t) => (typeof t === "number" ? `${t.toFixed(1)} °C` : null);
  if (typeof health.battery === "number") {
    rows.push(["Camera battery", `${Math.round(health.battery * 100)} %${health.battery_state ? ` (${batteryWords(health.battery_state)})` : ""}`]);
  }
  const temps = [["board", degrees(health.board_temp)], ["battery", degrees(health.battery_temp)]]
    .filter(([, t]) => t).map(([k, t]) => `${k} ${t}`);
  if (temps.length) rows.push(["Camera temperature", temps.join(", ")]);
  if (health.errors && health.errors.length) rows.push(["Camera reports", health.errors.join(", ")]);
  if (health.cooling_until) {
    const left = Math.max(0, Math.round(health.cooling_until - Date.now() / 1000));
    rows.push(["Cooling down", `${left} s more`]);
    announce(`The camera is too hot; it cools down for ${left} s.`);
  }
  return rows;
}

// The camera's info and state: once, and again after the stream reconnects.
async function refreshCamera() {
  try {
    const info = await getJson(base + "/info");
    $("camera-model").textContent = info.model || "unknown";
    $("camera-firmware").textContent = info.firmwareVersion || "unknown";
  } catch (e) {
    $("camera-model").textContent = e.message;
  }
  try {
    const state = await getJson(base + "/state");
    const battery = typeof state.batteryLevel === "number" ? `${Math.round(state.batteryLevel * 100)} %` : "unknown";
    $("camera-battery").textContent = battery + (state._batteryState ? ` (${batteryWords(state._batteryState)})` : "");
    $("camera-capture").textContent = state._captureStatus || "unknown";
  } catch (e) {
    $("camera-battery").textContent = "unknown";
  }
}

const formatText = (f) => `${f.width}×${f.height} @ ${f.framerate} fps`;

async function refreshFormats() {
  const select = $("format");
  try {
    const formats = await getJson(base + "/api/preview-formats");
    select.replaceChildren(...formats.supported.map((f) => {
      const option = document.createElement("option");
      option.value = JSON.stringify(f);
      option.textContent = formatText(f);
      const current = formats.current;
      option.selected = !!current && current.width === f.width && current.height === f.height && current.framerate === f.framerate;
      return option;
    }));
    select.disabled = false;
    $("format-apply").disabled = false;
  } catch (e) {
    say(e.message);
  }
}

$("format-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const wanted = JSON.parse($("format").value);
  say(`Switching to ${formatText(wanted)}…`);
  try {
    await getJson(base + "/api/preview-format", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(wanted),
    });
    say(`Preview is now ${formatText(wanted)}.`);
  } catch (err) {
    say(err.message);
  }
});

$("shutter").addEventListener("click", async () => {
  const button = $("shutter");
  button.disabled = true;
  say("Taking a picture…");
  try {
    const picture = await getJson(base + "/api/picture", { method: "POST" });
    const text = `Picture saved: ${String(picture.fileUrl).split("/").pop()}. The live view comes back by itself.`;
    say(text);
    announce(text);
    refreshFiles();
  } catch (err) {
    say(err.message);
  } finally {
    button.disabled = false;
  }
});

async function refreshFiles() {
  const list = $("files");
  const line = (text) => { const li = document.createElement("li"); li.textContent = text; return li; };
  try {
    const files = await getJson(base + "/api/files?count=5");
    const entries = files.entries || [];
    if (entries.length === 0) {
      list.replaceChildren(line("none yet"));
      return;
    }
    list.replaceChildren(...entries.map((f) => {
      const li = document.createElement("li");
      // Only links the relay built: a camera's own fileUrl could be javascript:.
      const relayBuilt = /^\/(cameras\/[a-z0-9-]+\/)?camera-files\//;
      const url = typeof f.url === "string" && relayBuilt.test(f.url) ? f.url : null;
      const name = document.createElement(url ? "a" : "span");
      if (url) name.href = url;
      name.textContent = String(f.name);
      li.append(name, ` (${Math.round((Number(f.size) || 0) / 1024)} KiB)`);
      return li;
    }));
  } catch (e) {
    list.replaceChildren(line(`The picture list could not be loaded: ${e.message}`));
  }
}

// ---------- several cameras ----------

const THUMBNAIL_EVERY_MS = 1000;

// A grid of live thumbnails, each a snapshot polled about once a second (a browser opens
// at most six connections to one host, so a grid of streams would starve itself).
// Clicking one opens that camera's sphere view.
function showGrid(cameras) {
  $("main").hidden = true;
  document.querySelector("header").hidden = false;
  $("grid").hidden = false;
  $("camera-line").textContent = `${cameras.length} cameras`;
  let nonblank = 0;
  const sample = document.createElement("canvas");
  sample.width = sample.height = 1;
  $("grid-list").replaceChildren(...cameras.map((camera) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = camera.urls.page;
    a.id = `thumb-link-${camera.name}`;
    const img = document.createElement("img");
    img.alt = `Live thumbnail of ${camera.name}`;
    const name = document.createElement("p");
    name.className = "name";
    const viewers = camera.viewers === 1 ? "1 viewer" : `${camera.viewers} viewers`;
    name.textContent = `${camera.name} · ${camera.model || "camera"} · ${camera.online ? "online" : "offline"} · ${viewers}`;
    let counted = false;
    const next = () => setTimeout(() => { img.src = `${camera.urls.snapshot}?t=${Date.now()}`; }, THUMBNAIL_EVERY_MS);
    img.addEventListener("load", () => {
      if (probing && !counted) {
        const context = sample.getContext("2d");
        context.drawImage(img, 0, 0, 1, 1);
        const [r, g, b] = context.getImageData(0, 0, 1, 1).data;
        if (r + g + b > 0) { counted = true; nonblank++; report({ thumbs: String(nonblank) }); }
      }
      next();
    });
    img.addEventListener("error", next);
    img.src = `${camera.urls.snapshot}?t=${Date.now()}`;
    a.append(img, name);
    li.append(a);
    return li;
  }));
}

function showCamera() {
  if (cameraName) $("all-cameras").hidden = false;
  readStream();
  refreshStatus();
  refreshCamera();
  if (!kiosk) {
    refreshFormats();
    refreshFiles();
  }
  setInterval(refreshStatus, 2000);
}

(async () => {
  let cameras = [];
  if (!cameraName) {
    cameras = await getJson("/cameras").then((list) => list.cameras, () => []);
  }
  if (cameras.length > 1) showGrid(cameras);
  else showCamera();
  report();
})();

// The camera's _batteryState as a person says it.
function batteryWords(state) {
  return { charging: "charging", charged: "charged", disconnect: "on battery" }[state] || state;
}

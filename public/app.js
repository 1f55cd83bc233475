// The page: a drag-to-look sphere drawn with WebGL from the MJPEG <img>, a camera
// panel (facts, preview format, shutter, latest pictures) and the relay's status.
// No library and no build step, so it works offline on a board.
"use strict";

const $ = (id) => document.getElementById(id);
const probe = $("probe");

// Anything that goes wrong is counted where a test (or a curious user) can read it.
let errors = 0;
window.addEventListener("error", () => probe.dataset.errors = String(++errors));
window.addEventListener("unhandledrejection", () => probe.dataset.errors = String(++errors));
// Content-Security-Policy violations, including those from before this script ran.
let cspViolations = 0;
if (window.ReportingObserver) {
  new ReportingObserver((reports) => {
    cspViolations += reports.length;
    probe.dataset.csp = String(cspViolations);
  }, { types: ["csp-violation"], buffered: true }).observe();
}

// ---------- the sphere ----------

const img = $("live");
const canvas = $("sphere");
const view = { yaw: 0, pitch: 0, fov: 90, flat: false };
const gl = canvas.getContext("webgl", { antialias: false, preserveDrawingBuffer: false });

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
const float PI = 3.14159265358979;
void main() {
  vec3 d = normalize(vec3(screen.x * tanHalfFov * aspect, screen.y * tanHalfFov, -1.0));
  float cp = cos(pitch), sp = sin(pitch);
  d = vec3(d.x, d.y * cp + d.z * sp, -d.y * sp + d.z * cp);
  float cy = cos(yaw), sy = sin(yaw);
  d = vec3(d.x * cy - d.z * sy, d.y, d.x * sy + d.z * cy);
  float lon = atan(d.x, -d.z);
  float lat = asin(clamp(d.y, -1.0, 1.0));
  vec2 uv = vec2(fract(lon / (2.0 * PI) + 0.5), 0.5 - lat / PI);
  gl_FragColor = texture2D(picture, uv);
}`;

function compile(type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
  return shader;
}

let uniforms = null;
if (gl) {
  const program = gl.createProgram();
  gl.attachShader(program, compile(gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(program, compile(gl.FRAGMENT_SHADER, FRAGMENT));
  gl.linkProgram(program);
  gl.useProgram(program);
  gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const corner = gl.getAttribLocation(program, "corner");
  gl.enableVertexAttribArray(corner);
  gl.vertexAttribPointer(corner, 2, gl.FLOAT, false, 0, 0);
  gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
  // Clamp + no mipmaps works for any picture size in WebGL 1; the shader wraps longitude.
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
  uniforms = Object.fromEntries(["yaw", "pitch", "tanHalfFov", "aspect"]
    .map((name) => [name, gl.getUniformLocation(program, name)]));
} else {
  // No WebGL: the flat picture still works.
  setFlat(true);
  $("toggle-flat").disabled = true;
}

let framesDrawn = 0;
function draw() {
  requestAnimationFrame(draw);
  if (!gl || view.flat || !img.complete || img.naturalWidth === 0) return;
  const w = Math.round(canvas.clientWidth * devicePixelRatio);
  const h = Math.round(canvas.clientHeight * devicePixelRatio);
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  gl.viewport(0, 0, w, h);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, img);
  gl.uniform1f(uniforms.yaw, view.yaw);
  gl.uniform1f(uniforms.pitch, view.pitch);
  gl.uniform1f(uniforms.tanHalfFov, Math.tan(view.fov * Math.PI / 360));
  gl.uniform1f(uniforms.aspect, w / h);
  gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  framesDrawn++;
  if (framesDrawn % 15 === 1) {
    // Read the middle pixel back: proof that the live picture reached the canvas.
    const px = new Uint8Array(4);
    gl.readPixels(w >> 1, h >> 1, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    probe.dataset.frames = String(framesDrawn);
    probe.dataset.nonblank = String(px[0] + px[1] + px[2] > 0);
    probe.dataset.pixel = px.slice(0, 3).join(",");
  }
}
requestAnimationFrame(draw);

function look(dYaw, dPitch) {
  view.yaw = (view.yaw + dYaw) % (2 * Math.PI);
  view.pitch = Math.max(-1.55, Math.min(1.55, view.pitch + dPitch));
}
function zoom(factor) { view.fov = Math.max(30, Math.min(120, view.fov * factor)); }

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

function setFlat(flat) {
  view.flat = flat;
  img.hidden = !flat;
  canvas.hidden = flat;
  const button = $("toggle-flat");
  button.setAttribute("aria-pressed", String(flat));
  button.textContent = flat ? "Sphere view" : "Flat view";
}
$("toggle-flat").addEventListener("click", () => setFlat(!view.flat));
$("reset-view").addEventListener("click", () => { view.yaw = 0; view.pitch = 0; view.fov = 90; });

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

async function refreshStatus() {
  try {
    const s = await getJson("/status");
    fillList($("status"), [
      ["Camera link", s.online ? "online" : "offline"],
      ["Upstream", s.upstream],
      ["Frames per second", s.fps],
      ["Viewers", s.viewers],
      ["Reconnects", s.reconnects],
      ["Dropped parts", s.frames_dropped],
      [s.online ? "Last error" : "Why offline", (s.online ? s.last_error : s.offline_reason) || "none"],
    ]);
    $("camera-line").textContent = `camera: ${s.camera_model || "unknown"} at ${s.camera} (${s.mode})`;
  } catch (e) {
    $("camera-line").textContent = "camera: the relay is not answering";
  }
}

async function refreshCamera() {
  try {
    const info = await getJson("/info");
    $("camera-model").textContent = info.model || "unknown";
    $("camera-firmware").textContent = info.firmwareVersion || "unknown";
  } catch (e) {
    $("camera-model").textContent = e.message;
  }
  try {
    const state = await getJson("/state");
    const battery = typeof state.batteryLevel === "number" ? `${Math.round(state.batteryLevel * 100)} %` : "unknown";
    $("camera-battery").textContent = battery + (state._batteryState ? ` (${state._batteryState})` : "");
    $("camera-capture").textContent = state._captureStatus || "unknown";
  } catch (e) {
    $("camera-battery").textContent = "unknown";
  }
}

const formatText = (f) => `${f.width}×${f.height} @ ${f.framerate} fps`;

async function refreshFormats() {
  const select = $("format");
  try {
    const formats = await getJson("/api/preview-formats");
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
    await getJson("/api/preview-format", {
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
    const picture = await getJson("/api/picture", { method: "POST" });
    say(`Picture taken: ${picture.fileUrl.split("/").pop()}. The live view comes back by itself.`);
    refreshFiles();
  } catch (err) {
    say(err.message);
  } finally {
    button.disabled = false;
  }
});

async function refreshFiles() {
  const list = $("files");
  try {
    const files = await getJson("/api/files?count=5");
    const entries = files.entries || [];
    if (entries.length === 0) {
      const li = document.createElement("li");
      li.textContent = "none yet";
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...entries.map((f) => {
      const li = document.createElement("li");
      // Only links the relay built: a camera's own fileUrl could be javascript:.
      const url = typeof f.url === "string" && f.url.startsWith("/camera-files/") ? f.url : null;
      const name = document.createElement(url ? "a" : "span");
      if (url) name.href = url;
      name.textContent = String(f.name);
      li.append(name, ` (${Math.round((Number(f.size) || 0) / 1024)} KiB)`);
      return li;
    }));
  } catch (e) {
    list.replaceChildren();
  }
}

refreshStatus();
refreshCamera();
refreshFormats();
refreshFiles();
setInterval(refreshStatus, 2000);
setInterval(refreshCamera, 5000);

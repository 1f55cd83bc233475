// Fills the status list from /status every two seconds; the image streams on its own.
"use strict";

const statusList = document.getElementById("status");
const modelLine = document.getElementById("camera-model");

function show(status) {
  const rows = [
    ["upstream", status.upstream],
    ["camera", status.camera],
    ["frames per second", status.fps],
    ["frames received", status.frames_received],
    ["frames dropped as malformed", status.frames_dropped],
    ["reconnects", status.reconnects],
    ["viewers", status.viewers],
    ["last error", status.last_error || "none"],
  ];
  statusList.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    return [dt, dd];
  }));
  modelLine.textContent = "camera: " + (status.camera_model || "unknown") + " (" + status.mode + ")";
}

async function refresh() {
  try {
    const r = await fetch("/status", { cache: "no-store" });
    show(await r.json());
  } catch (e) {
    modelLine.textContent = "camera: relay not answering";
  }
}

refresh();
setInterval(refresh, 2000);

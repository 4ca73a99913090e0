// The webcam page: getUserMedia → each captured frame (canvas → JPEG) is POSTed to /api/v1/detect?source=webcam
// and drawn with its boxes when the answer arrives. Exactly one frame is in flight: the next frame is captured
// only after the previous answer, so no queue builds up and the delay stays one round trip. Pause stops
// capturing and freezes the drawn view (an answer still on its way is not drawn); Play captures the current moment.
// The "Find" switch (find.js) sends the next frames to /pose (skeletons; ?follow=1, so MoveNet looks where the
// person was in the last frame) or /face (landmarks) instead; with MQTT push on, pose and face answers also
// move visioncast/webcam/target/x|y|size (examples/fan_follow_face.py).
import {
  drawDetections, fillLegend, fitToScreen, formatMs, postImage, reveal, setBusy, showCameraNote, showError, t,
  whenFontReady,
} from "./app.js";
import {bindFind, describeFound} from "./find.js";

const $ = (id) => document.getElementById(id);
const form = $("camera-form");
// the live section's heading, buttons, status and figures under the view: all on a 768 px laptop screen
const RESERVE_PX = 340;
const find = bindFind(form, {conf: $("conf"), confOutput: $("conf-value")});
const video = $("camera");
const view = $("view");
const errorBox = $("error");
const capture = document.createElement("canvas");
const JPEG_QUALITY = 0.8;

const state = {stream: null, running: false, paused: false, inFlight: false, stale: false, frames: 0,
  answeredAt: [], latencies: [], generation: 0, last: null};

const CAMERA_ERRORS = ["NotAllowedError", "NotFoundError", "NotReadableError", "OverconstrainedError",
  "SecurityError"];

function cameraError(err) {
  return CAMERA_ERRORS.includes(err && err.name) ? t(`webcam.error.${err.name}`) : t("webcam.error.other");
}

function setStatus(text) {
  $("status").textContent = text;
}

function constraints() {
  const [width, height] = $("resolution").value.split("x").map(Number);
  const deviceId = $("camera-select").value;
  return {audio: false, video: {width: {ideal: width}, height: {ideal: height},
    ...(deviceId ? {deviceId: {exact: deviceId}} : {})}};
}

async function listCameras() {
  const select = $("camera-select");
  const current = select.value;
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  select.replaceChildren(...devices.map((d, i) => new Option(d.label || t("webcam.camera_n", {n: i + 1}),
    d.deviceId)));
  if (devices.some((d) => d.deviceId === current)) select.value = current;
  $("camera-hint").textContent = t("webcam.cameras_found", {n: devices.length});
}

function stopCamera() {
  state.generation += 1;
  state.running = false;
  if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
  state.stream = null;
}

async function startCamera() {
  showError(errorBox, null);
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError(errorBox, t("webcam.error.insecure"));
    return;
  }
  stopCamera();
  setBusy($("start"), true, t("webcam.starting"));
  try {
    state.stream = await navigator.mediaDevices.getUserMedia(constraints());
  } catch (err) {
    showError(errorBox, cameraError(err));
    setStatus(t("webcam.not_started"));
    return;
  } finally {
    setBusy($("start"), false);
  }
  video.srcObject = state.stream;
  await video.play();
  await listCameras();
  Object.assign(state, {running: true, paused: false, frames: 0, answeredAt: [], latencies: []});
  $("pause").disabled = false;
  $("play").disabled = true;
  $("start").textContent = t("webcam.restart");
  setStatus(t("webcam.on", {w: video.videoWidth, h: video.videoHeight}));
  fitToScreen(view, video.videoWidth, video.videoHeight, RESERVE_PX);
  reveal($("live"));
  loop(state.generation);
}

function grab() {
  capture.width = video.videoWidth;
  capture.height = video.videoHeight;
  capture.getContext("2d").drawImage(video, 0, 0, capture.width, capture.height);
  return new Promise((resolve, reject) => capture.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error(t("webcam.error.encode")))),
    "image/jpeg", JPEG_QUALITY));
}

// One frame at a time: capture, send, draw, repeat. A new generation (restart) ends an old loop.
async function loop(generation) {
  while (state.running && !state.paused && generation === state.generation) {
    if (!video.videoWidth) {
      await new Promise((r) => requestAnimationFrame(r));
      continue;
    }
    const frame = await grab();
    const shot = await createImageBitmap(capture);
    const started = performance.now();
    let answer;
    state.inFlight = true;
    try {
      answer = await postImage(find.api(form.dataset.api), frame,
        {params: {source: "webcam", conf: $("conf").value, follow: find.mode() === "pose" ? 1 : undefined},
          timeoutMs: 10000});
    } catch (err) {
      showError(errorBox, err);
      setStatus(t("webcam.retrying"));
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    } finally {
      state.inFlight = false;
    }
    if (state.paused || generation !== state.generation) break;  // frozen: this late answer is not drawn
    if (state.stale) {  // sent before a pause: Play continues from the current moment, not from then
      state.stale = false;
      continue;
    }
    showError(errorBox, null);
    show(shot, answer, performance.now() - started);
  }
}

function redraw() {
  if (!state.last) return;
  const tags = $("show-tags").checked;
  const {shot, answer} = state.last;
  drawDetections(view, shot, answer, {labels: tags, scores: tags});
  const found = describeFound(answer.task, (answer.detections || []).length, answer);
  view.setAttribute("aria-label", found ? t("webcam.view_found", {found}) : t("webcam.view_label"));
}

function show(shot, answer, latencyMs) {
  state.last = {shot, answer};
  redraw();
  fillLegend($("legend"), answer.detections || []);
  state.frames += 1;
  if (state.frames === 1) reveal($("live"));  // now with its legend and figures: all of it on screen
  view.dataset.frames = String(state.frames);
  const now = performance.now();
  state.answeredAt.push(now);
  while (state.answeredAt.length && now - state.answeredAt[0] > 2000) state.answeredAt.shift();
  state.latencies.push(latencyMs);
  if (state.latencies.length > 30) state.latencies.shift();
  const span = (now - state.answeredAt[0]) / 1000;
  const fps = state.answeredAt.length > 1 && span > 0 ? (state.answeredAt.length - 1) / span : 0;
  const mean = state.latencies.reduce((a, b) => a + b, 0) / state.latencies.length;
  $("fps").textContent = fps ? fps.toFixed(1) : "–";
  view.dataset.fps = fps.toFixed(2);
  view.dataset.latencyMs = mean.toFixed(1);
  $("latency").textContent = formatMs(mean);
  $("model-ms").textContent = answer.timings_ms && answer.timings_ms.inference !== undefined
    ? formatMs(answer.timings_ms.inference) : "–";
  $("frames").textContent = String(state.frames);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  startCamera();
});
$("camera-select").addEventListener("change", () => { if (state.stream) startCamera(); });
$("resolution").addEventListener("change", () => { if (state.stream) startCamera(); });
$("conf").addEventListener("input", () => { $("conf-value").value = $("conf").value; });
$("show-tags").addEventListener("change", redraw);

$("pause").addEventListener("click", () => {
  state.paused = true;
  $("pause").disabled = true;
  $("play").disabled = false;
  $("fps").textContent = "0";
  setStatus(t("webcam.paused"));
});

$("play").addEventListener("click", () => {
  state.paused = false;
  $("pause").disabled = false;
  $("play").disabled = true;
  state.answeredAt = [];
  setStatus(t("webcam.live_now"));
  if (state.inFlight) state.stale = true;  // the running loop drops that answer and goes on
  else loop(state.generation);
});

showCameraNote();
window.addEventListener("pagehide", stopCamera);
window.addEventListener("resize", () => fitToScreen(view, video.videoWidth, video.videoHeight, RESERVE_PX));
whenFontReady(redraw);

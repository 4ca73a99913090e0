// The video page: upload with a progress bar (XHR upload events), then follow the server's job: results arrive
// on a Server-Sent Events stream (EventSource re-attaches by itself with Last-Event-ID), the video plays in a
// hidden <video> and each displayed frame is drawn on a canvas with its boxes. The frame on screen is found from
// requestVideoFrameCallback's mediaTime × fps (requestAnimationFrame + currentTime where that API is missing);
// when it has no result yet the video pauses and waits for it, so the boxes are never behind or ahead.
// The job id lives in the URL (?job=…) and sessionStorage, so a reload re-attaches to the running job.
// A video the browser cannot play (Chromium plays no AVI and no MPEG-4 Part 2) is swapped for a WebM copy the
// server makes from it (same frames and frame rate); until the copy is ready the boxes are drawn on a blank frame.
import {drawDetections, setBusy, showError} from "./app.js";

const $ = (id) => document.getElementById(id);
const form = $("upload-form");
const API = form.dataset.api;
const fileInput = $("file");
const uploadButton = $("upload");
const video = $("video");
const view = $("view");
const errorBox = $("error");
const STORE_KEY = "visioncast.video.job";
const HAS_RVFC = "requestVideoFrameCallback" in HTMLVideoElement.prototype;

const WORDS = {
  400: "The server could not use this video",
  404: "This video job does not exist (any more)",
  409: "Not ready yet",
  413: "The video is larger than the server accepts",
  415: "This file is not a video",
  503: "The server is busy",
};

const state = {
  job: null, results: new Map(), ended: false, source: null, userPaused: false, waitingFor: null,
  drawn: -1, shownAt: [], playable: true, rendering: false, started: false,
};

function failure(status, data) {
  const what = WORDS[status] ?? `The server answered with error ${status}`;
  const detail = data && typeof data.message === "string" ? data.message : "";
  return new Error(detail ? `${what}: ${detail}` : `${what}.`);
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(`${API}${path}`, {headers: {Accept: "application/json"}, ...options});
  } catch {
    throw new Error("Cannot reach the server. Check that visioncast is still running and the network is up.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw failure(response.status, data);
  return data;
}

// ---- upload -------------------------------------------------------------------------------------------------

function upload(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const body = new FormData();
    body.append("video", file, file.name);
    const task = form.elements.task.value;  // objects, poses (skeletons) or faces (landmarks) in every frame
    xhr.open("POST", `${API}?conf=${encodeURIComponent($("conf").value)}&task=${task}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      const bar = $("upload-progress");
      bar.dataset.events = String(Number(bar.dataset.events || 0) + 1);
      $("upload-progress").value = event.loaded / event.total;
      $("upload-text").textContent = `Uploading: ${Math.round((100 * event.loaded) / event.total)} %`;
    };
    xhr.onload = () => (xhr.status === 201 ? resolve(xhr.response) : reject(failure(xhr.status, xhr.response)));
    xhr.onerror = () => reject(new Error("The upload failed: the server closed the connection or is unreachable."));
    xhr.send(body);
  });
}

fileInput.addEventListener("change", () => {
  uploadButton.disabled = !fileInput.files.length;
  showError(errorBox, null);
});
$("conf").addEventListener("input", () => { $("conf-value").value = $("conf").value; });
const TASK_CONF = {detect: Number($("conf").value), pose: 0.25, face: 0.7};
$("task-mode").addEventListener("change", () => {
  $("conf").value = String(TASK_CONF[form.elements.task.value]);
  $("conf-value").value = $("conf").value;
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = fileInput.files[0];
  if (!file || uploadButton.disabled) return;
  setBusy(uploadButton, true, "Uploading…");
  showError(errorBox, null);
  $("upload-progress").value = 0;
  try {
    const job = await upload(file);
    $("upload-progress").value = 1;
    $("upload-text").textContent = `Uploaded ${file.name}; the server is detecting its frames.`;
    attach(job);
  } catch (err) {
    $("upload-text").textContent = "Upload refused.";
    showError(errorBox, err);
  } finally {
    setBusy(uploadButton, false);
    uploadButton.disabled = !fileInput.files.length;
  }
});

// ---- the job ------------------------------------------------------------------------------------------------

function forget() {
  sessionStorage.removeItem(STORE_KEY);
  const url = new URL(location.href);
  url.searchParams.delete("job");
  history.replaceState(null, "", url);
}

function remember(id) {
  sessionStorage.setItem(STORE_KEY, id);
  const url = new URL(location.href);
  url.searchParams.set("job", id);
  history.replaceState(null, "", url);
}

function attach(job) {
  detach();
  Object.assign(state, {job, results: new Map(), ended: false, userPaused: false, waitingFor: null, drawn: -1,
    shownAt: [], playable: true, rendering: false, started: false});
  remember(job.id);
  $("player").hidden = false;
  $("job-name").textContent = `“${job.name}”`;
  $("render-progress").value = 0;
  $("render-text").textContent = "";
  $("download").hidden = true;
  view.dataset.ahead = "0";
  view.dataset.waits = "0";
  view.dataset.playing = "source";
  video.src = `${API}/${job.id}/source`;
  updateJob(job);
  state.source = new EventSource(`${API}/${job.id}/events`);
  state.source.addEventListener("result", (e) => onResult(JSON.parse(e.data)));
  state.source.addEventListener("state", (e) => updateJob(JSON.parse(e.data)));
  state.source.addEventListener("end", () => { state.source.close(); state.ended = true; resumeIfWaiting(); });
  state.source.onerror = () => { if (!state.ended) status("Connection to the server lost; reconnecting…"); };
}

function detach() {
  if (state.source) state.source.close();
  state.source = null;
  video.pause();
}

function updateJob(job) {
  state.job = job;
  const total = job.frames_total;
  $("job-state").textContent = job.error ? `${job.state}: ${job.error}` : job.state;
  $("detect-fps").textContent = job.detect_fps ? job.detect_fps.toFixed(1) : "–";
  $("detect-progress").value = total ? job.frames_done / total : 0;
  $("detect-text").textContent = `${job.frames_done} of ${total ?? "?"} frames`;
  const done = job.state === "done";
  const finished = ["done", "failed", "cancelled"].includes(job.state);
  $("save").disabled = !done || state.rendering;
  $("save-hint").textContent = done ? "Every frame is detected: the video can be saved."
    : "Saving is possible once every frame is detected.";
  $("cancel").disabled = finished;
  if (finished && job.state !== "done") showError(errorBox, `The job is ${job.state}: ${job.error || "no reason given"}.`);
  if (finished) { state.ended = true; resumeIfWaiting(); }
  if (job.render && job.render.state === "done" && !state.rendering) showDownload();
}

function onResult(result) {
  state.results.set(result.frame, result);
  if (!state.started && result.frame === 0) {
    state.started = true;
    present(0);
    if (!state.userPaused) play();
  }
  if (state.waitingFor === result.frame) resumeIfWaiting();
}

function status(text) {
  $("player-status").textContent = text;
}

// ---- the player ---------------------------------------------------------------------------------------------

function frameAt(seconds) {
  const fps = state.job ? state.job.fps : 25;
  return Math.max(0, Math.floor(seconds * fps + 0.01));
}

function available(index) {
  return state.results.has(index) || state.ended;
}

function present(index) {
  if (!available(index)) {
    hold(index);
    return false;
  }
  draw(index);
  return true;
}

// Draws frame `index` and its boxes. data-ahead counts frames drawn before their result arrived (must stay 0).
function draw(index) {
  const result = state.results.get(index);
  const payload = result && result.width ? result
    : {width: state.job.width, height: state.job.height, detections: []};
  if (!result && !state.ended) view.dataset.ahead = String(Number(view.dataset.ahead) + 1);
  const tags = $("show-tags").checked;
  drawDetections(view, state.playable ? video : blank(payload), payload, {labels: tags, scores: tags});
  state.drawn = index;
  view.dataset.frame = String(index);
  $("frame-now").textContent = `${index + 1} of ${state.job.frames_total ?? "?"}`;
  countShown();
}

function blank(payload) {
  const canvas = document.createElement("canvas");
  canvas.width = payload.width;
  canvas.height = payload.height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#222";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  return canvas;
}

function hold(index) {
  if (state.waitingFor !== index) view.dataset.waits = String(Number(view.dataset.waits) + 1);
  state.waitingFor = index;
  video.pause();
  status(`Waiting for the detections of frame ${index + 1}…`);
}

function resumeIfWaiting() {
  if (state.waitingFor === null || !available(state.waitingFor)) return;
  const index = state.waitingFor;
  state.waitingFor = null;
  present(index);
  status("");
  if (!state.userPaused) play();
}

function countShown() {
  const now = performance.now();
  state.shownAt.push(now);
  while (state.shownAt.length && now - state.shownAt[0] > 1000) state.shownAt.shift();
  $("display-fps").textContent = state.shownAt.length > 1 ? String(state.shownAt.length) : "–";
}

function play() {
  if (!state.playable) return;
  if (video.ended) video.currentTime = 0;
  video.play().catch((err) => status(`The browser did not start the video: ${err.message}`));
}

function onVideoFrame(_now, meta) {
  const index = frameAt(meta.mediaTime);
  if (index !== state.drawn) present(index);
  video.requestVideoFrameCallback(onVideoFrame);
}

function onAnimationFrame() {
  if (!video.paused) {
    const index = frameAt(video.currentTime);
    if (index !== state.drawn) present(index);
  }
  requestAnimationFrame(onAnimationFrame);
}

if (HAS_RVFC) video.requestVideoFrameCallback(onVideoFrame);
else requestAnimationFrame(onAnimationFrame);

video.addEventListener("play", () => { $("pause").disabled = false; $("play").disabled = true; });
video.addEventListener("pause", () => {
  $("play").disabled = false;
  $("pause").disabled = state.waitingFor === null || state.userPaused;
  if (state.userPaused) $("display-fps").textContent = "0";
});
video.addEventListener("ended", () => status("End of the video. Play starts it again."));
video.addEventListener("error", () => {
  if (!state.job) return;
  state.playable = false;
  if (state.results.has(0)) present(0);
  if (view.dataset.playing === "copy") {
    view.dataset.playing = "blank";
    status("This browser cannot play the video, not even as WebM; the detections are shown on a blank frame. "
      + "The saved video has the real frames.");
    return;
  }
  view.dataset.playing = "blank";
  playCopy(state.job.id).catch((err) => status(`The video cannot be shown here (${err.message}); the `
    + "detections are shown on a blank frame. The saved video has the real frames."));
});

// Asks the server for the WebM copy, shows its progress, then plays it from the frame on screen.
async function playCopy(id) {
  for (;;) {
    const copy = await api(`/${id}/playable`, {method: "POST"});
    if (state.job?.id !== id) return;
    if (copy.state === "failed") throw new Error(copy.error);
    if (copy.state === "done") break;
    status(`This browser cannot play this video format: the server is making a copy it can play, `
      + `${Math.round(100 * copy.progress)} % (the boxes meanwhile on a blank frame).`);
    await new Promise((r) => setTimeout(r, 500));
  }
  video.addEventListener("loadeddata", () => {
    state.playable = true;
    video.addEventListener("seeked", () => {
      if (state.drawn >= 0) present(state.drawn);
      status("Playing a WebM copy of the video made by the server (the same frames).");
      if (!state.userPaused && state.waitingFor === null) play();
    }, {once: true});
    video.currentTime = Math.max(0, state.drawn) / (state.job.fps || 25);
  }, {once: true});
  view.dataset.playing = "copy";
  video.src = `${API}/${id}/playable.webm`;
}

$("pause").addEventListener("click", () => {
  state.userPaused = true;
  video.pause();
  $("pause").disabled = true;
  $("play").disabled = false;
  status("Paused.");
});

$("play").addEventListener("click", () => {
  state.userPaused = false;
  status("");
  if (state.waitingFor !== null) resumeIfWaiting();
  else play();
});

$("show-tags").addEventListener("change", () => { if (state.drawn >= 0) present(state.drawn); });

// ---- save as video ------------------------------------------------------------------------------------------

function showDownload() {
  const link = $("download");
  link.href = `${API}/${state.job.id}/video.avi`;
  link.hidden = false;
  $("render-progress").value = 1;
  $("render-text").textContent = "Saved: the download starts by itself (or use the link).";
}

async function saveVideo() {
  state.rendering = true;
  setBusy($("save"), true, "Saving…");
  showError(errorBox, null);
  try {
    for (;;) {
      const render = await api(`/${state.job.id}/render`, {method: "POST"});
      $("render-progress").value = render.progress;
      $("render-text").textContent = `Drawing the boxes into the video: ${Math.round(100 * render.progress)} %`;
      if (render.state === "failed") throw new Error(`Saving failed: ${render.error}`);
      if (render.state === "done") break;
      await new Promise((r) => setTimeout(r, 300));
    }
    showDownload();
    $("download").click();
  } catch (err) {
    showError(errorBox, err);
  } finally {
    state.rendering = false;
    setBusy($("save"), false);
    $("save").disabled = state.job.state !== "done";
  }
}

$("save").addEventListener("click", saveVideo);

$("cancel").addEventListener("click", async () => {
  try {
    const job = await api(`/${state.job.id}`, {method: "DELETE"});
    detach();
    forget();
    updateJob({...job, state: "cancelled", error: "cancelled by you"});
  } catch (err) {
    showError(errorBox, err);
  }
});

// ---- re-attach after a reload -------------------------------------------------------------------------------

async function reattach() {
  const id = new URL(location.href).searchParams.get("job") || sessionStorage.getItem(STORE_KEY);
  if (!id) return;
  try {
    attach(await api(`/${encodeURIComponent(id)}`));
    $("upload-text").textContent = "Re-attached to the job started before the reload.";
  } catch (err) {
    forget();
    showError(errorBox, err);
  }
}

reattach();

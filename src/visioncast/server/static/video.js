// The video page: upload with a progress bar (XHR upload events; one Idempotency-Key per press, so a repeated
// request starts no second job), then follow the server's job: results arrive on a Server-Sent Events stream
// (EventSource re-attaches by itself with Last-Event-ID), the video plays in a hidden <video> and each displayed
// frame is drawn on a canvas with its boxes. The frame on screen is found from requestVideoFrameCallback's
// mediaTime × fps (requestAnimationFrame + currentTime where that API is missing); when it has no result yet the
// video pauses and waits for it, so the boxes are never behind or ahead.
// A video the browser cannot play (Chromium plays no AVI and no MPEG-4 Part 2) is previewed meanwhile from the
// frames the server draws as they are detected (GET …/frames/<n>.jpg, paced at the video's frame rate, with
// pause/play), then swapped for a WebM copy the server makes from it (same frames and frame rate).
// The job id lives in the URL (?job=…); this browser's recent jobs are kept in localStorage and listed below.
// The server keeps jobs across its restarts, so a lost stream re-attaches too, or says why the job is gone.
// The "Find" switch (find.js) picks what the job finds in every frame (&task=detect|pose|face): boxes,
// skeletons or face landmarks, drawn on the canvas as the detect page draws them.
import {
  drawDetections, failureOf, fitToScreen, foldedDetail, getJson, reveal, setBusy, showError, t,
} from "./app.js";
import {bindFind} from "./find.js";
import {runPreview} from "./video_preview.js";
import {saveVideo, showSaved, showSavedWebm} from "./video_save.js";
import {forgetJob, refreshRecent, rememberJob} from "./video_recent.js";

const $ = (id) => document.getElementById(id);
const form = $("upload-form");
const API = form.dataset.api;
const fileInput = $("file");
const uploadButton = $("upload");
const video = $("video");
const view = $("view");
const errorBox = $("error");
const FINAL = ["done", "failed", "cancelled"];
const HAS_RVFC = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const state = {
  job: null, results: new Map(), ended: false, source: null, userPaused: false, waitingFor: null,
  drawn: -1, shownAt: [], playable: true, rendering: false, started: false, preview: false, previewRun: 0,
  uploading: false, uploaded: null, lost: false,
};

const api = (path, options = {}) => getJson(`${API}${path}`, options, "video");

/** A random key for one press of Upload (crypto.randomUUID needs https; getRandomValues does not). */
function newKey() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The file and the mode of an upload: the same file in another mode is another job, not a repeat. */
function uploadId(file) {
  return file ? `${file.name}|${file.size}|${file.lastModified}|${find.mode()}` : "";
}

function stateWord(name) {
  return t(`video.state.${name}`);
}

// ---- upload -------------------------------------------------------------------------------------------------

function upload(file, key) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const body = new FormData();
    body.append("video", file, file.name);
    xhr.open("POST", `${API}?conf=${encodeURIComponent($("conf").value)}&task=${find.mode()}`);
    xhr.setRequestHeader("Idempotency-Key", key);
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      const bar = $("upload-progress");
      bar.dataset.events = String(Number(bar.dataset.events || 0) + 1);
      bar.value = event.loaded / event.total;
      $("upload-text").textContent = t("video.uploading", {percent: Math.round((100 * event.loaded) / event.total)});
    };
    xhr.onload = () => (xhr.status === 201 ? resolve(xhr.response) : reject(failureOf(xhr.status, xhr.response,
      "video")));
    xhr.onerror = () => reject(new Error(t("video.upload_failed")));
    xhr.send(body);
  });
}

function refreshUploadButton() {
  const file = fileInput.files[0];
  const running = state.job && !FINAL.includes(state.job.state) && state.uploaded === uploadId(file);
  uploadButton.disabled = !file || state.uploading || Boolean(running);
  const was = $("upload-text").dataset.sameFile === "true";
  $("upload-text").dataset.sameFile = String(Boolean(running));
  if (running && !state.uploading) $("upload-text").textContent = t("video.already_running");
  else if (was && !running) $("upload-text").textContent = t("video.finished_upload_again");
}

fileInput.addEventListener("change", () => {
  showError(errorBox, null);
  refreshUploadButton();
});
$("conf").addEventListener("input", () => {
  $("conf-value").value = $("conf").value;
  if (state.drawn >= 0 && state.playable) present(state.drawn);
});
// Another mode is for the next upload; its default confidence filters the shown boxes meanwhile.
const find = bindFind(form, {conf: $("conf"), confOutput: $("conf-value"), onChange: () => {
  refreshUploadButton();
  if (state.drawn >= 0 && state.playable) present(state.drawn);
}});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = fileInput.files[0];
  if (!file || uploadButton.disabled || state.uploading) return;
  const id = uploadId(file);
  state.uploading = true;
  setBusy(uploadButton, true, t("video.uploading_short"));
  showError(errorBox, null);
  $("upload-progress").value = 0;
  try {
    const job = await upload(file, newKey());
    $("upload-progress").value = 1;
    $("upload-text").textContent = t("video.uploaded", {name: file.name});
    state.uploaded = id;
    attach(job);
  } catch (err) {
    $("upload-text").textContent = t("video.upload_refused");
    showError(errorBox, err);
  } finally {
    state.uploading = false;
    setBusy(uploadButton, false);
    refreshUploadButton();
  }
});

// ---- the job ------------------------------------------------------------------------------------------------

function showJobInUrl(id) {
  const url = new URL(location.href);
  if (id) url.searchParams.set("job", id);
  else url.searchParams.delete("job");
  history.replaceState(null, "", url);
}

function attach(job) {
  detach();
  Object.assign(state, {job, results: new Map(), ended: false, userPaused: false, waitingFor: null, drawn: -1,
    shownAt: [], playable: true, rendering: false, started: false, preview: false, lost: false});
  rememberJob(API, job);
  showJobInUrl(job.id);
  $("player").hidden = false;
  $("job-name").textContent = `“${job.name}”`;
  $("render-progress").value = 0;
  $("render-text").textContent = "";
  for (const id of ["downloads", "webm-item", "avi-item"]) $(id).hidden = true;
  view.dataset.ahead = "0";
  view.dataset.waits = "0";
  view.dataset.playing = "source";
  fitToScreen(view, job.width, job.height);
  video.src = `${API}/${job.id}/source`;
  updateJob(job);
  follow(job.id);
  reveal($("player"));
}

// The results stream, after the last frame we have (EventSource resends it as Last-Event-ID when it
// reconnects by itself; a new stream says it with ?after=). A server that restarted keeps the job and goes on.
function follow(id) {
  const after = state.results.size - 1;
  const source = new EventSource(`${API}/${id}/events${after >= 0 ? `?after=${after}` : ""}`);
  state.source = source;
  source.addEventListener("result", (e) => onResult(JSON.parse(e.data)));
  source.addEventListener("state", (e) => updateJob(JSON.parse(e.data)));
  source.addEventListener("end", () => { source.close(); state.ended = true; resumeIfWaiting(); });
  source.onopen = () => {
    if (!state.lost) return;
    state.lost = false;
    status(t("video.connected_again"));
  };
  source.onerror = () => {
    if (state.ended || state.source !== source) return;
    if (source.readyState === EventSource.CLOSED) {
      recheck(id);  // the server answered but refused the stream: ask it about the job
      return;
    }
    state.lost = true;
    status(t("video.reconnecting"));
  };
}

// The stream was refused (e.g. the server restarted and no longer has the job): show why, or follow again.
async function recheck(id) {
  try {
    const job = await api(`/${encodeURIComponent(id)}`);
    if (state.job?.id !== id) return;
    updateJob(job);
    if (!state.ended) setTimeout(() => { if (state.job?.id === id && !state.ended) follow(id); }, 2000);
  } catch (err) {
    if (state.job?.id !== id) return;
    detach();
    showJobInUrl(null);
    forgetJob(API, id);
    state.ended = true;
    $("job-state").textContent = stateWord("gone");
    $("job-state").dataset.state = "gone";
    $("save").disabled = true;
    $("save-avi").disabled = true;
    $("cancel").disabled = true;
    status("");
    showError(errorBox, err);
  }
}

function detach() {
  if (state.source) state.source.close();
  state.source = null;
  state.preview = false;
  video.pause();
}

function updateJob(job) {
  state.job = job;
  const total = job.frames_total;
  $("job-state").textContent = stateWord(job.state);
  $("job-state").dataset.state = job.state;
  $("detect-fps").textContent = job.detect_fps ? job.detect_fps.toFixed(1) : "–";
  $("detect-progress").value = total ? job.frames_done / total : 0;
  $("detect-text").textContent = t("video.frames_of", {done: job.frames_done, total: total ?? "?"});
  const done = job.state === "done";
  const finished = FINAL.includes(job.state);
  $("save").disabled = !done || state.rendering;
  $("save-avi").disabled = !done || state.rendering;
  $("save-hint").textContent = done ? t("video.save_now") : t("video.save_later");
  $("cancel").disabled = finished;
  if (job.state === "failed") showError(errorBox, {message: t("video.job_failed"), detail: job.error || ""});
  if (finished) { state.ended = true; resumeIfWaiting(); }
  if (job.render && job.render.state === "done" && !state.rendering) showSaved(API, job.id);
  if (job.render_webm && job.render_webm.state === "done" && !state.rendering) showSavedWebm(API, job.id);
  else if (done && ["queued", "running"].includes(job.render_webm?.state)) offerWebmSoon(job.id);
  refreshUploadButton();
}

// The phone video is closed just after the job ends (or rendered then, after a resume): show its link once it is.
let webmTimer = null;
function offerWebmSoon(id) {
  clearTimeout(webmTimer);
  webmTimer = setTimeout(async () => {
    if (state.job?.id !== id || state.rendering) return;
    try {
      updateJob(await api(`/${encodeURIComponent(id)}`));
    } catch { /* the next status tells */ }
  }, 1000);
}

function onResult(result) {
  state.results.set(result.frame, result);
  if (!state.started && result.frame === 0) {
    state.started = true;
    if (state.playable) {
      present(0);
      if (!state.userPaused) play();
    }
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

// Draws frame `index` of the playing video and its boxes. data-ahead counts frames drawn before their result
// arrived (must stay 0).
function draw(index) {
  if (!state.playable) return;
  const result = state.results.get(index);
  const payload = result && result.width ? result
    : {width: state.job.width, height: state.job.height, detections: []};
  if (!result && !state.ended) view.dataset.ahead = String(Number(view.dataset.ahead) + 1);
  const tags = $("show-tags").checked;
  const conf = Number($("conf").value);  // after the upload it filters the boxes shown, live
  drawDetections(view, video, payload, {labels: tags, scores: tags, keep: (d) => d.score >= conf});
  shown(index);
}

function shown(index) {
  state.drawn = index;
  view.dataset.frame = String(index);
  $("frame-now").textContent = t("video.frame_of", {n: index + 1, total: state.job.frames_total ?? "?"});
  const now = performance.now();
  state.shownAt.push(now);
  while (state.shownAt.length && now - state.shownAt[0] > 1000) state.shownAt.shift();
  $("display-fps").textContent = state.shownAt.length > 1 ? String(state.shownAt.length) : "–";
}

function hold(index) {
  if (state.waitingFor !== index) view.dataset.waits = String(Number(view.dataset.waits) + 1);
  state.waitingFor = index;
  video.pause();
  status(t("video.waiting_for", {n: index + 1}));
}

function resumeIfWaiting() {
  if (state.waitingFor === null || !available(state.waitingFor)) return;
  const index = state.waitingFor;
  state.waitingFor = null;
  present(index);
  if (!state.preview) status("");  // the preview says what it shows; a result arriving must not blank it
  if (!state.userPaused) play();
}

function play() {
  if (!state.playable) return;
  if (video.ended) video.currentTime = 0;
  video.play().catch(() => status(t("video.play_refused")));
}

function onVideoFrame(_now, meta) {
  const index = frameAt(meta.mediaTime);
  if (index !== state.drawn && state.playable) present(index);
  video.requestVideoFrameCallback(onVideoFrame);
}

function onAnimationFrame() {
  if (!video.paused && state.playable) {
    const index = frameAt(video.currentTime);
    if (index !== state.drawn) present(index);
  }
  requestAnimationFrame(onAnimationFrame);
}

if (HAS_RVFC) video.requestVideoFrameCallback(onVideoFrame);
else requestAnimationFrame(onAnimationFrame);

function setPlayButtons(playing) {
  $("pause").disabled = !playing;
  $("play").disabled = playing;
}

video.addEventListener("play", () => setPlayButtons(true));
video.addEventListener("pause", () => {
  if (state.preview) return;
  $("play").disabled = false;
  $("pause").disabled = state.waitingFor === null || state.userPaused;
  if (state.userPaused) $("display-fps").textContent = "0";
});
video.addEventListener("ended", () => status(t("video.ended")));
video.addEventListener("error", () => {
  if (!state.job) return;
  state.playable = false;
  if (view.dataset.playing === "copy") {
    status(t("video.copy_unplayable"));
    startPreview();
    return;
  }
  startPreview();
  playCopy(state.job.id).catch((err) => {  // the server's reason (English) folded under the sentence
    status(t("video.copy_failed"));
    $("player-status").append(" ", foldedDetail(err.detail || err.message));
  });
});

// ---- the preview: frames drawn by the server, while the browser cannot play the video ---------------------

function startPreview() {
  state.preview = true;
  state.previewRun += 1;
  view.dataset.playing = "preview";
  setPlayButtons(!state.userPaused);
  const run = state.previewRun;
  runPreview({state, view, api: API, shown, status, live: () => state.preview && run === state.previewRun});
}

// Asks the server for the WebM copy, shows its progress, then plays it from the frame on screen.
async function playCopy(id) {
  for (;;) {
    const copy = await api(`/${id}/playable`, {method: "POST"});
    if (state.job?.id !== id) return;
    if (copy.state === "failed") throw new Error(copy.error);
    if (copy.state === "done") break;
    $("player-status").dataset.copy = String(Math.round(100 * copy.progress));
    await sleep(500);
  }
  video.addEventListener("loadeddata", () => {
    state.preview = false;
    state.playable = true;
    video.addEventListener("seeked", () => {
      if (state.drawn >= 0) present(state.drawn);
      status(t("video.playing_copy"));
      if (!state.userPaused && state.waitingFor === null) play();
      else setPlayButtons(false);
    }, {once: true});
    video.currentTime = Math.max(0, state.drawn) / (state.job.fps || 25);
  }, {once: true});
  view.dataset.playing = "copy";
  video.src = `${API}/${id}/playable.webm`;
}

$("pause").addEventListener("click", () => {
  state.userPaused = true;
  video.pause();
  setPlayButtons(false);
  $("display-fps").textContent = "0";
  status(t("video.paused"));
});

$("play").addEventListener("click", () => {
  state.userPaused = false;
  status("");
  if (state.preview) {
    if (state.ended && state.drawn + 1 >= (state.job.frames_total ?? Infinity)) state.drawn = -1;
    setPlayButtons(true);
  } else if (state.waitingFor !== null) resumeIfWaiting();
  else play();
});

$("show-tags").addEventListener("change", () => { if (state.drawn >= 0 && state.playable) present(state.drawn); });
window.addEventListener("resize", () => { if (state.job) fitToScreen(view, state.job.width, state.job.height); });

// ---- save as video ------------------------------------------------------------------------------------------

$("save").addEventListener("click", () => saveVideo(API, state, errorBox, "webm"));
$("save-avi").addEventListener("click", () => saveVideo(API, state, errorBox, "avi"));

$("cancel").addEventListener("click", async () => {
  const button = $("cancel");
  setBusy(button, true);
  try {
    const job = await api(`/${state.job.id}`, {method: "DELETE"});
    detach();
    showJobInUrl(null);
    forgetJob(API, job.id);
    updateJob({...job, state: "cancelled"});
    status(t("video.cancelled"));
  } catch (err) {
    showError(errorBox, err);
  } finally {
    setBusy(button, false);
    button.disabled = true;
  }
});

// ---- re-attach after a reload, or from the list -------------------------------------------------------------

async function reattach() {
  const id = new URL(location.href).searchParams.get("job");
  if (!id) return;
  try {
    const job = await api(`/${encodeURIComponent(id)}`);
    find.choose(job.task);  // the switch says what this job finds
    attach(job);
    $("upload-text").textContent = t("video.reattached");
  } catch (err) {
    showJobInUrl(null);
    forgetJob(API, id);
    showError(errorBox, err);
  }
}

reattach();
refreshRecent(API);

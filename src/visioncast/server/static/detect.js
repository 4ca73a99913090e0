// The detection page: shrink + compress the chosen photo in the browser, upload it as JSON base64, draw the
// answered boxes on a canvas (in the shrunk image's pixels, scaled to the displayed size), or show the image
// the server drew (render=base64 or render=url). The button works once a file is chosen and never twice at once.
// The "Find" switch picks the task: objects (/detect), people with their skeleton (/pose) or faces with their
// landmarks (/face); each has its own minimum confidence, set on the slider when the mode changes.
import {
  bindSizeControl, drawDetections, formatBytes, formatMs, formatTimings, onWidthChange, postImage, setBusy,
  showError, shrinkImage,
} from "./app.js";

const $ = (id) => document.getElementById(id);
const form = $("detect-form");
const fileInput = $("file");
const button = $("submit");
const canvas = $("canvas");
const serverImage = $("server-image");
const showTags = $("show-tags");
const serverSwitch = $("server-render");
const errorBox = $("error");
const TASK_API = {detect: "api", pose: "apiPose", face: "apiFace"};
const TASK_CONF = {detect: Number($("conf").value), pose: 0.25, face: 0.7};
const NOUNS = {detect: ["object", "objects"], pose: ["person", "people"], face: ["face", "faces"]};
const state = {file: null, prepared: null, sent: null, answer: null, rendered: {}, inFlight: false, roundTripMs: 0};

bindSizeControl($("size"), $("figure"), $("size-value"), "%");
for (const id of ["quality", "conf"]) {
  $(id).addEventListener("input", () => { $(`${id}-value`).value = $(id).value; });
}

function task() {
  return form.elements.task.value;
}

function renderMode() {
  return form.elements.render.value;
}

function uploadOptions() {
  const maxSide = Math.min(4096, Math.max(64, Number.parseInt($("max-side").value, 10) || 1280));
  return {maxSide, quality: Number($("quality").value)};
}

async function prepare() {
  if (state.prepared) return state.prepared;
  const file = state.file;
  let prepared;
  try {
    prepared = await shrinkImage(file, uploadOptions());
  } catch {
    // The browser cannot decode it: send the file unchanged and let the server say what is wrong with it.
    prepared = {dataUrl: null, canvas: null, raw: true, bytes: file.size};
  }
  if (state.file === file) state.prepared = prepared;
  return prepared;
}

function describe(answer) {
  const dets = answer.detections;
  if (!dets.length) return "Found nothing above the minimum confidence.";
  const [one, many] = NOUNS[answer.task] || NOUNS.detect;
  if (answer.task !== "detect") return `Found ${dets.length} ${dets.length > 1 ? many : one}.`;
  const counts = new Map();
  for (const det of dets) counts.set(det.label, (counts.get(det.label) || 0) + 1);
  const parts = [...counts].map(([label, n]) => (n > 1 ? `${label} ×${n}` : label));
  return `Found ${dets.length} ${dets.length > 1 ? many : one}: ${parts.join(", ")}.`;
}

function redraw() {
  if (!state.answer || canvas.hidden) return;
  const tags = showTags.checked;
  drawDetections(canvas, state.sent.canvas, state.answer, {labels: tags, scores: tags});
  canvas.setAttribute("aria-label", `The uploaded image with its boxes. ${describe(state.answer)}`);
}

function display() {
  const src = serverSwitch.checked ? state.rendered[renderMode()] : null;
  serverImage.hidden = !src;
  canvas.hidden = Boolean(src);
  if (src) {
    serverImage.src = src;
    serverImage.alt = `The image with boxes drawn by the server. ${describe(state.answer)}`;
    serverImage.dataset.mode = renderMode();
  } else {
    redraw();
  }
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
}

function fillTable(answer) {
  const rows = answer.detections.map((det, i) => {
    const row = document.createElement("tr");
    cell(row, String(i + 1));
    cell(row, det.label);
    cell(row, det.score.toFixed(3));
    cell(row, det.box.map((v) => Math.round(v)).join(", "));
    return row;
  });
  $("table").tBodies[0].replaceChildren(...rows);
  $("table").hidden = rows.length === 0;
}

function sentText(sent) {
  if (sent.raw) return `sent the file unchanged (${formatBytes(sent.bytes)})`;
  if (!sent.reencoded) {
    return `sent the original ${sent.width}×${sent.height} JPEG, ${formatBytes(sent.bytes)} (already small)`;
  }
  const original = `${sent.originalWidth}×${sent.originalHeight}, ${formatBytes(state.file.size)}`;
  return `sent ${sent.width}×${sent.height} JPEG, ${formatBytes(sent.bytes)} (original ${original})`;
}

function showAnswer() {
  const answer = state.answer;
  $("summary").textContent = describe(answer);
  $("meta").textContent = `Model ${answer.model} · ${sentText(state.sent)} · ${formatTimings(answer.timings_ms)}`
    + ` · round trip ${formatMs(state.roundTripMs)}`;
  fillTable(answer);
  display();
  document.body.dataset.state = "done";
}

async function runDetect() {
  if (!state.file || state.inFlight) return;
  state.inFlight = true;
  setBusy(button, true, "Detecting…");
  showError(errorBox, null);
  document.body.dataset.state = "busy";
  try {
    const sent = await prepare();
    const mode = serverSwitch.checked ? renderMode() : undefined;
    const started = performance.now();
    const answer = await postImage(form.dataset[TASK_API[task()]], sent.dataUrl ?? state.file,
      {params: {conf: $("conf").value, render: mode}});
    state.roundTripMs = performance.now() - started;
    Object.assign(state, {answer, sent, rendered: {}});
    if (answer.image) state.rendered.base64 = `data:image/jpeg;base64,${answer.image}`;
    if (answer.image_url) state.rendered.url = answer.image_url;
    showAnswer();
  } catch (err) {
    showError(errorBox, err);
    $("summary").textContent = "No result: see the error above.";
    document.body.dataset.state = "error";
  } finally {
    state.inFlight = false;
    setBusy(button, false);
    button.disabled = !state.file;
  }
}

fileInput.addEventListener("change", () => {
  Object.assign(state, {file: fileInput.files[0] || null, prepared: null, answer: null, rendered: {}});
  button.disabled = !state.file || state.inFlight;
  showError(errorBox, null);
  $("table").hidden = true;
  $("meta").textContent = "";
  canvas.hidden = true;
  serverImage.hidden = true;
  $("file-info").textContent = state.file ? `${state.file.name}, ${formatBytes(state.file.size)}` : "";
  $("summary").textContent = state.file ? "Ready: press “Upload and detect”." : "No image yet: choose one above.";
  document.body.dataset.state = state.file ? "chosen" : "empty";
});

for (const id of ["max-side", "quality"]) $(id).addEventListener("change", () => { state.prepared = null; });
showTags.addEventListener("change", redraw);
form.addEventListener("change", (event) => {
  if (event.target.name === "task") {
    $("conf").value = String(TASK_CONF[task()]);
    $("conf-value").value = $("conf").value;
    document.body.dataset.task = task();
    if (state.answer) runDetect();
    return;
  }
  if (event.target !== serverSwitch && event.target.name !== "render") return;
  if (state.answer && serverSwitch.checked && !state.rendered[renderMode()]) runDetect();
  else if (state.answer) display();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  runDetect();
});
onWidthChange(canvas, redraw);

// The detection page: shrink + compress the chosen photo in the browser, upload it as JSON base64, draw the
// answered boxes on a canvas (in the shrunk image's pixels, scaled to the displayed size), or show the image
// the server drew (render=base64 or render=url). The server is asked for everything above the slider's lowest
// value (data-request-conf), so the confidence slider and the class chips filter the shown result live,
// without a new request (the server's own drawing is asked at the slider's value); what the page shows (the
// slider's value, the classes switched off) goes with the photo, and the server publishes (MQTT) only that;
// letting go of the slider or switching a class asks again, so that boards keep hearing what is shown.
// Pose and face results publish under the page's source, detect, like objects. The button works once a
// file is chosen and never twice at once. The "Find" switch (find.js) sends the photo to /detect, /pose
// (skeletons) or /face (landmarks) instead, again at once when a result is on the page. A photo the browser
// cannot decode (an iPhone's HEIC in Chromium) is sent unchanged and shown as the server draws it.
import {
  acceptImages, bindSizeControl, drawDetections, fillLegend, formatBytes, formatMs, formatTimings, labelName,
  onWidthChange, postImage, reveal, setBusy, setInputFile, showError, shrinkImage, t, whenFontReady,
} from "./app.js";
import {bindFind, describeFound} from "./find.js";
import {listText} from "./i18n.js";

const $ = (id) => document.getElementById(id);
const form = $("detect-form");
const fileInput = $("file");
const button = $("submit");
const canvas = $("canvas");
const serverImage = $("server-image");
const showTags = $("show-tags");
const serverSwitch = $("server-render");
const errorBox = $("error");
const state = {file: null, prepared: null, sent: null, answer: null, rendered: {}, inFlight: false, roundTripMs: 0,
  off: new Set(), again: false};

bindSizeControl($("size"), $("figure"), $("size-value"), "%");
$("quality").addEventListener("input", () => { $("quality-value").value = $("quality").value; });

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

/** The detections shown: above the slider's confidence, of the classes not switched off. */
function shown() {
  const conf = Number($("conf").value);
  return state.answer.detections.filter((det) => det.score >= conf && !state.off.has(det.label));
}

function aboveConf() {
  const conf = Number($("conf").value);
  return state.answer.detections.filter((det) => det.score >= conf);
}

/** What the page shows, sent with the photo: the server publishes (MQTT) only that, never the extra asked for
 * so the slider can move without a new request. */
function shownParams() {
  return {shown_conf: $("conf").value, shown_hide: [...state.off].join(",") || undefined};
}

function describe(dets) {
  const found = describeFound(state.answer.task, dets.length, {...state.answer, detections: dets});
  if (found) return found;
  if (!dets.length) return t("detect.found_none");
  const counts = new Map();
  for (const det of dets) counts.set(det.label, (counts.get(det.label) || 0) + 1);
  const parts = [...counts].map(([label, n]) => (n > 1 ? `${labelName(label)} ×${n}` : labelName(label)));
  return t(dets.length === 1 ? "detect.found_one" : "detect.found", {n: dets.length, list: listText(parts)});
}

function redraw() {
  if (!state.answer || canvas.hidden) return;
  const tags = showTags.checked;
  const keep = new Set(shown());
  drawDetections(canvas, state.sent.canvas, state.answer, {labels: tags, scores: tags, keep: (d) => keep.has(d)});
  canvas.setAttribute("aria-label", t("detect.canvas_label", {summary: describe(shown())}));
}

/** How the server should draw the answer: the chosen mode, or base64 for a photo the browser cannot show. */
function serverMode(sent) {
  if (serverSwitch.checked) return renderMode();
  return sent.raw ? "base64" : undefined;
}

function display() {
  const src = serverSwitch.checked || state.sent.raw ? state.rendered[serverMode(state.sent)] : null;
  serverImage.hidden = !src;
  canvas.hidden = Boolean(src);
  if (src) {
    serverImage.src = src;
    serverImage.alt = t("detect.server_image_label", {summary: describe(state.answer.detections)});
    serverImage.dataset.mode = serverMode(state.sent);
  } else {
    redraw();
  }
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
}

function fillTable(dets) {
  const rows = dets.map((det, i) => {
    const row = document.createElement("tr");
    cell(row, String(i + 1));
    cell(row, labelName(det.label));
    cell(row, det.score.toFixed(3));
    cell(row, det.box.map((v) => Math.round(v)).join(", "));
    return row;
  });
  $("table").tBodies[0].replaceChildren(...rows);
  $("table").hidden = rows.length === 0;
}

function toggleClass(label) {
  if (state.off.has(label)) state.off.delete(label);
  else state.off.add(label);
  refilter();
  republish();
}

/** What is shown changed (the slider let go, a class switched): ask again with it, so that what is published
 * stays what is shown (the page itself already shows it, from the answer it has). */
function republish() {
  if (!state.answer) return;
  if (state.inFlight) state.again = true;
  else runDetect();
}

/** Apply the slider and the chips to the answer already here: summary, chips, canvas, table. */
function refilter() {
  if (!state.answer) return;
  $("conf-value").value = $("conf").value;
  const dets = shown();
  $("summary").textContent = describe(dets);
  fillLegend($("legend"), aboveConf(), {off: state.off, onToggle: toggleClass});
  fillTable(dets);
  display();
}

function sentText(sent) {
  if (sent.raw) return t("detect.sent_raw", {bytes: formatBytes(sent.bytes)});
  if (!sent.reencoded) {
    return t("detect.sent_original", {w: sent.width, h: sent.height, bytes: formatBytes(sent.bytes)});
  }
  return t("detect.sent_shrunk", {w: sent.width, h: sent.height, bytes: formatBytes(sent.bytes),
    ow: sent.originalWidth, oh: sent.originalHeight, obytes: formatBytes(state.file.size)});
}

function showAnswer() {
  const answer = state.answer;
  $("meta").textContent = [t("common.model", {model: answer.model}), sentText(state.sent),
    formatTimings(answer.timings_ms), t("common.round_trip", {time: formatMs(state.roundTripMs)})].join(" · ");
  refilter();
  document.body.dataset.state = "done";
  reveal($("result"));
}

async function runDetect() {
  if (!state.file || state.inFlight) return;
  state.inFlight = true;
  setBusy(button, true, t("detect.busy"));
  showError(errorBox, null);
  document.body.dataset.state = "busy";
  try {
    const sent = await prepare();
    const mode = serverMode(sent);
    const started = performance.now();
    const answer = await postImage(find.api(form.dataset.api), sent.dataUrl ?? state.file, {params: {
      conf: mode ? $("conf").value : form.dataset.requestConf, render: mode, ...shownParams(),
      source: find.mode() === "detect" ? undefined : "detect"}});
    state.roundTripMs = performance.now() - started;
    Object.assign(state, {answer, sent, rendered: {}});
    if (answer.image) state.rendered.base64 = `data:image/jpeg;base64,${answer.image}`;
    if (answer.image_url) state.rendered.url = answer.image_url;
    showAnswer();
  } catch (err) {
    showError(errorBox, err);
    $("summary").textContent = t("common.no_result");
    document.body.dataset.state = "error";
  } finally {
    state.inFlight = false;
    setBusy(button, false);
    button.disabled = !state.file;
  }
  if (state.again) {  // the mode changed while this photo was on its way: ask again in the new mode
    state.again = false;
    runDetect();
  }
}

// Another mode: its default confidence on the slider, and the photo on the page asked again in that mode.
const find = bindFind(form, {conf: $("conf"), confOutput: $("conf-value"), onChange: () => {
  state.off = new Set();  // another model, other classes
  if (state.inFlight) state.again = true;
  else if (state.answer) runDetect();
}});

fileInput.addEventListener("change", () => {
  Object.assign(state, {file: fileInput.files[0] || null, prepared: null, answer: null, rendered: {},
    off: new Set()});
  button.disabled = !state.file || state.inFlight;
  showError(errorBox, null);
  $("table").hidden = true;
  $("legend").hidden = true;
  $("meta").textContent = "";
  canvas.hidden = true;
  serverImage.hidden = true;
  $("file-info").textContent = state.file ? `${state.file.name}, ${formatBytes(state.file.size)}` : "";
  $("summary").textContent = state.file ? t("detect.ready") : t("detect.empty");
  document.body.dataset.state = state.file ? "chosen" : "empty";
});

for (const id of ["max-side", "quality"]) $(id).addEventListener("change", () => { state.prepared = null; });
showTags.addEventListener("change", redraw);
$("conf").addEventListener("input", refilter);
$("conf").addEventListener("change", republish);
form.addEventListener("change", (event) => {
  if (event.target !== serverSwitch && event.target.name !== "render") return;
  if (state.answer && serverMode(state.sent) && !state.rendered[serverMode(state.sent)]) runDetect();
  else if (state.answer) display();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  runDetect();
});
$("photo").addEventListener("change", (event) => {  // a photo just taken: detect at once
  const photo = event.target.files[0];
  if (!photo) return;
  setInputFile(fileInput, photo);
  event.target.value = "";
  runDetect();
});
acceptImages(form, (file) => {
  setInputFile(fileInput, file);
  runDetect();
}, $("samples"));
onWidthChange(canvas, redraw);
whenFontReady(redraw);
// A photo chosen while this script still waited for the catalogue (a slow phone, a busy server): take it now.
if (fileInput.files.length) fileInput.dispatchEvent(new Event("change"));

// The teach page: projects of classes, samples recorded from the camera while "Record" is held (or uploaded),
// training on the server, a live try with the camera and making the model one of the server's models.
// Everything goes through /api/v1/teach/…; the browser's projects are those of its vc_client cookie.
// Without the live camera (plain http on the LAN), each class and the try take photos with the phone's own
// camera (<input type=file capture>), and the live-only buttons step aside (body.no-live-camera, app.css).
import {ApiError, failureOf, postImage, setBusy, showCameraNote, showError, t} from "./app.js";
import {bindBoardForm, boardSource, showBoardActions} from "./board_code.js";

const $ = (id) => document.getElementById(id);
const API = "/api/v1/teach";
const RECORD_EVERY_MS = 200;  // 5 samples a second while Record is held
const MAX_IN_FLIGHT = 2;
const SAMPLE_SIDE = 480;
const UNSURE_BELOW = 0.6;
const STORE_KEY = "visioncast.teach.project";

const errorBox = $("error");
const video = $("camera");
const grabber = document.createElement("canvas");
const state = {project: null, stream: null, trying: false, recording: null, live: showCameraNote()};

async function api(method, url, body) {
  const init = {method, headers: {Accept: "application/json"}};
  if (body instanceof Blob) {
    init.body = body;
    init.headers["Content-Type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(t("error.offline"));
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (response.status === 401 || response.status === 403) throw new ApiError(t("teach.teacher_only"), {status: response.status});
  if (!response.ok) throw failureOf(response.status, data, "teach");
  return data;
}

function fail(err) {
  showError(errorBox, err);
}

// -- projects ------------------------------------------------------------------------------------------------
async function loadProjects(selectId) {
  const {projects} = await api("GET", `${API}/projects`);
  const select = $("project-select");
  select.replaceChildren(new Option(t("teach.new_project"), ""), ...projects.map((p) => new Option(p.name, p.id)));
  const wanted = selectId ?? localStorage.getItem(STORE_KEY);
  if (wanted && projects.some((p) => p.id === wanted)) {
    select.value = wanted;
    await openProject(wanted);
  } else {
    showProject(null);
  }
}

async function openProject(id) {
  if (!id) return showProject(null);
  showProject(await api("GET", `${API}/projects/${id}`));
}

function showProject(project) {
  state.project = project;
  const has = Boolean(project);
  for (const id of ["workspace", "train-panel", "delete-project", "export"]) $(id).hidden = !has;
  $("camera-dock").hidden = !has || !state.live;
  $("project-name").hidden = has;
  $("project-kind").hidden = has;
  $("create-project").hidden = has;
  $("project-kind-note").hidden = !has || project.kind !== "pose";
  if (!has) {
    localStorage.removeItem(STORE_KEY);
    $("try-panel").hidden = true;
    return;
  }
  localStorage.setItem(STORE_KEY, project.id);
  document.body.dataset.project = project.id;  // the board program follows this project's tries
  $("export").href = `${API}/projects/${project.id}/export`;
  renderClasses();
  showReport(project.trained);
}

// -- classes and samples -------------------------------------------------------------------------------------
function sampleUrl(cls, sid) {
  return `${API}/projects/${state.project.id}/classes/${cls.id}/samples/${sid}`;
}

function thumb(cls, sid) {
  const item = document.createElement("li");
  item.className = "thumb";
  const img = new Image();
  img.src = `${sampleUrl(cls, sid)}.jpg`;
  img.alt = t("teach.sample_of", {name: cls.name});
  img.loading = "lazy";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "×";
  remove.setAttribute("aria-label", t("teach.delete_sample", {name: cls.name}));
  remove.addEventListener("click", async () => {
    try {
      await api("DELETE", sampleUrl(cls, sid));
      cls.samples = cls.samples.filter((s) => s !== sid);
      cls.count = cls.samples.length;
      item.remove();
      updateCount(cls);
      invalidateModel();
    } catch (err) { fail(err); }
  });
  item.append(img, remove);
  return item;
}

function updateCount(cls) {
  const card = document.querySelector(`[data-class="${cls.id}"]`);
  if (card) card.querySelector(".class-count").textContent = t("teach.samples_count", {n: cls.count});
}

function classCard(cls) {
  const card = document.createElement("li");
  card.className = "class-card";
  card.dataset.class = cls.id;
  const head = document.createElement("div");
  head.className = "class-head";
  const name = document.createElement("span");
  name.className = "class-name";
  name.textContent = cls.name;
  const count = document.createElement("span");
  count.className = "class-count";
  count.textContent = t("teach.samples_count", {n: cls.count});
  head.append(name, count);
  const actions = document.createElement("div");
  actions.className = "actions";
  const record = document.createElement("button");
  record.type = "button";
  record.className = "record primary";
  record.textContent = t("teach.hold_to_record");
  record.setAttribute("aria-pressed", "false");
  bindRecord(record, cls);
  record.classList.add("live-only");
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "small";
  remove.textContent = t("teach.delete_class");
  remove.setAttribute("aria-label", t("teach.delete_class_named", {name: cls.name}));
  remove.addEventListener("click", () => deleteClass(cls));
  head.append(remove);
  actions.append(record, ...fileButton(cls, "photo", t("teach.take_photo")),
    ...fileButton(cls, "pick", t("teach.choose_pictures")));
  const thumbs = document.createElement("ul");
  thumbs.className = "thumbs";
  thumbs.setAttribute("aria-label", t("teach.samples_of", {name: cls.name}));
  thumbs.append(...cls.samples.map((sid) => thumb(cls, sid)));
  card.append(head, actions, thumbs);
  return card;
}

/** A file input drawn as a button: "photo" opens the phone's camera (works over plain http too), "pick"
 *  chooses pictures. */
function fileButton(cls, kind, text) {
  const input = document.createElement("input");
  input.type = "file";
  input.id = `${kind}-${cls.id}`;
  input.className = "visually-hidden file-button-input";
  input.accept = kind === "photo" ? "image/*" : "image/*,.heic,.heif,.avif";
  if (kind === "photo") input.setAttribute("capture", "environment");
  else input.multiple = true;
  input.addEventListener("change", () => uploadFiles(cls, [...input.files]).finally(() => { input.value = ""; }));
  const label = document.createElement("label");
  label.htmlFor = input.id;
  label.className = `button-link secondary${kind === "photo" && !state.live ? " strong" : ""}`;
  label.textContent = text;
  label.title = t(kind === "photo" ? "teach.photo_for" : "teach.upload_for", {name: cls.name});
  return [input, label];
}

function renderClasses() {
  $("classes").replaceChildren(...state.project.classes.map(classCard));
}

async function addSample(cls, blob) {
  const answer = await api("POST", `${API}/projects/${state.project.id}/classes/${cls.id}/samples`, blob);
  cls.samples.push(answer.id);
  cls.count = answer.count;
  document.querySelector(`[data-class="${cls.id}"] .thumbs`)?.append(thumb(cls, answer.id));
  updateCount(cls);
  invalidateModel();
}

async function uploadFiles(cls, files) {
  for (const file of files) {
    try { await addSample(cls, file); } catch (err) { fail(`${file.name}: ${err.message}`); }
  }
}

async function deleteClass(cls) {
  if (!window.confirm(t("teach.confirm_delete_class", {name: cls.name, n: cls.count}))) return;
  try {
    showProject(await api("DELETE", `${API}/projects/${state.project.id}/classes/${cls.id}`));
  } catch (err) { fail(err); }
}

// -- camera ---------------------------------------------------------------------------------------------------
async function startCamera() {
  showError(errorBox, null);
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    fail(t("teach.camera_needs_https"));
    return false;
  }
  if (state.stream) return true;
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({audio: false, video: {width: {ideal: 640}}});
  } catch (err) {
    fail(t("teach.camera_failed", {reason: err.name || String(err)}));
    return false;
  }
  video.srcObject = state.stream;
  video.hidden = false;
  await video.play();
  $("camera-status").textContent = t("teach.camera_on", {width: video.videoWidth, height: video.videoHeight});
  $("start-camera").textContent = t("teach.camera_running");
  $("start-camera").disabled = true;
  return true;
}

function grab(maxSide = SAMPLE_SIDE) {
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  grabber.width = Math.round(video.videoWidth * scale);
  grabber.height = Math.round(video.videoHeight * scale);
  grabber.getContext("2d").drawImage(video, 0, 0, grabber.width, grabber.height);
  return new Promise((resolve, reject) => grabber.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new ApiError(t("teach.frame_failed")))),
    "image/jpeg", 0.85));
}

function bindRecord(button, cls) {
  let timer = null;
  let inFlight = 0;
  const stop = () => {
    if (timer === null) return;
    clearInterval(timer);
    timer = null;
    button.setAttribute("aria-pressed", "false");
    button.textContent = t("teach.hold_to_record");
  };
  const tick = async () => {
    if (inFlight >= MAX_IN_FLIGHT || !video.videoWidth) return;
    inFlight += 1;
    try { await addSample(cls, await grab()); } catch (err) { fail(err); stop(); } finally { inFlight -= 1; }
  };
  button.addEventListener("pointerdown", async (event) => {
    event.preventDefault();
    if (!(await startCamera())) return;
    button.setPointerCapture?.(event.pointerId);
    button.setAttribute("aria-pressed", "true");
    button.textContent = t("teach.recording");
    timer = setInterval(tick, RECORD_EVERY_MS);
    tick();
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(type, stop);
  button.addEventListener("keydown", (event) => {  // keyboard: Space/Enter held records like a press
    if ((event.key === " " || event.key === "Enter") && !event.repeat) {
      event.preventDefault();
      button.dispatchEvent(new PointerEvent("pointerdown", {pointerId: 1}));
    }
  });
  button.addEventListener("keyup", (event) => { if (event.key === " " || event.key === "Enter") stop(); });
}

// -- training, trying, using ----------------------------------------------------------------------------------
function invalidateModel() {
  if (state.project) state.project.trained = null;
  $("try-panel").hidden = true;
  $("report").hidden = true;
  $("train-status").textContent = t("teach.retrain");
}

function showReport(report) {
  $("report").hidden = !report;
  $("try-panel").hidden = !report;
  if (!report) return;
  showBoardActions(report.labels);
  const acc = report.accuracy;
  $("accuracy").textContent = acc === null ? t("teach.accuracy_unknown")
    : t("teach.accuracy", {percent: Math.round(acc * 100)});
  const table = $("confusion");
  table.querySelectorAll("tr").forEach((row) => row.remove());
  const header = table.insertRow();
  const corner = document.createElement("th");
  corner.scope = "col";
  corner.textContent = t("teach.confusion_corner");
  header.append(corner);
  for (const label of report.labels) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = label;
    header.append(th);
  }
  report.confusion.forEach((row, i) => {
    const tr = table.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = report.labels[i];
    tr.append(th);
    row.forEach((n, j) => {
      const td = tr.insertCell();
      td.textContent = String(n);
      if (i === j) td.className = "hit";
    });
  });
}

async function train() {
  const button = $("train");
  setBusy(button, true, t("teach.training"));
  showError(errorBox, null);
  $("train-status").textContent = t("teach.training_on_server");
  try {
    const report = await api("POST", `${API}/projects/${state.project.id}/train`);
    state.project.trained = report;
    $("train-status").textContent = t("teach.trained_in", {seconds: report.seconds});
    showReport(report);
    $("report").scrollIntoView({behavior: "smooth", block: "nearest"});
  } catch (err) {
    fail(err);
    $("train-status").textContent = "";
  } finally {
    setBusy(button, false);
  }
}

function showGuess(answer) {
  const best = answer.predictions[0];
  const sure = best.score >= UNSURE_BELOW;
  const percent = Math.round(best.score * 100);
  $("try-label").textContent = t(sure ? "teach.guess" : "teach.not_sure", {label: best.label, percent});
  $("try-label").classList.toggle("unsure", !sure);
  $("dock-guess").textContent = $("try-label").textContent;  // under the camera, in view while trying
  $("dock-guess").hidden = !state.trying;
  $("try-bars").replaceChildren(...answer.predictions.map((p) => {
    const item = document.createElement("li");
    item.className = "bar-item";
    item.innerHTML = '<span class="bar-label"></span><span class="bar-track"><span class="bar-fill"></span></span>'
      + '<span class="bar-value"></span>';
    item.querySelector(".bar-label").textContent = p.label;
    item.querySelector(".bar-fill").style.width = `${(p.score * 100).toFixed(1)}%`;
    item.querySelector(".bar-value").textContent = `${(p.score * 100).toFixed(1)} %`;
    return item;
  }));
}

async function tryLive() {
  if (!(await startCamera())) return;
  state.trying = true;
  $("try").disabled = true;
  $("stop-try").disabled = false;
  while (state.trying && state.project?.trained) {
    if (!video.videoWidth) { await new Promise((r) => requestAnimationFrame(r)); continue; }
    try {
      const params = {top: 3, source: boardSource()};  // published where the board program listens
      showGuess(await postImage(`${API}/projects/${state.project.id}/classify`, await grab(), {params}));
    } catch (err) {
      fail(err);
      break;
    }
  }
  stopTry();
}

function stopTry() {
  state.trying = false;
  $("dock-guess").hidden = true;
  $("try").disabled = false;
  $("stop-try").disabled = true;
}

async function useModel(event) {
  event.preventDefault();
  const name = $("model-name").value.trim();
  if (!name) return fail(t("teach.need_model_name"));
  try {
    const answer = await api("POST", `${API}/projects/${state.project.id}/use`, {name});
    $("use-status").textContent = t("teach.used", {name: answer.name});
  } catch (err) { fail(err); }
}

// -- wiring ---------------------------------------------------------------------------------------------------
$("project-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("project-name").value.trim();
  if (!name) return fail(t("teach.need_project_name"));
  const button = $("create-project");
  setBusy(button, true, t("teach.creating"));
  try {
    const project = await api("POST", `${API}/projects`, {name, kind: $("project-kind").value});
    $("project-name").value = "";
    await loadProjects(project.id);
  } catch (err) { fail(err); } finally { setBusy(button, false); }
});
$("project-select").addEventListener("change", (event) => openProject(event.target.value).catch(fail));
$("class-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("class-name").value.trim();
  if (!name) return fail(t("teach.need_class_name"));
  try {
    showProject(await api("POST", `${API}/projects/${state.project.id}/classes`, {name}));
    $("class-name").value = "";
    showError(errorBox, null);
  } catch (err) { fail(err); }
});
$("delete-project").addEventListener("click", async () => {
  if (!window.confirm(t("teach.confirm_delete_project", {name: state.project.name}))) return;
  try {
    await api("DELETE", `${API}/projects/${state.project.id}`);
    await loadProjects("");
  } catch (err) { fail(err); }
});
$("import-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const project = await api("POST", `${API}/import`, new Blob([file], {type: "application/zip"}));
    await loadProjects(project.id);
  } catch (err) { fail(err); } finally { event.target.value = ""; }
});
$("start-camera").addEventListener("click", startCamera);
$("train").addEventListener("click", train);
$("try").addEventListener("click", tryLive);
$("stop-try").addEventListener("click", stopTry);
$("use-form")?.addEventListener("submit", useModel);  // teachers only
$("try-photo").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const params = {top: 3, source: boardSource()};
    showGuess(await postImage(`${API}/projects/${state.project.id}/classify`, file, {params}));
  } catch (err) { fail(err); } finally { event.target.value = ""; }
});
bindBoardForm(errorBox);
window.addEventListener("pagehide", () => state.stream?.getTracks().forEach((t) => t.stop()));

loadProjects().catch(fail);

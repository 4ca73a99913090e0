// visioncast shared browser helpers, an ES module reused by every page:
//   import {postImage, shrinkImage, drawDetections, showError} from "/static/app.js";
// postImage: send an image to the JSON API, get the JSON or an ApiError whose message is in the page's words.
// shrinkImage: shrink + compress an image in the browser (canvas → JPEG) before uploading it.
// drawDetections (from ./draw.js, re-exported): draw an image and the boxes of an API answer on a canvas,
// scaled to its displayed size, with tags that never cover each other. Text is in the page's language
// (./i18n.js).
import {formatNumber, t, has} from "./i18n.js";

export {labelName, t} from "./i18n.js";
export {
  FONT_FAMILY, colorFor, countKeypoints, drawDetections, fillLegend, fitToScreen, whenFontReady,
} from "./draw.js";

/** An error to show to the user; `message` is in the page's words, `status`/`code` come from the server and
 * `detail` is the server's own (English, technical) message. */
export class ApiError extends Error {
  constructor(message, {status = 0, code = "", detail = ""} = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** A sentence in the page's language for a failed answer: by its error code, else by its HTTP status. */
export function describeFailure(status, data, context = "") {
  const code = data && typeof data.error === "string" ? data.error : "";
  const keys = code ? [`error.${context}.${code}`, `error.${code}`] : [];
  keys.push(`error.${context}.status.${status}`, `error.status.${status}`);
  const key = keys.find(has);
  return key ? t(key) : t("error.status.other", {status});
}

/** An ApiError from a failed answer's status and JSON body. */
export function failureOf(status, data, context = "") {
  const detail = data && typeof data.message === "string" ? data.message : "";
  return new ApiError(describeFailure(status, data, context),
    {status, code: data && data.error ? data.error : "", detail});
}

function withQuery(url, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${url}${url.includes("?") ? "&" : "?"}${text}` : url;
}

function requestBody(image) {
  if (typeof image === "string") {
    return {body: JSON.stringify({image}), headers: {"Content-Type": "application/json"}};
  }
  const form = new FormData();
  form.append("image", image, image.name || "image");
  return {body: form, headers: {}};
}

/**
 * POST an image to a visioncast API URL and resolve to its JSON answer.
 * image: a File/Blob (sent as the multipart field "image") or a string (base64 or data: URL, sent as JSON).
 * params: query options ({conf, render, top, source, ...}; empty values are left out).
 * Rejects with an ApiError whose message can be shown as is.
 */
export async function postImage(url, image, {params = {}, timeoutMs = 60000} = {}) {
  const {body, headers} = requestBody(image);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; controller.abort(); }, timeoutMs);
  let response;
  try {
    response = await fetch(withQuery(url, params), {
      method: "POST", body, headers: {Accept: "application/json", ...headers}, signal: controller.signal,
    });
  } catch {
    throw new ApiError(timedOut ? t("error.timeout", {s: Math.round(timeoutMs / 1000)}) : t("error.offline"));
  } finally {
    clearTimeout(timer);
  }
  return readAnswer(response, "image");
}

/** The JSON of a fetch answer, or an ApiError in the page's words (context: "image", "video", "stream"…). */
export async function readAnswer(response, context = "") {
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch { data = null; }
  if (!response.ok) throw failureOf(response.status, data, context);
  if (data === null) throw new ApiError(t("error.not_json"));
  return data;
}

/** fetch + readAnswer: JSON from a visioncast API URL, an ApiError in plain words otherwise. */
export async function getJson(url, options = {}, context = "") {
  let response;
  try {
    response = await fetch(url, {cache: "no-store", headers: {Accept: "application/json"}, ...options});
  } catch {
    throw new ApiError(t("error.offline"));
  }
  return readAnswer(response, context);
}

/** Show `error` (an Error or a string) in the element `box` (an aria-live region), or hide it when null.
 * An ApiError's technical detail (the server's own words) sits folded under the message. */
export function showError(box, error) {
  if (!error) {
    box.replaceChildren();
    box.hidden = true;
    return;
  }
  const text = document.createElement("span");
  text.className = "error-text";
  text.textContent = typeof error === "string" ? error : error.message || String(error);
  box.replaceChildren(text);
  if (error.detail && error.detail !== text.textContent) box.append(foldedDetail(error.detail));
  box.dataset.code = error.code || "";
  box.hidden = false;
  reveal(box);
}

/** The server's own (English, technical) words folded away under "Details", for beside a message in the
 * page's language. */
export function foldedDetail(text) {
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = t("error.details");
  const detail = document.createElement("code");
  detail.textContent = text;
  details.append(summary, detail);
  return details;
}

/** Mark a button busy (disabled + aria-busy + a busy label) or give it back its label. */
/** Whether this page may ask for the live camera: browsers give it only to https pages and localhost. */
export function cameraUsable() {
  return Boolean(window.isSecureContext && navigator.mediaDevices?.getUserMedia);
}

/** Reveal the line of _camera_note.html that fits this connection; marks <body> with no-live-camera when the
 *  camera cannot be used, so live-only controls step aside for the photo ones (app.css). */
export function showCameraNote() {
  const usable = cameraUsable();
  const note = document.getElementById("camera-note");
  note?.querySelector(".camera-ok")?.toggleAttribute("hidden", !usable);
  note?.querySelector(".camera-off")?.toggleAttribute("hidden", usable);
  document.body.classList.toggle("no-live-camera", !usable);
  return usable;
}

export function setBusy(button, busy, busyLabel = t("common.working")) {
  if (busy) {
    button.dataset.label ??= button.textContent;
    button.textContent = busyLabel;
    // disabling drops the focus to <body>: a keyboard user gets it back on the button when the work ends
    if (document.activeElement === button) button.dataset.refocus = "1";
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
    delete button.dataset.label;
  }
  button.disabled = busy;
  button.setAttribute("aria-busy", String(busy));
  if (!busy && button.dataset.refocus) {
    delete button.dataset.refocus;
    const lost = !document.activeElement || document.activeElement === document.body;
    if (lost && !button.disabled) button.focus({preventScroll: true});
  }
}

/** Bring `element` into view (a result, an error) unless it is already fully visible. */
export function reveal(element) {
  const box = element.getBoundingClientRect();
  if (box.top >= 0 && box.bottom <= window.innerHeight) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  element.scrollIntoView({behavior: smooth ? "smooth" : "auto", block: box.height > window.innerHeight
    ? "start" : "nearest"});
}

/** Load a File/Blob/URL into a decoded <img>; rejects with an ApiError when the browser cannot read it. */
export function loadImage(source) {
  const url = typeof source === "string" ? source : URL.createObjectURL(source);
  return new Promise((resolve, reject) => {
    const img = new Image();
    const done = () => { if (url !== source) URL.revokeObjectURL(url); };
    img.onload = () => { done(); resolve(img); };
    img.onerror = () => {
      done();
      reject(new ApiError(t("error.browser_cannot_read_image")));
    };
    img.src = url;
  });
}

/** A File/Blob as a data: URL. */
export function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new ApiError(t("error.browser_cannot_read_file")));
    reader.readAsDataURL(file);
  });
}

/**
 * Shrink and compress an image in the browser: longest side at most `maxSide` pixels, JPEG at `quality` (0–1).
 * Resolves to {dataUrl, canvas, width, height, bytes, originalWidth, originalHeight, reencoded}; the canvas
 * holds the pixels sent, so boxes the server answers are in its coordinates. A JPEG that needs no shrinking
 * and is smaller than its re-encoding is sent as it is (reencoded: false).
 */
export async function shrinkImage(file, {maxSide = 1280, quality = 0.85} = {}) {
  const img = await loadImage(file);
  const originalWidth = img.naturalWidth;
  const originalHeight = img.naturalHeight;
  const scale = Math.min(1, maxSide / Math.max(originalWidth, originalHeight));
  const width = Math.max(1, Math.round(originalWidth * scale));
  const height = Math.max(1, Math.round(originalHeight * scale));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(img, 0, 0, width, height);
  const dataUrl = canvas.toDataURL("image/jpeg", quality);
  const bytes = Math.floor((dataUrl.length - dataUrl.indexOf(",") - 1) * 3 / 4);
  const shrunk = {dataUrl, canvas, width, height, bytes, originalWidth, originalHeight, reencoded: true};
  if (scale < 1 || file.type !== "image/jpeg" || file.size >= bytes) return shrunk;
  return {...shrunk, dataUrl: await readDataUrl(file), bytes: file.size, reencoded: false};
}

/** Call `redraw` whenever the displayed width of `element` changes (size control, window, rotation). */
export function onWidthChange(element, redraw) {
  let last = element.clientWidth;
  const observer = new ResizeObserver(() => {
    if (element.clientWidth !== last) {
      last = element.clientWidth;
      redraw();
    }
  });
  observer.observe(element);
  return observer;
}

/** Bind a range input to the CSS width of `target` (unit "%" or "px") and show the value in `output`. */
export function bindSizeControl(range, target, output, unit = "%") {
  const apply = () => {
    target.style.width = `${range.value}${unit}`;
    if (output) output.value = `${range.value}${unit === "%" ? " %" : " px"}`;
  };
  range.addEventListener("input", apply);
  apply();
}

/**
 * Take an image file from a drop on `zone`, a paste anywhere on the page, or a sample link
 * (`a[data-sample]` inside `samples`): each calls `onFile(file)` with a File, as the file input would.
 */
export function acceptImages(zone, onFile, samples = null) {
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) onFile(file);
  });
  document.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) onFile(file);
  });
  for (const link of samples ? samples.querySelectorAll("[data-sample]") : []) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const blob = await (await fetch(link.dataset.sample)).blob();
      onFile(new File([blob], link.dataset.name, {type: blob.type}));
    });
  }
}

/** Put `file` into a file <input> (so the form sees it) and fire its change event. */
export function setInputFile(input, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", {bubbles: true}));
}

/** "12.3 ms" or "1.23 s". */
export function formatMs(ms) {
  return ms >= 1000 ? `${formatNumber(ms / 1000, 2)} s` : `${formatNumber(ms, 1)} ms`;
}

/** "532 B", "14.2 KB", "3.1 MB". */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${formatNumber(bytes / 1024, 1)} KB`;
  return `${formatNumber(bytes / 1024 / 1024, 1)} MB`;
}

const STAGES = ["decode", "preprocess", "inference", "postprocess"];

/** "preprocess 2.1 ms · inference 40.3 ms · postprocess 0.9 ms" from an answer's timings_ms, in pipeline order. */
export function formatTimings(timings) {
  const rank = (stage) => (STAGES.includes(stage) ? STAGES.indexOf(stage) : STAGES.length);
  return Object.entries(timings || {})
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([stage, ms]) => `${has(`stage.${stage}`) ? t(`stage.${stage}`) : stage} ${formatMs(ms)}`).join(" · ");
}

// visioncast shared browser helpers, an ES module reused by every page:
//   import {postImage, shrinkImage, drawDetections, showError} from "/static/app.js";
// postImage: send an image to the JSON API, get the JSON or an ApiError whose message is in the page's words.
// shrinkImage: shrink + compress an image in the browser (canvas → JPEG) before uploading it.
// drawDetections: draw an image and the boxes of an API answer on a canvas, scaled to its displayed size,
// with tags that never cover each other. Text is in the page's language (./i18n.js).
import {formatNumber, palette, t, has} from "./i18n.js";

export {t} from "./i18n.js";

/** The CSS family of the CJK web font visioncast serves (static/fonts/, declared in app.css). */
export const FONT_FAMILY = "VC WenQuanYi";
const FONT_STACK = `"${FONT_FAMILY}", system-ui, "Noto Sans", sans-serif`;  // as app.css: CJK from the web font

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
  if (error.detail && error.detail !== text.textContent) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = t("error.details");
    const detail = document.createElement("code");
    detail.textContent = error.detail;
    details.append(summary, detail);
    box.append(details);
  }
  box.dataset.code = error.code || "";
  box.hidden = false;
  reveal(box);
}

/** Mark a button busy (disabled + aria-busy + a busy label) or give it back its label. */
export function setBusy(button, busy, busyLabel = t("common.working")) {
  if (busy) {
    button.dataset.label ??= button.textContent;
    button.textContent = busyLabel;
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
    delete button.dataset.label;
  }
  button.disabled = busy;
  button.setAttribute("aria-busy", String(busy));
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

/** The colour of a class id: the server's palette (visioncast.draw), the same in images, AVIs and pages. */
export function colorFor(classId) {
  return palette[Math.abs(classId) % palette.length];
}

function textColorOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 ? "#000" : "#fff";
}

function tagText(det, labels, scores) {
  const parts = [];
  if (labels) parts.push(det.label);
  if (scores) parts.push(det.score.toFixed(2));
  return parts.join(" ");
}

const TAG = {pad: 3, height: 16, font: 12};

/** `text` cut with "…" to fit `maxWidth` pixels in `ctx`'s font. */
function fitText(ctx, text, maxWidth) {
  if (ctx.measureText(text).width <= maxWidth) return text;
  let cut = text;
  while (cut.length > 1 && ctx.measureText(`${cut}…`).width > maxWidth) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Where a tag of width `w` goes for box [x1, y1, x2, y2]: above, inside the top, inside the bottom, below —
 * the first spot that covers no tag placed before; null when every spot is taken. */
function placeTag(box, w, placed, canvasWidth, canvasHeight) {
  const [x1, y1, x2, y2] = box;
  const h = TAG.height;
  const left = Math.max(0, Math.min(x1, canvasWidth - w));
  const spots = [y1 - h, y1, y2 - h, y2].filter((y) => y >= 0 && y + h <= canvasHeight);
  for (const y of spots) {
    const rect = {x: left, y, w, h};
    if (!placed.some((p) => overlaps(p, rect))) return rect;
  }
  return null;
}

function drawTags(ctx, items, size) {
  const placed = [];
  let hidden = 0;
  for (const {box, text, color} of [...items].sort((a, b) => b.score - a.score)) {
    const maxWidth = Math.max(48, Math.min(box[2] - box[0], size.width * 0.6));
    const shown = fitText(ctx, text, maxWidth - 2 * TAG.pad);
    const rect = placeTag(box, ctx.measureText(shown).width + 2 * TAG.pad, placed, size.width, size.height);
    if (!rect) { hidden += 1; continue; }
    placed.push(rect);
    ctx.fillStyle = color;
    ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
    ctx.fillStyle = textColorOn(color);
    ctx.fillText(shown, rect.x + TAG.pad, rect.y + TAG.height - 4);
  }
  return {placed, hidden};
}

/**
 * Draw `image` (an <img>, canvas or bitmap of the size the server saw; null: a plain background) and the
 * detections of `payload` (an API answer: {width, height, detections: [{box: [x1, y1, x2, y2], class_id, label, score}]}) on `canvas`.
 * The canvas keeps its CSS width; boxes are scaled from payload pixels to that width and drawn sharp on
 * high-DPI screens. Options: labels / scores (tags on the boxes); keep(det) → false leaves a detection out
 * (the live confidence and class filters). Tags never cover each other: a tag that finds no free spot is
 * left out (the legend and the table still name it). Sets data-boxes (the count drawn), data-tags
 * ("shown"/"hidden"), data-tags-hidden, data-tag-rects (JSON) and data-scale. Returns {boxes, scale}.
 */
export function drawDetections(canvas, image, payload, {labels = true, scores = true, keep = null} = {}) {
  const cssWidth = canvas.clientWidth || payload.width;
  const scale = cssWidth / payload.width;
  const cssHeight = payload.height * scale;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(cssWidth * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (image) {
    ctx.drawImage(image, 0, 0, cssWidth, cssHeight);
  } else {  // the browser could not decode the upload itself: boxes on a plain background
    ctx.fillStyle = "#d0d4da";
    ctx.fillRect(0, 0, cssWidth, cssHeight);
  }
  ctx.lineWidth = 2;
  ctx.font = `600 ${TAG.font}px ${FONT_STACK}`;
  const detections = (payload.detections || []).filter((det) => !keep || keep(det));
  const tags = [];
  for (const det of detections) {
    const box = det.box.map((v) => v * scale);
    const color = colorFor(det.class_id);
    ctx.strokeStyle = color;
    ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    const text = tagText(det, labels, scores);
    if (text) tags.push({box, text, color, score: det.score});
  }
  const {placed, hidden} = drawTags(ctx, tags, {width: cssWidth, height: cssHeight});
  canvas.dataset.boxes = String(detections.length);
  canvas.dataset.tags = labels || scores ? "shown" : "hidden";
  canvas.dataset.tagsHidden = String(hidden);
  canvas.dataset.tagRects = JSON.stringify(placed.map((r) => [r.x, r.y, r.w, r.h].map(Math.round)));
  canvas.dataset.scale = scale.toFixed(4);
  return {boxes: detections.length, scale};
}

/** Fill `list` (a <ul>) with one coloured chip per class of `detections`; a chip is a toggle button
 * (aria-pressed) when `onToggle(label)` is given. `off` is the Set of labels switched off. */
export function fillLegend(list, detections, {off = new Set(), onToggle = null} = {}) {
  const classes = new Map();
  for (const det of detections) {
    const entry = classes.get(det.label) || {id: det.class_id, n: 0};
    entry.n += 1;
    classes.set(det.label, entry);
  }
  list.replaceChildren(...[...classes].sort((a, b) => b[1].n - a[1].n).map(([label, {id, n}]) => {
    const item = document.createElement("li");
    const chip = document.createElement(onToggle ? "button" : "span");
    chip.className = "chip";
    chip.dataset.label = label;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colorFor(id);
    chip.append(swatch, `${label} ${n}`);
    if (onToggle) {
      chip.type = "button";
      chip.setAttribute("aria-pressed", String(!off.has(label)));
      chip.addEventListener("click", () => onToggle(label));
    }
    item.append(chip);
    return item;
  }));
  list.hidden = classes.size === 0;
}

/** Run `redraw` once the web font can draw `text` on a canvas (a canvas does not wait for fonts by itself). */
export function whenFontReady(redraw, text = "中文") {
  if (!document.fonts || document.fonts.check(`12px "${FONT_FAMILY}"`, text)) return;
  document.fonts.load(`12px "${FONT_FAMILY}"`, text).then(redraw, () => {});
}

/** Keep a live view and the controls under it on one screen: `canvas` (CSS width 100 %) showing a
 * width×height picture is never taller than the window less `reservePx` (its heading and buttons). */
export function fitToScreen(canvas, width, height, reservePx = 190) {
  if (!width || !height) return;
  const room = Math.max(160, window.innerHeight - reservePx);
  canvas.style.maxWidth = `${Math.floor((room * width) / height)}px`;
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

// visioncast shared browser helpers, an ES module reused by every page:
//   import {postImage, shrinkImage, drawDetections, showError} from "/static/app.js";
// postImage: send an image to the JSON API, get the JSON or an ApiError whose message is in plain words.
// shrinkImage: shrink + compress an image in the browser (canvas → JPEG) before uploading it.
// drawDetections: draw an image and the boxes of an API answer on a canvas, scaled to its displayed size.

/** An error to show to the user; `message` is in plain words, `status`/`code` come from the server. */
export class ApiError extends Error {
  constructor(message, {status = 0, code = ""} = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const STATUS_WORDS = {
  400: "The server could not use this image",
  404: "The server does not know this",
  413: "The image is too large for the server",
  415: "This file is not an image the server can read",
  500: "The server failed while working on this image",
  503: "The model is not available on the server right now",
};

/** A plain-words sentence for a failed answer: what went wrong, then the server's own message. */
export function describeFailure(status, data) {
  const what = STATUS_WORDS[status] ?? `The server answered with error ${status}`;
  const detail = data && typeof data.message === "string" ? data.message : "";
  return detail ? `${what}: ${detail}` : `${what}.`;
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
  } catch (err) {
    throw new ApiError(timedOut
      ? `The server did not answer within ${Math.round(timeoutMs / 1000)} seconds. Try a smaller image or try again.`
      : "Cannot reach the server. Check that visioncast is still running and the network is up.");
  } finally {
    clearTimeout(timer);
  }
  return readAnswer(response);
}

async function readAnswer(response) {
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch { data = null; }
  if (!response.ok) {
    throw new ApiError(describeFailure(response.status, data),
      {status: response.status, code: data && data.error ? data.error : ""});
  }
  if (data === null) throw new ApiError("The server answered, but not with JSON. Is this a visioncast server?");
  return data;
}

/** Show `error` (an Error or a string) in the element `box` (an aria-live region), or hide it when null. */
export function showError(box, error) {
  if (!error) {
    box.textContent = "";
    box.hidden = true;
    return;
  }
  box.textContent = typeof error === "string" ? error : error.message || String(error);
  box.hidden = false;
}

/** Mark a button busy (disabled + aria-busy + a busy label) or give it back its label. */
export function setBusy(button, busy, busyLabel = "Working…") {
  if (busy) {
    button.dataset.label ??= button.textContent;
    button.textContent = busyLabel;
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
  }
  button.disabled = busy;
  button.setAttribute("aria-busy", String(busy));
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
      reject(new ApiError("The browser cannot read this file as an image."));
    };
    img.src = url;
  });
}

/** A File/Blob as a data: URL. */
export function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new ApiError("The browser could not read the chosen file."));
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

const PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
  "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000",
  "#ffd8b1", "#000075", "#808080"];

/** The box colour of a class id (stable across pages). */
export function colorFor(classId) {
  return PALETTE[Math.abs(classId) % PALETTE.length];
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

function drawTag(ctx, text, x, y, color) {
  const pad = 3;
  const height = 16;
  const width = ctx.measureText(text).width + 2 * pad;
  const top = y - height >= 0 ? y - height : y;
  const left = Math.min(x, Math.max(0, ctx.canvas.clientWidth - width));
  ctx.fillStyle = color;
  ctx.fillRect(left, top, width, height);
  ctx.fillStyle = textColorOn(color);
  ctx.fillText(text, left + pad, top + height - 4);
}

/**
 * Draw `image` (an <img>, canvas or bitmap of the size the server saw; null: a plain background) and the
 * detections of `payload` (an API answer: {width, height, detections: [{box: [x1, y1, x2, y2], class_id, label, score}]}) on `canvas`.
 * The canvas keeps its CSS width; boxes are scaled from payload pixels to that width and drawn sharp on
 * high-DPI screens, with pose skeletons and face landmarks when the detections carry `keypoints`. Options:
 * labels / scores (tags on the boxes). Sets data-boxes (the count drawn), data-keypoints (keypoints drawn),
 * data-tags ("shown"/"hidden") and data-scale on the canvas. Returns {boxes, scale}.
 */
export function drawDetections(canvas, image, payload, {labels = true, scores = true} = {}) {
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
  ctx.font = "600 12px system-ui, sans-serif";
  const detections = payload.detections || [];
  for (const det of detections) {
    const [x1, y1, x2, y2] = det.box.map((v) => v * scale);
    const color = colorFor(det.class_id);
    ctx.strokeStyle = color;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = tagText(det, labels, scores);
    if (text) drawTag(ctx, text, x1, y1, color);
    if (det.keypoints) drawKeypoints(ctx, det.keypoints, scale);
  }
  canvas.dataset.boxes = String(detections.length);
  canvas.dataset.keypoints = String(detections.reduce((n, d) => n + keypointsSeen(d.keypoints), 0));
  canvas.dataset.tags = labels || scores ? "shown" : "hidden";
  canvas.dataset.scale = scale.toFixed(4);
  return {boxes: detections.length, scale};
}

// Pose: bones between the 17 COCO keypoints (nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
// ankles; left before right). Face: the 5 landmarks are dots only. Same colours as the server's drawing:
// the subject's left side orange, right side blue, the middle green.
const SKELETON = [[0, 1], [0, 2], [1, 3], [2, 4], [5, 6], [5, 7], [7, 9], [6, 8], [8, 10], [5, 11], [6, 12],
  [11, 12], [11, 13], [13, 15], [12, 14], [14, 16]];
const KEYPOINT_MIN_SCORE = 0.3;
const LEFT = "#ff8c00";
const RIGHT = "#0078ff";
const MIDDLE = "#50dc50";

function keypointsSeen(keypoints) {
  return keypoints ? keypoints.filter((k) => k[2] >= KEYPOINT_MIN_SCORE).length : 0;
}

function sideColor(index, count) {
  if (count === 17) return index === 0 ? MIDDLE : (index % 2 ? LEFT : RIGHT);
  return {0: RIGHT, 1: LEFT, 3: RIGHT, 4: LEFT}[index] || MIDDLE;
}

/** Skeleton bones (17 keypoints) and dots of one detection's [x, y, score] keypoints, in image pixels. */
function drawKeypoints(ctx, keypoints, scale) {
  const seen = keypoints.map((k) => k[2] >= KEYPOINT_MIN_SCORE);
  if (keypoints.length === 17) {
    ctx.lineWidth = 3;
    for (const [a, b] of SKELETON) {
      if (!seen[a] || !seen[b]) continue;
      ctx.strokeStyle = a % 2 === b % 2 ? sideColor(b, 17) : MIDDLE;
      ctx.beginPath();
      ctx.moveTo(keypoints[a][0] * scale, keypoints[a][1] * scale);
      ctx.lineTo(keypoints[b][0] * scale, keypoints[b][1] * scale);
      ctx.stroke();
    }
    ctx.lineWidth = 2;
  }
  keypoints.forEach(([x, y], i) => {
    if (!seen[i]) return;
    ctx.beginPath();
    ctx.arc(x * scale, y * scale, 4, 0, 2 * Math.PI);
    ctx.fillStyle = sideColor(i, keypoints.length);
    ctx.fill();
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  });
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

/** "12.3 ms" or "1.23 s". */
export function formatMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/** "532 B", "14.2 KB", "3.1 MB". */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const STAGES = ["decode", "preprocess", "inference", "postprocess"];

/** "preprocess 2.1 ms · inference 40.3 ms · postprocess 0.9 ms" from an answer's timings_ms, in pipeline order. */
export function formatTimings(timings) {
  const rank = (stage) => (STAGES.includes(stage) ? STAGES.indexOf(stage) : STAGES.length);
  return Object.entries(timings || {})
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([stage, ms]) => `${stage} ${formatMs(ms)}`).join(" · ");
}

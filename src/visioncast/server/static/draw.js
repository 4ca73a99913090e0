// Drawing on a canvas for every page: an image and the boxes of an API answer, scaled to the canvas's displayed
// size, sharp on high-DPI screens, tags that never cover each other, in the class colours the server uses
// (visioncast.draw's palette, served in the page); pose skeletons and face landmarks in the colours the
// server draws them; the legend chips; keeping a live view on one screen.
// Pages import these from ./app.js.
import {labelName, palette} from "./i18n.js";

/** The CSS family of the CJK web font visioncast serves (static/fonts/cjk/fonts.css). */
export const FONT_FAMILY = "VC Noto Sans SC";
const FONT_STACK = `"${FONT_FAMILY}", system-ui, "Noto Sans", sans-serif`;  // as app.css: CJK from the web font

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
  if (labels) parts.push(labelName(det.label));
  if (scores) parts.push(det.score.toFixed(2));
  return parts.join(" ");
}

const TAG = {pad: 3, height: 16, font: 12, minWidth: 84};  // 84 px: "person 0.87" whole on a narrow box

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
    const maxWidth = Math.max(TAG.minWidth, Math.min(box[2] - box[0], size.width * 0.6));
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

// Keypoints as visioncast.draw draws them in server images and AVIs: the bones of the 17 COCO keypoints
// (core.types.COCO_SKELETON: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles; left before
// right), the subject's left side orange, right side blue, the middle green (draw.LEFT / RIGHT / MIDDLE);
// face landmarks (right eye, left eye, nose tip, right and left mouth corner) as dots only. Keypoints scored
// below KEYPOINT_MIN_SCORE (draw.KEYPOINT_MIN_SCORE) are left out, with their bones.
const SKELETON = [[0, 1], [0, 2], [1, 3], [2, 4], [5, 6], [5, 7], [7, 9], [6, 8], [8, 10], [5, 11], [6, 12],
  [11, 12], [11, 13], [13, 15], [12, 14], [14, 16]];
const COCO_KEYPOINTS = 17;
export const KEYPOINT_MIN_SCORE = 0.3;
const SIDE = {left: "#ff8c00", right: "#0078ff", middle: "#50dc50"};

function sideColor(index, count) {
  if (count === COCO_KEYPOINTS) return index === 0 ? SIDE.middle : (index % 2 ? SIDE.left : SIDE.right);
  return {0: SIDE.right, 1: SIDE.left, 3: SIDE.right, 4: SIDE.left}[index] || SIDE.middle;
}

/** How many keypoints of `detections` are drawn (those scored KEYPOINT_MIN_SCORE or more). */
export function countKeypoints(detections) {
  return detections.reduce((n, det) => n + (det.keypoints || []).filter((k) => k[2] >= KEYPOINT_MIN_SCORE).length,
    0);
}

/** The skeleton (17 keypoints) and dots of one detection ({box, keypoints} in payload pixels) at `scale`;
 * dots sized to the box, so a small face far away keeps its features visible. */
function drawKeypoints(ctx, {box, keypoints}, scale) {
  const seen = keypoints.map((k) => k[2] >= KEYPOINT_MIN_SCORE);
  const at = (k) => [keypoints[k][0] * scale, keypoints[k][1] * scale];
  const radius = Math.max(1.5, Math.min(4.5, (Math.min(box[2] - box[0], box[3] - box[1]) * scale) / 16));
  if (keypoints.length === COCO_KEYPOINTS) {
    ctx.lineWidth = Math.max(2, radius * 0.75);
    for (const [a, b] of SKELETON) {
      if (!seen[a] || !seen[b]) continue;
      ctx.strokeStyle = a % 2 === b % 2 ? sideColor(b, COCO_KEYPOINTS) : SIDE.middle;
      ctx.beginPath();
      ctx.moveTo(...at(a));
      ctx.lineTo(...at(b));
      ctx.stroke();
    }
  }
  keypoints.forEach((_, k) => {
    if (!seen[k]) return;
    for (const [r, color] of [[radius + 1, "#fff"], [radius, sideColor(k, keypoints.length)]]) {
      ctx.beginPath();
      ctx.arc(...at(k), r, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
    }
  });
  ctx.lineWidth = 2;
}

/** As visioncast.draw.MASK_ALPHA: how much of a mask's colour covers the picture. */
const MASK_ALPHA = 0.45;

/** The mask outlines (`polygons`: [[[x, y], …], …] in payload pixels) of `detections`, filled in their class
 * colours at MASK_ALPHA and outlined, at `scale`; returns how many outlines were drawn. */
function drawMasks(ctx, detections, scale) {
  let drawn = 0;
  for (const det of detections) {
    if (!det.polygons || !det.polygons.length) continue;
    const path = new Path2D();
    for (const poly of det.polygons) {
      poly.forEach(([x, y], i) => (i ? path.lineTo(x * scale, y * scale) : path.moveTo(x * scale, y * scale)));
      path.closePath();
      drawn += 1;
    }
    const color = colorFor(det.class_id);
    ctx.globalAlpha = MASK_ALPHA;
    ctx.fillStyle = color;
    ctx.fill(path, "evenodd");
    ctx.globalAlpha = 1;
    ctx.strokeStyle = color;
    ctx.stroke(path);
  }
  return drawn;
}

/**
 * Draw `image` (an <img>, canvas or bitmap of the size the server saw; null: a plain background) and the
 * detections of `payload` (an API answer: {width, height, detections: [{box: [x1, y1, x2, y2], class_id, label, score}]}) on `canvas`.
 * The canvas keeps its CSS width; boxes are scaled from payload pixels to that width and drawn sharp on
 * high-DPI screens, with the skeletons or landmarks of detections that carry `keypoints` ([[x, y, score], …],
 * pose and face answers). Options: labels / scores (tags on the boxes); keep(det) → false leaves a detection
 * out (the live confidence and class filters). Tags never cover each other: a tag that finds no free spot is
 * left out (the legend and the table still name it); they are drawn last, over the keypoints. Sets
 * data-boxes (the count drawn), data-keypoints (keypoints drawn), data-masks (segmentation outlines drawn:
 * `polygons` of segment answers, filled in the class colour at MASK_ALPHA under the boxes), data-tags ("shown"/"hidden"),
 * data-tags-hidden, data-tag-rects (JSON) and data-scale. Returns {boxes, keypoints, scale}.
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
  const masks = drawMasks(ctx, detections, scale);
  const tags = [];
  for (const det of detections) {
    const box = det.box.map((v) => v * scale);
    const color = colorFor(det.class_id);
    ctx.strokeStyle = color;
    ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    const text = tagText(det, labels, scores);
    if (text) tags.push({box, text, color, score: det.score});
  }
  for (const det of detections) if (det.keypoints) drawKeypoints(ctx, det, scale);
  const keypoints = countKeypoints(detections);
  const {placed, hidden} = drawTags(ctx, tags, {width: cssWidth, height: cssHeight});
  canvas.dataset.boxes = String(detections.length);
  canvas.dataset.keypoints = String(keypoints);
  canvas.dataset.masks = String(masks);
  canvas.dataset.tags = labels || scores ? "shown" : "hidden";
  canvas.dataset.tagsHidden = String(hidden);
  canvas.dataset.tagRects = JSON.stringify(placed.map((r) => [r.x, r.y, r.w, r.h].map(Math.round)));
  canvas.dataset.scale = scale.toFixed(4);
  return {boxes: detections.length, keypoints, scale};
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
    chip.append(swatch, `${labelName(label)} ${n}`);
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

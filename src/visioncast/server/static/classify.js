// The classification page: choose a file, upload it with fetch (no navigation), show the image, the top class
// and the top-5 probabilities as bars; a range input changes the displayed image size.
import {bindSizeControl, formatMs, formatTimings, postImage, setBusy, showError} from "./app.js";

const $ = (id) => document.getElementById(id);
const form = $("classify-form");
const fileInput = $("file");
const button = $("submit");
const preview = $("preview");
const errorBox = $("error");
let inFlight = false;
let previewUrl = null;

bindSizeControl($("size"), preview, $("size-value"), "px");

// Tiny images (CIFAR-10 is 32×32) are enlarged with visible pixels rather than blurred.
preview.addEventListener("load", () => {
  preview.classList.toggle("pixelated", preview.naturalWidth <= 128);
  preview.hidden = false;
});
preview.addEventListener("error", () => {
  preview.hidden = true;
  $("preview-caption").textContent = `${fileInput.files[0]?.name ?? "This file"}: the browser cannot show it `
    + "as an image.";
});

function showPreview(file) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  preview.hidden = true;
  preview.alt = `The chosen image, ${file.name}`;
  preview.src = previewUrl;
  $("preview-caption").textContent = file.name;
}

function clearAnswer() {
  $("top-class").hidden = true;
  $("bars").hidden = true;
  $("bars").replaceChildren();
  $("meta").textContent = "";
  document.body.dataset.state = "chosen";
}

fileInput.addEventListener("change", () => {
  const file = fileInput.files[0];
  button.disabled = !file || inFlight;
  showError(errorBox, null);
  clearAnswer();
  if (file) showPreview(file);
});

function bar(prediction) {
  const percent = prediction.score * 100;
  const item = document.createElement("li");
  item.className = "bar-item";
  const name = document.createElement("span");
  name.className = "bar-label";
  name.textContent = prediction.label;
  const track = document.createElement("span");
  track.className = "bar-track";
  track.setAttribute("aria-hidden", "true");
  const fill = document.createElement("span");
  fill.className = "bar-fill";
  fill.style.width = `${percent.toFixed(1)}%`;
  track.append(fill);
  const value = document.createElement("span");
  value.className = "bar-value";
  value.textContent = `${percent.toFixed(1)} %`;
  item.append(name, track, value);
  return item;
}

function showAnswer(answer, roundTripMs) {
  const [best] = answer.predictions;
  const top = $("top-class");
  top.textContent = `${best.label} (${(best.score * 100).toFixed(1)} %)`;
  top.hidden = false;
  $("bars").replaceChildren(...answer.predictions.map(bar));
  $("bars").hidden = false;
  $("meta").textContent = `Model ${answer.model} · ${answer.width}×${answer.height} px · `
    + `${formatTimings(answer.timings_ms)} · round trip ${formatMs(roundTripMs)}`;
  document.body.dataset.state = "done";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = fileInput.files[0];
  if (!file || inFlight) return;
  inFlight = true;
  setBusy(button, true, "Classifying…");
  showError(errorBox, null);
  clearAnswer();
  document.body.dataset.state = "busy";
  const started = performance.now();
  try {
    showAnswer(await postImage(form.dataset.api, file, {params: {top: 5}}), performance.now() - started);
  } catch (err) {
    showError(errorBox, err);
    document.body.dataset.state = "error";
  } finally {
    inFlight = false;
    setBusy(button, false);
  }
});

// The classification page: choose a file (or drop, paste, pick a sample), upload it with fetch (no
// navigation), show the image, the top class and the top-5 probabilities as bars; a top class below
// UNSURE_BELOW says the model is not sure (softmax scores of a 10-class model are high even on what it never
// saw, so the bar is set high, and the page always says it only knows its classes). A range input changes the
// displayed image size.
import {
  acceptImages, bindSizeControl, formatMs, formatTimings, labelName, postImage, reveal, setBusy, setInputFile,
  showError, t,
} from "./app.js";

const $ = (id) => document.getElementById(id);
const form = $("classify-form");
const fileInput = $("file");
const button = $("submit");
const preview = $("preview");
const errorBox = $("error");
const UNSURE_BELOW = 0.9;  // measured: CIFAR-10 test images score ≥ 0.93; a photo of people scored dog 0.84
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
  $("preview-caption").textContent = t("classify.cannot_show", {name: fileInput.files[0]?.name ?? ""});
});

function showPreview(file) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  preview.hidden = true;
  preview.alt = t("classify.preview_alt", {name: file.name});
  preview.src = previewUrl;
  $("preview-caption").textContent = file.name;
}

function clearAnswer() {
  $("top-class").hidden = true;
  $("unsure").hidden = true;
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
  name.textContent = labelName(prediction.label);
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
  const [best, second] = answer.predictions;
  const top = $("top-class");
  const sure = best.score >= UNSURE_BELOW;
  top.textContent = `${labelName(best.label)} (${(best.score * 100).toFixed(1)} %)`;
  top.classList.toggle("is-unsure", !sure);
  top.hidden = false;
  $("unsure").textContent = second ? t("classify.unsure", {label: labelName(best.label), other: labelName(second.label)})
    : t("classify.unsure_one", {label: labelName(best.label)});
  $("unsure").hidden = sure;
  $("answer").dataset.sure = String(sure);
  $("bars").replaceChildren(...answer.predictions.map(bar));
  $("bars").hidden = false;
  $("meta").textContent = [t("common.model", {model: answer.model}), `${answer.width}×${answer.height} px`,
    formatTimings(answer.timings_ms), t("common.round_trip", {time: formatMs(roundTripMs)})].join(" · ");
  document.body.dataset.state = "done";
  reveal($("result"));
}

async function classify() {
  const file = fileInput.files[0];
  if (!file || inFlight) return;
  inFlight = true;
  setBusy(button, true, t("classify.busy"));
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
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  classify();
});
acceptImages(form, (file) => {
  if (inFlight) return;
  setInputFile(fileInput, file);
  classify();
}, $("samples"));

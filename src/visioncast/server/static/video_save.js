// Saving on the video page: ask the server to draw the boxes into the video (POST …/render, polled for its
// progress), offer the AVI with its size and start its download; then the same as WebM (POST …/render-webm),
// which browsers and phones play, offered beside it with its size. state is the page's: job and rendering.
import {formatBytes, getJson, setBusy, showError, t} from "./app.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sizeOf(url) {
  try {
    const answer = await fetch(url, {method: "HEAD"});
    const bytes = Number(answer.headers.get("Content-Length"));
    return bytes ? formatBytes(bytes) : "";
  } catch {
    return "";
  }
}

/** Show the download link of the saved AVI of job `id`, with its size. */
export async function showSaved(api, id) {
  const link = $("download");
  link.href = `${api}/${id}/video.avi`;
  $("downloads").hidden = false;
  $("render-progress").value = 1;
  $("render-text").textContent = t("video.saved");
  $("download-size").textContent = await sizeOf(link.href);
}

/** Show the download link of the annotated WebM of job `id`, with its size. */
export async function showSavedWebm(api, id) {
  const link = $("download-webm");
  link.href = `${api}/${id}/video.webm`;
  $("webm-item").hidden = false;
  $("download-webm-size").textContent = await sizeOf(link.href);
}

async function render(url, words) {
  for (;;) {
    const answer = await getJson(url, {method: "POST"}, "video");
    $("render-progress").value = answer.progress;
    $("render-text").textContent = t(words, {percent: Math.round(100 * answer.progress)});
    if (answer.state === "failed") throw new Error(t("video.render_failed"));
    if (answer.state === "done") return;
    await sleep(300);
  }
}

/** Render the annotated video of state.job as AVI (downloaded at once), then as WebM (offered beside it). */
export async function saveVideo(api, state, errorBox) {
  state.rendering = true;
  setBusy($("save"), true, t("video.saving_short"));
  showError(errorBox, null);
  try {
    await render(`${api}/${state.job.id}/render`, "video.rendering");
    await showSaved(api, state.job.id);
    $("download").click();
    await render(`${api}/${state.job.id}/render-webm`, "video.rendering_webm");
    await showSavedWebm(api, state.job.id);
    $("render-text").textContent = t("video.saved_both");
  } catch (err) {
    showError(errorBox, err);
  } finally {
    state.rendering = false;
    setBusy($("save"), false);
    $("save").disabled = state.job.state !== "done";
  }
}

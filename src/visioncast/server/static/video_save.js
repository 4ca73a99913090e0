// Saving on the video page: ask the server to draw the boxes into the video (POST …/render, polled for its
// progress), then offer the AVI with its size and start the download. state is the page's: job and rendering.
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

/** Render the annotated video of state.job, showing progress, then download it. */
export async function saveVideo(api, state, errorBox) {
  state.rendering = true;
  setBusy($("save"), true, t("video.saving_short"));
  showError(errorBox, null);
  try {
    for (;;) {
      const render = await getJson(`${api}/${state.job.id}/render`, {method: "POST"}, "video");
      $("render-progress").value = render.progress;
      $("render-text").textContent = t("video.rendering", {percent: Math.round(100 * render.progress)});
      if (render.state === "failed") throw new Error(t("video.render_failed"));
      if (render.state === "done") break;
      await sleep(300);
    }
    await showSaved(api, state.job.id);
    $("download").click();
  } catch (err) {
    showError(errorBox, err);
  } finally {
    state.rendering = false;
    setBusy($("save"), false);
    $("save").disabled = state.job.state !== "done";
  }
}

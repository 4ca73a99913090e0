// Saving on the video page. "Save the video" offers first the annotated WebM, which phones and browsers play:
// the server writes it while the job runs, so it is usually ready when the job ends (POST …/render-webm
// reports it, or renders it when a frame failed or the job was resumed). "Save as AVI" draws the boxes into
// an AVI (POST …/render, polled for its progress). Each shows its link with its size and starts its download.
// state is the page's: job and rendering.
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
  $("avi-item").hidden = false;
  $("download-size").textContent = await sizeOf(link.href);
}

/** Show the download link of the annotated WebM of job `id`, with its size. */
export async function showSavedWebm(api, id) {
  const link = $("download-webm");
  link.href = `${api}/${id}/video.webm`;
  $("downloads").hidden = false;
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

const KINDS = {
  webm: {button: "save", path: "render-webm", words: "video.rendering_webm", show: showSavedWebm,
    link: "download-webm", saved: "video.saved_webm"},
  avi: {button: "save-avi", path: "render", words: "video.rendering", show: showSaved, link: "download",
    saved: "video.saved"},
};

/** Save the annotated video of state.job as `kind` (webm: for phones, first; avi): wait until it is made,
 * offer its link and start its download. */
export async function saveVideo(api, state, errorBox, kind = "webm") {
  const how = KINDS[kind];
  state.rendering = true;
  setBusy($(how.button), true, t("video.saving_short"));
  showError(errorBox, null);
  try {
    await render(`${api}/${state.job.id}/${how.path}`, how.words);
    await how.show(api, state.job.id);
    $("render-progress").value = 1;
    $("render-text").textContent = t(how.saved);
    $(how.link).click();
  } catch (err) {
    showError(errorBox, err);
  } finally {
    state.rendering = false;
    setBusy($(how.button), false);
    for (const other of Object.values(KINDS)) $(other.button).disabled = state.job.state !== "done";
  }
}

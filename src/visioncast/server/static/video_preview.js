// The video page's live preview of a video the browser cannot play: frame after frame as the server draws it
// (GET …/frames/<n>.jpg, boxes, skeletons and landmarks included), each once its result exists, paced at the
// video's frame rate; Pause holds it (state.userPaused); it ends when live() turns false (the WebM copy plays).
// view.dataset.frame and data-waits follow the same rules as the player's: nothing is drawn before its result.
// data-held counts the loop's turns on hold (paused): each one is proof that nothing was drawn meanwhile.
import {countKeypoints, drawDetections, t} from "./app.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function loadFrame(api, jobId, index) {
  const img = new Image();
  img.src = `${api}/${jobId}/frames/${index}.jpg`;
  return img.decode().then(() => img);
}

// Shows frame after frame at the video's frame rate, each once its result exists; stops when the copy plays.
export async function runPreview({state, view, api, shown, status, live}) {
  while (live()) {
    const index = state.drawn + 1;
    const total = state.job.frames_total;
    if (state.userPaused || (state.ended && total !== null && index >= total)) {
      if (!state.userPaused) status(t("video.ended"));
      else view.dataset.held = String(Number(view.dataset.held || 0) + 1);
      await sleep(200);
      continue;
    }
    if (!state.results.has(index)) {
      if (state.waitingFor !== index) view.dataset.waits = String(Number(view.dataset.waits) + 1);
      state.waitingFor = index;
      await sleep(50);
      continue;
    }
    state.waitingFor = null;
    const started = performance.now();
    let img;
    try {
      img = await loadFrame(api, state.job.id, index);
    } catch {
      await sleep(300);  // a frame the server cannot draw yet: ask again
      continue;
    }
    if (!live()) break;
    drawDetections(view, img, {width: img.naturalWidth, height: img.naturalHeight, detections: []});
    const detections = state.results.get(index).detections || [];  // drawn by the server, counted here
    view.dataset.boxes = String(detections.length);
    view.dataset.keypoints = String(countKeypoints(detections));
    shown(index);
    status(t("video.previewing"));
    await sleep(Math.max(0, 1000 / (state.job.fps || 25) - (performance.now() - started)));
  }
}

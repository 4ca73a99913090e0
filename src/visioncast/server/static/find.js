// The "Find" switch of the detect, webcam and video pages (templates/_find.html): objects (/api/v1/detect),
// people and their pose (/api/v1/pose: 17 body keypoints joined as a skeleton) or faces (/api/v1/face: 5
// landmarks) or outlines (/api/v1/segment: each class's mask, people by default). Each mode has its API URL and default minimum confidence (data-api-* and data-conf-* on the
// fieldset; objects: the slider's value as served), a hint under the switch, and the sentence saying how many
// people or faces were found. body[data-task] follows the mode.
import {labelName, listText, t} from "./i18n.js";

const $ = (id) => document.getElementById(id);

const HINTS = {
  detect: () => t("find.hint.detect"),
  pose: () => t("find.hint.pose"),
  face: () => t("find.hint.face"),
  segment: () => t("find.hint.segment"),
};

const FOUND = {
  pose: (n) => (n === 0 ? t("find.found_none.pose") : n === 1 ? t("find.found_one.pose")
    : t("find.found.pose", {n})),
  face: (n) => (n === 0 ? t("find.found_none.face") : n === 1 ? t("find.found_one.face")
    : t("find.found.face", {n})),
  segment: (n, answer) => (n === 0 ? t("find.found_none.segment") : t("find.found.segment", {
    list: listText((answer?.detections || []).slice(0, n).map((det) => `${labelName(det.label)} `
      + `${Math.round((100 * (det.area || 0)) / (answer.width * answer.height))}%`)),
  })),
};

/** "Found 2 people." / "找到 2 个人。" for a pose or face answer's `count` detections; for a segment
 * `answer`, the share of the picture each class covers ("Outlined person 37%."); null for objects. */
export function describeFound(task, count, answer = null) {
  return FOUND[task] ? FOUND[task](count, answer) : null;
}

/**
 * Bind the switch of `form` to the confidence slider `conf` (and its <output> `confOutput`): choosing a mode
 * sets the mode's default confidence, the hint and body[data-task], then calls `onChange(mode)`.
 * Returns {mode() → "detect" | "pose" | "face" | "segment", api(detectUrl) → the chosen mode's URL, choose(mode)}.
 */
export function bindFind(form, {conf, confOutput, onChange = () => {}}) {
  const box = $("task-mode");
  const defaults = {detect: conf.defaultValue, pose: box.dataset.confPose, face: box.dataset.confFace,
    segment: box.dataset.confSegment};
  const mode = () => form.elements.task.value;
  const show = () => {
    document.body.dataset.task = mode();
    $("task-hint").textContent = HINTS[mode()]();
  };
  box.addEventListener("change", () => {
    conf.value = defaults[mode()];
    confOutput.value = conf.value;
    show();
    onChange(mode());
  });
  show();
  return {
    mode,
    api: (detectUrl) => ({detect: detectUrl, pose: box.dataset.apiPose, face: box.dataset.apiFace,
      segment: box.dataset.apiSegment})[mode()],
    choose(task) {
      if (!(task in defaults)) return;
      form.elements.task.value = task;
      show();
    },
  };
}

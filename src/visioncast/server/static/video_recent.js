// "Your recent videos" on the video page: the ids of the jobs started in this browser, kept in localStorage
// (newest first, at most RECENT_MAX), listed with their state, progress and downloads from
// GET /api/v1/videos/<id>; a job the server no longer has says so. API is the videos API URL (data-api of the upload form).
import {getJson, t} from "./app.js";

const $ = (id) => document.getElementById(id);
const RECENT_KEY = "visioncast.video.recent";
const RECENT_MAX = 8;
const FINAL = ["done", "failed", "cancelled"];

function recentJobs() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list.filter((j) => j && typeof j.id === "string") : [];
  } catch {
    return [];
  }
}

export function rememberJob(API, job) {
  const list = [{id: job.id, name: job.name, created: job.created, task: job.task},
    ...recentJobs().filter((j) => j.id !== job.id)];
  localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX)));
  refreshRecent(API);
}

export function forgetJob(API, id) {
  localStorage.setItem(RECENT_KEY, JSON.stringify(recentJobs().filter((j) => j.id !== id)));
  refreshRecent(API);
}

function link(href, text, download = false) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  if (download) a.download = "";
  return a;
}

function recentRow(API, entry, job) {
  const row = document.createElement("tr");
  row.dataset.job = entry.id;
  row.dataset.state = job ? job.state : "gone";
  const name = document.createElement("span");
  name.append(link(`?job=${encodeURIComponent(entry.id)}`, entry.name || entry.id));
  const task = job?.task || entry.task;
  if (task && task !== "detect") name.append(` · ${t(`find.${task}`)}`);  // people and their pose, faces
  const cells = [name,
    t(`video.state.${job ? job.state : "gone"}`),
    job ? t("video.frames_of", {done: job.frames_done, total: job.frames_total ?? "?"}) : "–"];
  const files = document.createElement("span");  // the WebM (phones play it) first
  if (job?.render_webm?.state === "done") files.append(link(`${API}/${entry.id}/video.webm`, "WebM", true), " ");
  if (job?.render?.state === "done") files.append(link(`${API}/${entry.id}/video.avi`, "AVI", true));
  cells.push(files.childNodes.length ? files : "–");
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = t("video.recent_remove");
  remove.addEventListener("click", () => forgetJob(API, entry.id));
  cells.push(remove);
  const labels = [null, "video.job", "video.recent_progress", "video.recent_files", null];
  cells.forEach((content, i) => {
    const cell = document.createElement("td");
    if (labels[i]) cell.dataset.label = t(labels[i]);  // shown before the value on a phone (media.css)
    cell.append(content);
    row.append(cell);
  });
  return row;
}

let recentTimer = null;

export async function refreshRecent(API) {
  clearTimeout(recentTimer);
  const list = recentJobs();
  $("recent").hidden = list.length === 0;
  if (!list.length) {
    $("recent-jobs").replaceChildren();
    return;
  }
  const jobs = await Promise.all(list.map((entry) => getJson(`${API}/${encodeURIComponent(entry.id)}`)
    .catch(() => null)));
  $("recent-jobs").replaceChildren(...list.map((entry, i) => recentRow(API, entry, jobs[i])));
  if (jobs.some((job) => job && !FINAL.includes(job.state))) {
    recentTimer = setTimeout(() => refreshRecent(API), 3000);
  }
}

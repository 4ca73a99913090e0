// The streams page and the live dashboard of one stream (templates/dashboard.html).
// Dashboard: polls the stream's statistics snapshot (same schema as MQTT and JSON lines) every 500 ms, shows
// the figures and draws counts over time on a canvas (no chart library), sized to its box and the screen's
// pixels so it stays readable on a phone. The video is a plain <img> on the MJPEG endpoint, so any number of
// viewers can watch. A stopped stream and an unknown one say so in place of the video; Stop is on the page.
// Streams page: Start sends one Idempotency-Key per press and stays off until the answer.
import {colorFor, getJson, labelName, setBusy, showError, t} from "./app.js";
import {lang, listText} from "./i18n.js";

const POLL_MS = 500;
const HISTORY = 240;
const FINISHED = ["stopped", "finished", "failed", "error"];

function setText(id, text) {
  const node = document.getElementById(id);
  if (node && node.textContent !== text) node.textContent = text;
}

function listItems(list, texts) {
  list.replaceChildren(...texts.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

function fillCounts(body, stats) {
  const labels = [...new Set([...Object.keys(stats.counts), ...Object.keys(stats.totals)])].sort();
  body.replaceChildren(...labels.map((label) => {
    const row = document.createElement("tr");
    for (const text of [labelName(label), stats.counts[label] ?? 0, stats.totals[label] ?? 0]) {
      const cell = document.createElement("td");
      cell.textContent = String(text);
      row.append(cell);
    }
    row.dataset.label = label;
    return row;
  }));
  if (!labels.length) {
    const cell = document.createElement("td");
    cell.colSpan = 3;
    cell.textContent = t("dash.nothing_yet");
    body.replaceChildren(document.createElement("tr"));
    body.firstChild.append(cell);
  }
}

function fillRegions(list, stats) {
  const items = [
    ...Object.entries(stats.lines).map(([name, c]) => t("dash.line", {name, in: c.in, out: c.out})),
    ...Object.entries(stats.zones).map(([name, n]) => t("dash.zone", {name, n})),
  ];
  listItems(list, items.length ? items : [t("dash.none_configured")]);
}

// Newest first. In English the server's own line (`visioncast run` prints it): "crowd begin at 3.90 seconds".
function eventText(e) {
  if (lang === "en") return e.text;
  if (e.type === "state") {
    return t(`dash.event_${e.state === "begin" ? "begin" : "end"}`, {name: e.name, s: e.timestamp.toFixed(2)});
  }
  return t("dash.event_left", {label: labelName(e.label), id: e.track_id, d: (e.duration_s ?? 0).toFixed(2),
    s: (e.timestamp ?? 0).toFixed(2)});
}

function fillEvents(list, events) {
  const lines = events.slice(-10).reverse().map(eventText);
  const wanted = lines.length ? lines : [t("dash.none_yet")];
  if (list.dataset.shown === wanted.join("\n")) return;
  list.dataset.shown = wanted.join("\n");
  listItems(list, wanted);
}

/** The colour of a class by its name: its id in the server's detector, as in the server's drawing. */
function classColor(labels, label) {
  const id = labels.indexOf(label);
  if (id >= 0) return colorFor(id);
  let hash = 0;
  for (const char of label) hash = (hash * 31 + char.codePointAt(0)) % 9973;
  return colorFor(hash);
}

function sizeChart(canvas) {
  const width = canvas.clientWidth || 320;
  const height = width < 500 ? 180 : 220;
  const dpr = window.devicePixelRatio || 1;
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return {ctx, width, height};
}

function drawChart(canvas, legend, history, labels) {
  const {ctx, width, height} = sizeChart(canvas);
  const seen = [...new Set(history.flatMap((h) => Object.keys(h.counts)))].sort();
  const max = Math.max(1, ...history.flatMap((h) => seen.map((l) => h.counts[l] ?? 0)));
  const left = 28;
  const bottom = height - 18;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "#d0d5dc";
  ctx.fillStyle = "#4a5361";
  ctx.font = `13px "VC Noto Sans SC", system-ui, sans-serif`;
  for (let i = 0; i <= 4; i += 1) {
    const y = bottom - (i / 4) * (bottom - 10);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(width, y); ctx.stroke();
    ctx.fillText(String(Math.round((max * i) / 4)), 2, y + 4);
  }
  ctx.fillText(t("dash.chart_now"), width - ctx.measureText(t("dash.chart_now")).width - 2, height - 3);
  const step = (width - left) / Math.max(1, HISTORY - 1);
  const start = HISTORY - history.length;
  for (const label of seen) {
    ctx.strokeStyle = classColor(labels, label);
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    history.forEach((h, i) => {
      const x = left + (start + i) * step;
      const y = bottom - ((h.counts[label] ?? 0) / max) * (bottom - 10);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  legend.replaceChildren(...seen.map((label) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.style.background = classColor(labels, label);
    li.append(swatch, labelName(label));
    return li;
  }));
}

function showVideoState(root, text) {
  const video = document.getElementById("video");
  video.hidden = true;
  video.removeAttribute("src");  // closes the MJPEG connection
  document.getElementById("video-state").hidden = false;
  setText("video-state-text", text);
}

function figures(stats) {
  setText("fps", stats.fps.toFixed(1));
  setText("latency", `${stats.latency_ms.toFixed(0)} ms`);
  setText("dropped", String(stats.dropped));
  setText("dwell", `${stats.dwell.average_s.toFixed(1)} s`);
  setText("frame", String(stats.frame));
  setText("time", `${stats.timestamp.toFixed(1)} s`);
  fillCounts(document.getElementById("counts"), stats);
  fillRegions(document.getElementById("regions"), stats);
}

function startDashboard(root) {
  const history = [];
  const labels = JSON.parse(root.dataset.labels || "[]");
  const error = document.getElementById("error");
  const stop = document.getElementById("stop");
  let lastFrame = -1;
  document.getElementById("video").addEventListener("error", () => setText("state", t("dash.video_lost")));
  stop.addEventListener("click", async () => {
    setBusy(stop, true, t("dash.stopping"));
    try {
      await getJson(root.dataset.info, {method: "DELETE"}, "stream");
    } catch (err) {
      showError(error, err);
      setBusy(stop, false);
    }
  });
  async function tick() {
    let info;
    try {
      const [stats, answer] = await Promise.all([getJson(root.dataset.stats, {}, "stream"),
        getJson(root.dataset.info, {}, "stream")]);
      info = answer;
      showError(error, null);
      root.dataset.state = info.state;
      const where = onCluster(info.placement);
      setText("state", t("dash.state_line", {state: t(`dash.state.${info.state}`), source: info.source,
        model: info.model}) + (where ? ` · ${where}` : ""));
      setText("stream-name", info.name);
      figures(stats);
      fillEvents(document.getElementById("event-log"), info.events ?? []);
      if (stats.frame !== lastFrame) {
        lastFrame = stats.frame;
        history.push({counts: stats.counts});
        if (history.length > HISTORY) history.shift();
        drawChart(document.getElementById("chart"), document.getElementById("legend"), history, labels);
      }
    } catch (err) {
      if (err.status === 404) {
        root.dataset.state = "not-found";
        showVideoState(root, t("dash.not_found", {name: root.dataset.stream}));
        setText("state", "");
        stop.hidden = true;
        return;  // nothing more will come
      }
      showError(error, err);
    }
    if (info && FINISHED.includes(info.state)) {
      setBusy(stop, false);
      stop.disabled = true;
      showVideoState(root, info.error ? t("dash.failed") : t("dash.stopped"));
      return;
    }
    stop.disabled = !info;
    setTimeout(tick, POLL_MS);
  }
  tick();
}

// Under `serve --ray` a stream may run as an actor on the cluster: where, and how often it was restarted.
function onCluster(placement) {
  if (!placement || placement.where !== "ray") return "";
  return t("dash.on_cluster", {node: placement.node.slice(0, 8), restarts: placement.restarts,
    max: placement.max_restarts});
}

function streamRow(s, refresh) {
  const row = document.createElement("tr");
  row.dataset.state = s.state;
  const link = document.createElement("a");
  link.href = `/streams/${encodeURIComponent(s.id)}`;
  link.textContent = s.name;
  const now = listText(Object.entries(s.stats.counts).map(([k, v]) => `${labelName(k)} ${v}`)) || "–";
  const state = t(`dash.state.${s.state}`) + (s.placement?.where === "ray" ? ` · ${t("dash.cluster")}` : "");
  const cells = [link, s.source, state, s.stats.fps.toFixed(1), now];
  for (const content of cells) {
    const cell = document.createElement("td");
    cell.append(content);
    row.append(cell);
  }
  const stop = document.createElement("button");
  stop.type = "button";
  stop.textContent = t("dash.stop");
  stop.disabled = s.state !== "running";
  stop.setAttribute("aria-label", t("dash.stop_named", {name: s.name}));
  stop.addEventListener("click", async () => {
    setBusy(stop, true, t("dash.stopping"));
    try {
      await getJson(`/api/v1/streams/${encodeURIComponent(s.id)}`, {method: "DELETE"}, "stream");
    } catch (err) {
      showError(document.getElementById("error"), err);
    }
    refresh();
  });
  const cell = document.createElement("td");
  cell.append(stop);
  row.append(cell);
  return row;
}

function newKey() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function startList(form) {
  const error = document.getElementById("error");
  const body = document.getElementById("streams");
  const button = document.getElementById("start");
  const rows = (id) => document.getElementById(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
  form?.addEventListener("submit", async (event) => {  // the start form: the teacher's only
    event.preventDefault();
    if (button.disabled) return;
    setBusy(button, true, t("dash.starting"));
    showError(error, null);
    try {
      const started = await getJson(form.dataset.api, {
        method: "POST", headers: {"Content-Type": "application/json", "Idempotency-Key": newKey()},
        body: JSON.stringify({source: document.getElementById("source").value, lines: rows("lines"),
                              events: rows("events"),
                              event_hold_s: Number(document.getElementById("event-hold").value || 0)}),
      }, "stream");
      window.location.href = `/streams/${encodeURIComponent(started.id)}`;
    } catch (err) {
      showError(error, err);
      setBusy(button, false);
    }
  });
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const {streams} = await getJson("/api/v1/streams", {}, "stream");
      body.replaceChildren(...streams.map((s) => streamRow(s, refresh)));
      if (!streams.length) {
        const cell = document.createElement("td");
        cell.colSpan = 6;
        cell.textContent = t("dash.no_streams");
        body.replaceChildren(document.createElement("tr"));
        body.firstChild.append(cell);
      }
    } catch (err) {
      showError(error, err);
    }
    timer = setTimeout(refresh, 2000);
  }
  refresh();
}

const dashboard = document.getElementById("dashboard");
const form = document.getElementById("start-form");
if (dashboard) startDashboard(dashboard);
else startList(form);

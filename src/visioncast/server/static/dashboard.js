// The streams page and the live dashboard of one stream (templates/dashboard.html).
// Dashboard: polls the stream's statistics snapshot (same schema as MQTT and JSON lines) every 500 ms, shows
// the figures and draws counts over time on a canvas (no chart library). The video is a plain <img> on the
// MJPEG endpoint, so any number of viewers can watch.
import {colorFor, describeFailure, showError} from "./app.js";

const POLL_MS = 500;
const HISTORY = 240;

async function getJson(url, options = {}) {
  const answer = await fetch(url, {cache: "no-store", ...options});
  const data = await answer.json().catch(() => null);
  if (!answer.ok) throw new Error(describeFailure(answer.status, data));
  return data;
}

function setText(id, text) {
  const node = document.getElementById(id);
  if (node && node.textContent !== text) node.textContent = text;
}

function fillCounts(body, stats) {
  const labels = [...new Set([...Object.keys(stats.counts), ...Object.keys(stats.totals)])].sort();
  body.replaceChildren(...labels.map((label) => {
    const row = document.createElement("tr");
    for (const text of [label, stats.counts[label] ?? 0, stats.totals[label] ?? 0]) {
      const cell = document.createElement("td");
      cell.textContent = String(text);
      row.append(cell);
    }
    row.dataset.label = label;
    return row;
  }));
  if (!labels.length) body.innerHTML = "<tr><td colspan=3>nothing detected yet</td></tr>";
}

function fillRegions(list, stats) {
  const items = [
    ...Object.entries(stats.lines).map(([name, c]) => `line ${name}: in ${c.in}, out ${c.out}`),
    ...Object.entries(stats.zones).map(([name, n]) => `zone ${name}: ${n} inside`),
  ];
  list.replaceChildren(...(items.length ? items : ["none configured"]).map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

// Newest first, in the server's words (the line `visioncast run` prints): "crowd begin at 3.90 seconds".
function fillEvents(list, events) {
  const lines = events.slice(-10).reverse().map((e) => e.text);
  const wanted = lines.length ? lines : ["none yet"];
  if (list.dataset.shown === wanted.join("\n")) return;
  list.dataset.shown = wanted.join("\n");
  list.replaceChildren(...wanted.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

function drawChart(canvas, legend, history, labelIds) {
  const ctx = canvas.getContext("2d");
  const {width, height} = canvas;
  ctx.clearRect(0, 0, width, height);
  const labels = Object.keys(labelIds);
  const max = Math.max(1, ...history.flatMap((h) => labels.map((l) => h.counts[l] ?? 0)));
  ctx.strokeStyle = "#d0d5dc";
  ctx.fillStyle = "#4a5361";
  ctx.font = "12px sans-serif";
  for (let i = 0; i <= 4; i += 1) {
    const y = height - 20 - (i / 4) * (height - 30);
    ctx.beginPath(); ctx.moveTo(30, y); ctx.lineTo(width, y); ctx.stroke();
    ctx.fillText(String(Math.round((max * i) / 4)), 2, y + 4);
  }
  const step = (width - 30) / Math.max(1, HISTORY - 1);
  for (const label of labels) {
    ctx.strokeStyle = colorFor(labelIds[label]);
    ctx.lineWidth = 2;
    ctx.beginPath();
    history.forEach((h, i) => {
      const x = 30 + i * step;
      const y = height - 20 - ((h.counts[label] ?? 0) / max) * (height - 30);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  legend.replaceChildren(...labels.map((label) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.style.background = colorFor(labelIds[label]);
    li.append(swatch, label);
    return li;
  }));
}

function startDashboard(root) {
  const history = [];
  const labelIds = {};
  const error = document.getElementById("error");
  const video = document.getElementById("video");
  video.addEventListener("error", () => setText("state", "The video stream is not available (stopped?)."));
  let lastFrame = -1;
  async function tick() {
    try {
      const [stats, info] = await Promise.all([getJson(root.dataset.stats), getJson(root.dataset.info)]);
      error.hidden = true;
      setText("state", `${info.state} · ${info.source} · ${info.model} · ${info.mode}-frame mode`);
      setText("stream-name", info.name);
      setText("fps", stats.fps.toFixed(1));
      setText("latency", `${stats.latency_ms.toFixed(0)} ms`);
      setText("dropped", String(stats.dropped));
      setText("dwell", `${stats.dwell.average_s.toFixed(1)} s`);
      setText("frame", String(stats.frame));
      setText("time", `${stats.timestamp.toFixed(1)} s`);
      fillCounts(document.getElementById("counts"), stats);
      fillRegions(document.getElementById("regions"), stats);
      fillEvents(document.getElementById("event-log"), info.events ?? []);
      if (stats.frame !== lastFrame) {
        lastFrame = stats.frame;
        for (const label of Object.keys(stats.counts)) {
          if (!(label in labelIds)) labelIds[label] = Object.keys(labelIds).length * 7 + 1;
        }
        history.push({counts: stats.counts});
        if (history.length > HISTORY) history.shift();
        drawChart(document.getElementById("chart"), document.getElementById("legend"), history, labelIds);
      }
    } catch (err) {
      showError(error, err);
    }
    setTimeout(tick, POLL_MS);
  }
  tick();
}

function streamRow(s) {
  const row = document.createElement("tr");
  const link = document.createElement("a");
  link.href = `/streams/${encodeURIComponent(s.id)}`;
  link.textContent = s.name;
  const now = Object.entries(s.stats.counts).map(([k, v]) => `${k} ${v}`).join(", ") || "–";
  const cells = [link, s.source, s.state, s.stats.fps.toFixed(1), now];
  for (const content of cells) {
    const cell = document.createElement("td");
    cell.append(content);
    row.append(cell);
  }
  const stop = document.createElement("button");
  stop.type = "button";
  stop.textContent = "Stop";
  stop.disabled = s.state !== "running";
  stop.setAttribute("aria-label", `Stop stream ${s.name}`);
  stop.addEventListener("click", () => fetch(`/api/v1/streams/${encodeURIComponent(s.id)}`, {method: "DELETE"}));
  const cell = document.createElement("td");
  cell.append(stop);
  row.append(cell);
  return row;
}

function startList(form) {
  const error = document.getElementById("error");
  const body = document.getElementById("streams");
  const rows = (id) => document.getElementById(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const started = await getJson(form.dataset.api, {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({source: document.getElementById("source").value, lines: rows("lines"),
                              events: rows("events"),
                              event_hold_s: Number(document.getElementById("event-hold").value || 0)}),
      });
      window.location.href = `/streams/${encodeURIComponent(started.id)}`;
    } catch (err) {
      showError(error, err);
    }
  });
  async function refresh() {
    try {
      const {streams} = await getJson("/api/v1/streams");
      body.replaceChildren(...streams.map(streamRow));
      if (!streams.length) body.innerHTML = "<tr><td colspan=6>No stream yet: start one above.</td></tr>";
    } catch (err) {
      showError(error, err);
    }
    setTimeout(refresh, 2000);
  }
  refresh();
}

const dashboard = document.getElementById("dashboard");
const form = document.getElementById("start-form");
if (dashboard) startDashboard(dashboard);
if (form) startList(form);

// The MQTT push settings page: load the settings, PUT them on Connect, show the connection state and the last
// pushed message live (polls GET /api/v1/mqtt once a second while the page is visible).
import {showError, setBusy} from "./app.js";

const form = document.getElementById("mqtt-form");
const api = form.dataset.api;
const connect = document.getElementById("connect");
const disconnect = document.getElementById("disconnect");
const state = document.getElementById("state");
const errorBox = document.getElementById("error");
const NUMBERS = ["port", "debounce_frames", "window", "max_rate_hz", "qos"];
const TEXTS = ["host", "username", "preset", "prefix", "source", "payload", "template", "policy"];
const POLL_MS = 1000;

// The server never sends a password back: password_set says one is stored; an empty field keeps it.
// Settings a flag or the environment fixes (settings.fixed) are shown but cannot be changed here.
function fill(settings) {
  for (const name of [...TEXTS, ...NUMBERS]) form.elements[name].value = settings[name] ?? "";
  form.elements.retain.checked = Boolean(settings.retain);
  form.elements.label_map.value = Object.entries(settings.label_map || {}).map(([k, v]) => `${k}=${v}`).join("\n");
  const password = form.elements.password;
  password.value = "";
  password.placeholder = settings.password_set ? "saved (leave empty to keep it)" : "";
  const fixed = settings.fixed || {};
  for (const element of form.elements) {
    if (!element.name || element.type === "submit" || element.type === "button") continue;
    element.disabled = element.name in fixed;
    element.title = fixed[element.name] ? `Set ${fixed[element.name]}` : "";
  }
  const note = document.getElementById("fixed");
  const names = Object.keys(fixed);
  note.hidden = names.length === 0;
  note.textContent = names.map((name) => `${name}: set ${fixed[name]}`).join("; ");
}

function readForm() {
  const out = {};
  for (const name of TEXTS) {
    if (!form.elements[name].disabled) out[name] = form.elements[name].value.trim();
  }
  const password = form.elements.password;
  if (!password.disabled && password.value !== "") out.password = password.value;
  for (const name of NUMBERS) {
    if (form.elements[name].disabled) continue;
    const text = form.elements[name].value.trim();
    if (text === "") throw new Error(`${form.elements[name].labels[0].textContent} needs a number.`);
    out[name] = Number(text);
  }
  if (!form.elements.retain.disabled) out.retain = form.elements.retain.checked;
  if (form.elements.label_map.disabled) return out;
  out.label_map = {};
  for (const line of form.elements.label_map.value.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`Label → message lines look like happy=yellow; "${line.trim()}" does not.`);
    out.label_map[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function showStatus(status) {
  const ok = status.enabled && status.connected;
  const failed = status.enabled && !status.connected;
  connect.classList.toggle("connected", ok);
  connect.classList.toggle("failed", failed);
  state.classList.toggle("connected", ok);
  state.classList.toggle("failed", failed);
  connect.textContent = ok ? "Connected" : "Connect";
  if (ok) state.textContent = `Connected to ${status.broker}.`;
  else if (status.enabled) state.textContent = `Not connected: ${status.error || "connecting…"}`;
  else state.textContent = `Push is off (${status.error || "not started"}).`;
  disconnect.disabled = !status.enabled;
  const last = status.last_message;
  document.getElementById("last-topic").textContent = last
    ? `${last.topic} · ${new Date(last.time * 1000).toLocaleTimeString()}` : "Nothing pushed yet.";
  document.getElementById("last-payload").textContent = last ? last.payload : "";
  document.getElementById("counters").textContent =
    `sent ${status.sent ?? 0} · dropped ${status.dropped ?? 0} · queued ${status.queued ?? 0}`;
}

async function call(method, body) {
  const init = {method, headers: {Accept: "application/json"}};
  if (body) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(api, init);
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(data && data.message ? data.message : `The server answered ${resp.status}.`);
  return data;
}

async function save(enabled) {
  let body;
  try {
    body = {...readForm(), enabled};
  } catch (err) {
    showError(errorBox, err);
    return;
  }
  showError(errorBox, null);
  setBusy(connect, true, enabled ? "Connecting…" : "Disconnecting…");
  try {
    const data = await call("PUT", body);
    setBusy(connect, false);
    fill(data.settings);
    showStatus(data.status);
  } catch (err) {
    setBusy(connect, false);
    showError(errorBox, err);
  }
}

async function poll() {
  if (document.visibilityState === "visible" && connect.getAttribute("aria-busy") !== "true") {
    try {
      showStatus((await call("GET")).status);
    } catch (err) {
      state.textContent = `Cannot reach the visioncast server: ${err.message}`;
    }
  }
  setTimeout(poll, POLL_MS);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  save(true);
});
disconnect.addEventListener("click", () => save(false));

call("GET").then((data) => {
  fill(data.settings);
  showStatus(data.status);
  setTimeout(poll, POLL_MS);
}).catch((err) => showError(errorBox, err));

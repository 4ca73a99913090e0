// The MQTT push settings page: load the settings, PUT them on Connect, show the connection state and the last
// pushed message live (polls GET /api/v1/mqtt once a second while the page is visible).
import {failureOf, foldedDetail, setBusy, showError, t} from "./app.js";
import {has, listText} from "./i18n.js";

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
  password.placeholder = settings.password_set ? t("mqtt.password_saved") : "";
  const fixed = settings.fixed || {};
  for (const element of form.elements) {
    if (!element.name || element.type === "submit" || element.type === "button") continue;
    element.disabled = element.name in fixed;
    element.title = fixed[element.name] ? t("mqtt.fixed_by", {where: fixedBy(settings, element.name)}) : "";
  }
  const note = document.getElementById("fixed");
  const names = Object.keys(fixed);
  note.hidden = names.length === 0;
  note.textContent = t("mqtt.fixed_note",
    {list: listText(names.map((name) => t("mqtt.fixed_item", {name, where: fixedBy(settings, name)})))});
  form.elements.port.readOnly = false;
  showPolicyFields();
  showPortField();
  form.dataset.filled = "true";  // the saved settings are shown (tests wait for it before typing)
}

/** With no host the server's own broker is used, on its port (not the port setting): the field shows that
 * port, read-only, and is not saved; with a host it holds the saved port again. */
let savedPort = "";
function showPortField() {
  const port = form.elements.port;
  const embedded = form.elements.host.value.trim() === "" && !port.disabled;
  if (embedded && !port.readOnly) savedPort = port.value;
  if (!embedded && port.readOnly) port.value = savedPort;
  if (embedded) port.value = form.dataset.brokerPort;
  port.readOnly = embedded;
  document.getElementById("port-hint").hidden = !embedded;
}
form.elements.host.addEventListener("input", showPortField);

/** Show only the settings of the chosen policy: debounce and window for "change", the rate for "rate"
 * (the policy "" is the preset's default: change for siot, every otherwise). */
function showPolicyFields() {
  const policy = form.elements.policy.value || (form.elements.preset.value === "siot" ? "change" : "every");
  for (const [name, used] of [["debounce_frames", policy === "change"], ["window", policy === "change"],
    ["max_rate_hz", policy === "rate"]]) {
    form.elements[name].closest(".field").hidden = !used;
  }
}
form.elements.policy.addEventListener("change", showPolicyFields);
form.elements.preset.addEventListener("change", showPolicyFields);

/** An Error naming `field` in the page's words; the field is marked invalid and focused. */
function fieldError(field, message) {
  field.setAttribute("aria-invalid", "true");
  field.focus();
  return new Error(message);
}

/** A number field must hold a number within its min/max: say which field and what it takes. */
function checkField(field) {
  const label = field.labels[0].textContent.trim();
  if (field.value.trim() === "" || field.validity.badInput) throw fieldError(field, t("mqtt.error.number", {label}));
  if (field.validity.rangeUnderflow || field.validity.rangeOverflow) {
    throw fieldError(field, t("mqtt.error.range", {label, min: field.min, max: field.max}));
  }
  field.removeAttribute("aria-invalid");
}

function readForm() {
  const out = {};
  for (const name of TEXTS) {
    if (!form.elements[name].disabled) out[name] = form.elements[name].value.trim();
  }
  const password = form.elements.password;
  if (!password.disabled && password.value !== "") out.password = password.value;
  for (const name of NUMBERS) {
    if (form.elements[name].disabled || form.elements[name].readOnly) continue;
    const text = form.elements[name].value.trim();
    checkField(form.elements[name]);
    out[name] = Number(text);
  }
  if (!form.elements.retain.disabled) out.retain = form.elements.retain.checked;
  if (form.elements.label_map.disabled) return out;
  out.label_map = {};
  for (const line of form.elements.label_map.value.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw fieldError(form.elements.label_map, t("mqtt.error.label_map", {line: line.trim()}));
    out.label_map[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

/** Where a fixed setting is set, in the page's words (the server's English when it sends no code). */
function fixedBy(settings, name) {
  const code = (settings.fixed_by || {})[name];
  return has(`mqtt.fixed.${code}`) ? t(`mqtt.fixed.${code}`) : settings.fixed[name];
}

/** Why push is not connected, in the page's words by the status's stable code; the server's own (English)
 * sentence folded under it. */
function showReason(box, status) {
  const key = `mqtt.reason.${status.error_code}`;
  box.replaceChildren(has(key) ? t(key) : t("mqtt.not_connected"), " ", foldedDetail(status.error));
}

function showStatus(status) {
  const ok = status.enabled && status.connected;
  const failed = status.enabled && !status.connected;
  connect.classList.toggle("connected", ok);
  connect.classList.toggle("failed", failed);
  state.classList.toggle("connected", ok);
  state.classList.toggle("failed", failed);
  connect.textContent = ok ? t("mqtt.connected") : t("mqtt.connect");
  if (ok) state.textContent = t("mqtt.connected_to", {broker: status.broker});
  else if (status.enabled && status.error) showReason(state, status);
  else state.textContent = status.enabled ? t("mqtt.connecting") : t("mqtt.off");
  disconnect.disabled = !status.enabled;
  const last = status.last_message;
  document.getElementById("last-topic").textContent = last
    ? `${last.topic} · ${new Date(last.time * 1000).toLocaleTimeString()}` : t("mqtt.nothing_yet");
  document.getElementById("last-payload").textContent = last ? last.payload : "";
  document.getElementById("counters").textContent =
    t("mqtt.counters", {sent: status.sent ?? 0, dropped: status.dropped ?? 0, queued: status.queued ?? 0});
}

/** The server's refusal in the page's words; a refused setting is named first in the server's message
 * ("port: …", "config 'mqtt.template' may use …"): that field is marked and named. */
function settingError(status, data) {
  const error = failureOf(status, data, "mqtt");
  const text = data && typeof data.message === "string" ? data.message : "";
  const name = text.match(/^(?:config )?'?(?:mqtt\.)?(\w+)/)?.[1];
  const field = name && form.elements[name];
  if (status === 400 && field?.labels?.length) {
    fieldError(field, "");
    error.message = t("mqtt.error.field", {label: field.labels[0].textContent.trim()});
  }
  return error;
}

async function call(method, body) {
  const init = {method, headers: {Accept: "application/json"}};
  if (body) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let resp;
  try {
    resp = await fetch(api, init);
  } catch {
    throw new Error(t("error.offline"));
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw settingError(resp.status, data);
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
  setBusy(connect, true, enabled ? t("mqtt.connecting_short") : t("mqtt.disconnecting"));
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
      state.textContent = err.message;
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

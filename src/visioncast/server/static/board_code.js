// The teach page's "board program": per class of the trained model an LED colour, an optional servo angle and
// an optional text, the board, where its labels come from and its Wi-Fi, and a download of
// POST /api/v1/board-code (the server fills in its broker address, the boards' login and the topic). For the
// micro:bit, which has no RGB LED and no Chinese font, each class says what its 5×5 screen will show (the
// server decides: the X-Board-Program header of a preview request).
import {failureOf, setBusy, showError, t} from "./app.js";

const $ = (id) => document.getElementById(id);
const COLOURS = ["yellow", "red", "green", "blue", "cyan", "orange", "white", "purple", "off"];
const WIFI_BOARDS = ["micropython", "esp32-arduino", "microbit-obloq"];  // the M10 has its own Wi-Fi settings
const MICROBIT = "microbit-obloq";
const PREVIEW_AFTER_MS = 300;
let previewTimer = null;

function field(labelKey, control, className) {
  const wrap = document.createElement("label");
  wrap.className = `board-field ${className}`;
  const name = document.createElement("span");
  name.textContent = t(labelKey);
  wrap.append(name, control);
  return wrap;
}

function actionRow(label, i, before) {
  const row = document.createElement("div");
  row.className = "board-action";
  row.dataset.label = label;
  const name = document.createElement("span");
  name.className = "board-label";
  name.textContent = label;
  const colour = document.createElement("select");
  colour.className = "board-colour";
  colour.dataset.label = label;
  colour.append(...COLOURS.map((c) => new Option(t(`teach.colour_${c}`), c)));
  colour.value = before?.colour ?? COLOURS[i % (COLOURS.length - 1)];
  const servo = Object.assign(document.createElement("input"), {
    type: "number", min: 0, max: 180, step: 1, inputMode: "numeric", className: "board-servo",
    placeholder: "0–180", value: before?.servo ?? ""});  // empty: the servo stays where it is
  const text = Object.assign(document.createElement("input"), {
    type: "text", maxLength: 64, className: "board-text", autocomplete: "off", value: before?.text ?? ""});
  text.placeholder = label;
  const shows = document.createElement("output");
  shows.className = "board-shows hint";
  row.append(name, field("teach.board_colour", colour, "colour"), field("teach.board_servo", servo, "servo"),
    field("teach.board_text", text, "text"), shows);
  return row;
}

function rowsBefore() {
  return Object.fromEntries([...document.querySelectorAll("#board-actions .board-action")].map((row) => [
    row.dataset.label, {colour: row.querySelector(".board-colour").value,
      servo: row.querySelector(".board-servo").value, text: row.querySelector(".board-text").value}]));
}

// One row per label, in the palette order the CLI uses (what was set is kept when the labels are the same).
export function showBoardActions(labels) {
  const before = rowsBefore();
  const box = $("board-actions");
  box.querySelectorAll(".board-action").forEach((row) => row.remove());
  box.append(...labels.map((label, i) => actionRow(label, i, before[label])));
  schedulePreview();
}

// Where the board's labels come from: this page's Try publishes under it too.
export function boardSource() {
  return $("board-source").value.trim() || "teach";
}

function requestBody() {
  const board = $("board-select").value;
  const labels = {};
  for (const row of document.querySelectorAll("#board-actions .board-action")) {
    const action = {colour: row.querySelector(".board-colour").value};
    const servo = row.querySelector(".board-servo").value.trim();
    const text = row.querySelector(".board-text").value;
    if (servo !== "") action.servo = Number(servo);
    if (text !== "") action.text = text;
    labels[row.dataset.label] = action;
  }
  const body = {board, labels, source: boardSource()};
  if (document.body.dataset.project) body.project = document.body.dataset.project;  // teach.js sets it
  if (WIFI_BOARDS.includes(board)) {
    if ($("wifi-ssid").value) body.wifi_ssid = $("wifi-ssid").value;
    if ($("wifi-password").value) body.wifi_password = $("wifi-password").value;
  }
  return body;
}

async function postBody(body) {
  let response;
  try {
    response = await fetch("/api/v1/board-code", {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json"}});
  } catch {
    throw new Error(t("error.offline"));
  }
  if (!response.ok) throw failureOf(response.status, await response.json().catch(() => null), "teach");
  return response;
}

function infoOf(response) {
  try {
    return JSON.parse(response.headers.get("X-Board-Program") || "{}");
  } catch {
    return {};
  }
}

function describeShown(shown) {
  if (!shown) return "";
  return t(`teach.shows_${shown.kind}`, {icon: shown.value, text: shown.value, number: shown.value});
}

function showMicrobit(shows) {
  for (const row of document.querySelectorAll("#board-actions .board-action")) {
    row.querySelector(".board-shows").textContent = shows ? describeShown(shows[row.dataset.label]) : "";
  }
}

// The micro:bit: ask the server what each class will show (a failed preview says nothing; Download says why).
function schedulePreview() {
  clearTimeout(previewTimer);
  if ($("board-select").value !== MICROBIT || !document.querySelector("#board-actions .board-action")) {
    showMicrobit(null);
    return;
  }
  previewTimer = setTimeout(async () => {
    try {
      showMicrobit(infoOf(await postBody(requestBody())).shows);
    } catch {
      showMicrobit(null);
    }
  }, PREVIEW_AFTER_MS);
}

function fileName(response) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return match ? match[1] : "board-program.txt";
}

async function download(event, errorBox) {
  event.preventDefault();
  const button = $("board-download");
  setBusy(button, true);
  showError(errorBox, null);
  try {
    const response = await postBody(requestBody());
    const info = infoOf(response);
    const name = fileName(response);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    const where = {name, topic: info.topic ?? "", broker: `${info.broker ?? ""}:${info.port ?? ""}`};
    $("board-status").textContent = [t("teach.board_saved", where),
      info.login === false ? t("teach.board_no_login") : "",
      info.push === false ? t("teach.board_push_off") : ""].filter(Boolean).join(" ");
    if (info.shows) showMicrobit(info.shows);
  } catch (err) {
    showError(errorBox, err);
  } finally {
    setBusy(button, false);
  }
}

function showBoard() {
  const board = $("board-select").value;
  document.querySelectorAll(".board-wifi").forEach((el) => { el.hidden = !WIFI_BOARDS.includes(board); });
  document.querySelectorAll(".board-note").forEach((el) => { el.hidden = el.dataset.board !== board; });
  $("board-actions").classList.toggle("no-led", board === MICROBIT);
  schedulePreview();
}

export function bindBoardForm(errorBox) {
  $("board-select").addEventListener("change", showBoard);
  $("board-actions").addEventListener("input", schedulePreview);
  $("board-form").addEventListener("submit", (event) => download(event, errorBox));
  showBoard();
}

// The teach page's "board program": a colour per class of the trained model, the board and its Wi-Fi, and a
// download of POST /api/v1/board-code (the server fills in its broker address, the boards' login and topic).
import {failureOf, setBusy, showError, t} from "./app.js";

const $ = (id) => document.getElementById(id);
const COLOURS = ["yellow", "red", "green", "blue", "cyan", "orange", "white", "purple", "off"];
const WIFI_BOARDS = ["micropython", "esp32-arduino", "microbit-obloq"];  // the M10 has its own Wi-Fi settings

// One colour select per label, in the palette order the CLI uses (kept when the labels are the same).
export function showBoardColours(labels) {
  const box = $("board-colours");
  const before = Object.fromEntries([...box.querySelectorAll("select")].map((s) => [s.dataset.label, s.value]));
  box.querySelectorAll(".board-colour").forEach((row) => row.remove());
  labels.forEach((label, i) => {
    const id = `board-colour-${i}`;
    const name = document.createElement("label");
    name.className = "board-colour";
    name.htmlFor = id;
    name.textContent = label;
    const select = document.createElement("select");
    select.className = "board-colour";
    select.id = id;
    select.dataset.label = label;
    select.append(...COLOURS.map((c) => new Option(t(`teach.colour_${c}`), c)));
    select.value = before[label] ?? COLOURS[i % (COLOURS.length - 1)];
    box.append(name, select);
  });
}

function fileName(response) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return match ? match[1] : "board-program.txt";
}

async function download(event, errorBox) {
  event.preventDefault();
  const board = $("board-select").value;
  const labels = Object.fromEntries([...$("board-colours").querySelectorAll("select")]
    .map((s) => [s.dataset.label, s.value]));
  const body = {board, labels};
  if (WIFI_BOARDS.includes(board)) {
    if ($("wifi-ssid").value) body.wifi_ssid = $("wifi-ssid").value;
    if ($("wifi-password").value) body.wifi_password = $("wifi-password").value;
  }
  const button = $("board-download");
  setBusy(button, true);
  showError(errorBox, null);
  try {
    let response;
    try {
      response = await fetch("/api/v1/board-code", {method: "POST", body: JSON.stringify(body),
        headers: {"Content-Type": "application/json"}});
    } catch {
      throw new Error(t("error.offline"));
    }
    if (!response.ok) throw failureOf(response.status, await response.json().catch(() => null), "teach");
    const name = fileName(response);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    $("board-status").textContent = t("teach.board_saved", {name});
  } catch (err) {
    showError(errorBox, err);
  } finally {
    setBusy(button, false);
  }
}

export function bindBoardForm(errorBox) {
  const wifi = () => document.querySelectorAll(".board-wifi").forEach((el) => {
    el.hidden = !WIFI_BOARDS.includes($("board-select").value);
  });
  $("board-select").addEventListener("change", wifi);
  $("board-form").addEventListener("submit", (event) => download(event, errorBox));
  wifi();
}

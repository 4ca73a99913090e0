// The page's language on the browser side: t(key, vars) reads the same catalogue as the templates
// (static/i18n/<lang>.json). The page names its language and its bundle (messages, class names in the
// language, class colours; one content-hashed file, cached) in its visioncast-data block; every module that
// imports this one waits for the bundle (top-level await), so t() is ready when a page's code runs.
//   import {t, lang} from "./i18n.js";  t("detect.found", {n: 3})  →  "Found 3 objects" / "找到 3 个物体"
// Also the class colours (one palette, made by visioncast.draw on the server) and number formatting.
const page = JSON.parse(document.getElementById("visioncast-data")?.textContent || "{}");
const data = page.bundle ? await fetch(page.bundle).then((r) => (r.ok ? r.json() : {}), () => ({})) : {};
const messages = data.messages || {};
const labels = data.labels || {};

/** "zh" or "en": the language the server rendered this page in. */
export const lang = page.lang || "en";

/** The class colours as "#rrggbb", index = class id (wraps around). */
export const palette = data.palette && data.palette.length ? data.palette : ["#0a58ca"];

/** True when the catalogue has `key`. */
export function has(key) {
  return Object.hasOwn(messages, key);
}

/** The message `key` with `{name}` replaced from `vars`; the key itself when the catalogue lacks it. */
export function t(key, vars = {}) {
  const text = messages[key];
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** A class name as the page shows it: "人" for "person" on the Chinese pages (static/i18n/labels-zh.json);
 * answers, filters and MQTT keep the model's own name. Names without a translation are shown as they are. */
export function labelName(label) {
  return Object.hasOwn(labels, label) ? labels[label] : label;
}

/** `items` as a list in the page's language: "bus, person ×4" / "公交车、人 ×4". */
export function listText(items) {
  return items.join(t("common.list_separator"));
}

/** A number in the page's language ("1,234.5"). */
export function formatNumber(value, digits = 0) {
  return value.toLocaleString(lang === "zh" ? "zh-CN" : "en", {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
}

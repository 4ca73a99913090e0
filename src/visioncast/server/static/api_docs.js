// The API reference page: reads /openapi.json (generated from the routes themselves) and shows every operation,
// grouped by tag, with its parameters, body and answers. Offline: no Swagger, no CDN.
import {getJson, showError, t} from "./app.js";
import {has} from "./i18n.js";

const toc = document.getElementById("api-toc");
const ops = document.getElementById("api-ops");

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function schemaText(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.enum) return schema.enum.join(" | ");
  if (schema.type === "array") return `[${schemaText(schema.items)}]`;
  return [schema.type, schema.format].filter(Boolean).join(" ");
}

function paramsTable(params) {
  const head = el("tr", {}, ...["api.name", "api.in", "api.type", "api.description"].map(
    (k) => el("th", {scope: "col", textContent: t(k)})));
  const rows = params.map((p) => el("tr", {},
    el("td", {}, el("code", {textContent: p.name}), p.required ? " *" : ""),
    el("td", {textContent: has(`api.in_${p.in}`) ? t(`api.in_${p.in}`) : p.in}),
    el("td", {textContent: schemaText(p.schema)}),
    el("td", {textContent: p.description || ""})));
  return el("div", {className: "table-wrap"}, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function contentList(content) {
  return el("ul", {}, ...Object.entries(content || {}).map(([type, media]) => el("li", {},
    el("code", {textContent: type}), media.schema ? ` — ${schemaText(media.schema)}` : "")));
}

function operation(path, method, op) {
  const id = `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
  const summary = el("summary", {},
    el("span", {className: `method method-${method}`, textContent: method.toUpperCase()}),
    el("span", {className: "op-path", textContent: path}), el("span", {textContent: op.summary || ""}));
  const body = el("div", {className: "op-body"});
  if (op.description) body.append(el("p", {textContent: op.description}));
  if (op.parameters?.length) body.append(el("h4", {textContent: t("api.parameters")}), paramsTable(op.parameters));
  if (op.requestBody) {
    body.append(el("h4", {textContent: t("api.body")}), contentList(op.requestBody.content));
  }
  body.append(el("h4", {textContent: t("api.responses")}), el("ul", {}, ...Object.entries(op.responses || {})
    .map(([status, r]) => el("li", {}, el("strong", {textContent: status}), ` ${r.description || ""} `,
      r.content ? el("code", {textContent: Object.keys(r.content).join(", ")}) : null))));
  return el("details", {className: "op", id}, summary, body);
}

function render(spec) {
  const groups = new Map();
  for (const [path, methods] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(methods)) {
      if (typeof op !== "object" || !op.responses) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(path, method, op));
    }
  }
  const links = [];
  const names = new Map((spec.tags || []).map((tag) => [tag.name, tag["x-displayName"] || tag.name]));
  for (const [tag, items] of groups) {
    const name = names.get(tag) || tag;  // the page's language (/openapi.json?lang=zh)
    const section = el("section", {className: "panel", id: `tag-${tag}`},
      el("h2", {textContent: `${name} (${items.length})`}), ...items);
    ops.append(section);
    links.push(el("li", {}, el("a", {href: `#tag-${tag}`, textContent: name})));
  }
  const schemas = Object.entries(spec.components?.schemas || {});
  if (schemas.length) {
    ops.append(el("section", {className: "panel", id: "schemas"}, el("h2", {textContent: t("api.schemas")}),
      ...schemas.map(([name, schema]) => el("details", {className: "op", id: `schema-${name}`},
        el("summary", {}, el("span", {className: "op-path", textContent: name})),
        el("pre", {className: "schema", textContent: JSON.stringify(schema, null, 2)})))));
    links.push(el("li", {}, el("a", {href: "#schemas", textContent: t("api.schemas")})));
  }
  toc.replaceChildren(el("p", {className: "hint", textContent: t("api.version", {
    title: spec.info?.title || "visioncast", version: spec.info?.version || "?", n: ops.querySelectorAll(
      "section:not(#schemas) > details").length})}), el("ul", {}, ...links));
  document.body.dataset.state = "done";
}

getJson(toc.dataset.spec).then(render).catch((err) => showError(document.getElementById("error"), err));

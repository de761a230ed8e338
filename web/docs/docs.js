// The API reference page (/docs): renders /openapi.json. A file of its own,
// not inline, so the page's CSP can be script-src 'self'.
"use strict";
const METHODS = ["get", "put", "post", "patch", "delete", "head", "options", "trace"];
let spec = {};

function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "html") n.innerHTML = v; else if (k === "text") n.textContent = v; else n.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k != null) n.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return n;
}
function add(parent, ...kids) { for (const k of kids.flat()) if (k != null) parent.append(k); return parent; }
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }
// A tiny, safe Markdown subset: paragraphs, `code`, **bold**, [text](url).
function md(s) {
  if (!s) return null;
  const inline = t => esc(t).replace(/`([^`]+)`/g, "<code>$1</code>").replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/\[([^\]]+)\]\(((?:https?:\/\/|\/|#)[^)\s]*)\)/g, '<a href="$2">$1</a>');
  const d = el("div", {class: "md"});
  d.innerHTML = String(s).trim().split(/\n\s*\n/).map(p => "<p>" + inline(p.replace(/\n/g, " ")) + "</p>").join("");
  return d;
}
function slug(s) { return String(s).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, ""); }
function deref(o) {
  for (let i = 0; o && o.$ref && i < 20; i++) {
    o = o.$ref.replace(/^#\//, "").split("/").map(p => p.replace(/~1/g, "/").replace(/~0/g, "~"))
      .reduce((a, k) => (a == null ? a : a[k]), spec);
  }
  return o || {};
}
function refName(ref) { return ref.split("/").pop(); }

// Renders a schema's type as text or a link to the schema section.
function typeOf(s) {
  if (!s) return "any";
  if (s.$ref) return el("a", {href: "#schema-" + slug(refName(s.$ref))}, refName(s.$ref));
  if (s.type === "array" || (Array.isArray(s.type) && s.type.includes("array")))
    return el("span", {}, "array of ", typeOf(s.items));
  let t = Array.isArray(s.type) ? s.type.join(" | ") : (s.type || (s.oneOf || s.anyOf ? "one of" : "any"));
  if (s.format) t += " (" + s.format + ")";
  return t;
}
function constraints(s) {
  s = s || {};
  const c = [];
  if (s.enum) c.push("one of: " + s.enum.map(v => JSON.stringify(v)).join(", "));
  if (s.minimum != null) c.push("≥ " + s.minimum);
  if (s.maximum != null) c.push("≤ " + s.maximum);
  if (s.minLength != null) c.push("min length " + s.minLength);
  if (s.maxLength != null) c.push("max length " + s.maxLength);
  if (s.minProperties != null) c.push("at least " + s.minProperties + " field(s)");
  if (s.pattern) c.push("pattern " + s.pattern);
  if (s.default !== undefined) c.push("default " + JSON.stringify(s.default));
  if (s.additionalProperties === false) c.push("no other fields");
  return c.join("; ");
}
function propsTable(schema, caption) {
  const s = deref(schema);
  const props = s.properties || {};
  if (!Object.keys(props).length) return null;
  const req = new Set(s.required || []);
  return el("table", {},
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ["Field", "Type", "Description", "Constraints"].map(h => el("th", {scope: "col"}, h)))),
    el("tbody", {}, Object.entries(props).map(([name, p]) => el("tr", {},
      el("td", {}, el("code", {}, name), req.has(name) ? el("span", {class: "req"}, "required") : null),
      el("td", {}, typeOf(p)),
      el("td", {}, md(p.description || (p.$ref ? deref(p).description : "")) || ""),
      el("td", {}, constraints(p.$ref ? deref(p) : p))))));
}
function bodyBlock(content) {
  const out = [];
  for (const [type, media] of Object.entries(content || {})) {
    out.push(el("p", {}, el("code", {}, type), media.schema ? el("span", {}, " — ", typeOf(media.schema)) : null));
    const c = media.schema && constraints(deref(media.schema));
    if (c) out.push(el("p", {class: "muted"}, "Body: " + c));
    if (media.schema) out.push(propsTable(media.schema, "Fields of " + type));
  }
  return out;
}

function operation(path, method, op, pathParams) {
  const id = op.operationId || slug(method + " " + path);
  const params = [...(pathParams || []), ...(op.parameters || [])].map(deref);
  const security = op.security || spec.security || [];
  const isPublic = !security.length || security.some(r => !Object.keys(r).length);
  const art = el("article", {class: "op", id: "op-" + id, "aria-labelledby": "h-" + id},
    el("h3", {id: "h-" + id},
      el("span", {class: "method m-" + method}, method.toUpperCase()),
      el("span", {class: "path"}, path),
      el("span", {class: "summary"}, op.summary || ""),
      el("span", {class: "auth"}, isPublic ? "public" : "bearer token")),
    op.operationId ? el("p", {class: "muted"}, "Operation ", el("code", {}, op.operationId)) : null,
    md(op.description));
  if (params.length) add(art, el("h4", {}, "Parameters"), el("table", {},
    el("caption", {}, "Parameters of " + method.toUpperCase() + " " + path),
    el("thead", {}, el("tr", {}, ["Name", "In", "Type", "Description", "Constraints"].map(h => el("th", {scope: "col"}, h)))),
    el("tbody", {}, params.map(p => el("tr", {},
      el("td", {}, el("code", {}, p.name), p.required ? el("span", {class: "req"}, "required") : null),
      el("td", {}, p.in), el("td", {}, typeOf(p.schema)), el("td", {}, md(p.description) || ""),
      el("td", {}, constraints(p.schema && p.schema.$ref ? deref(p.schema) : p.schema)))))));
  if (op.requestBody) {
    const rb = deref(op.requestBody);
    add(art, el("h4", {}, "Request body" + (rb.required ? " (required)" : "")), md(rb.description), bodyBlock(rb.content));
  }
  const responses = Object.entries(op.responses || {});
  if (responses.length) add(art, el("h4", {}, "Responses"), el("table", {},
    el("caption", {}, "Responses of " + method.toUpperCase() + " " + path),
    el("thead", {}, el("tr", {}, ["Status", "Description", "Body", "Headers"].map(h => el("th", {scope: "col"}, h)))),
    el("tbody", {}, responses.map(([code, r]) => {
      const rr = deref(r);
      const bodies = Object.entries(rr.content || {}).map(([t, m]) =>
        el("div", {}, el("code", {}, t), m.schema ? el("span", {}, " ", typeOf(m.schema)) : null));
      return el("tr", {},
        el("th", {scope: "row", class: "status s" + code[0]}, code),
        el("td", {}, md(rr.description) || ""),
        el("td", {}, bodies.length ? bodies : el("span", {class: "muted"}, "no body")),
        el("td", {}, Object.keys(rr.headers || {}).map(h => el("div", {}, el("code", {}, h)))));
    }))));
  return art;
}

function render() {
  const info = spec.info || {};
  document.title = (info.title || "API") + " reference";
  const intro = document.getElementById("intro");
  intro.replaceChildren();
  add(intro, el("h1", {}, info.title || "API reference"),
    el("p", {class: "version"}, "Version " + (info.version || "?") + " · OpenAPI " + (spec.openapi || "?") + " · ",
      el("a", {href: "/openapi.yaml"}, "openapi.yaml"), " · ", el("a", {href: "/openapi.json"}, "openapi.json")),
    md(info.summary), md(info.description));

  // Group operations by their first tag, in the order the tags are declared.
  const groups = new Map((spec.tags || []).map(t => [t.name, {tag: t, ops: []}]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      const name = (item[m].tags || ["Other"])[0];
      if (!groups.has(name)) groups.set(name, {tag: {name}, ops: []});
      groups.get(name).ops.push([path, m, item[m], item.parameters]);
    }
  }
  const ops = document.getElementById("ops");
  const toc = el("ul", {});
  ops.replaceChildren();
  for (const {tag, ops: list} of groups.values()) {
    if (!list.length) continue;
    const sid = "tag-" + slug(tag.name);
    add(ops, el("section", {class: "tag", id: sid, "aria-labelledby": sid + "-h"},
      el("h2", {id: sid + "-h"}, tag.name), md(tag.description),
      list.map(([p, m, op, pp]) => operation(p, m, op, pp))));
    add(toc, el("li", {}, el("a", {href: "#" + sid}, tag.name),
      el("ul", {}, list.map(([p, m, op]) => el("li", {},
        el("a", {href: "#op-" + (op.operationId || slug(m + " " + p))}, m.toUpperCase() + " " + p))))));
  }
  const schemas = Object.entries((spec.components || {}).schemas || {});
  if (schemas.length) {
    add(ops, el("section", {class: "tag", id: "schemas", "aria-labelledby": "schemas-h"},
      el("h2", {id: "schemas-h"}, "Schemas"),
      schemas.map(([name, s]) => el("div", {id: "schema-" + slug(name)},
        el("h3", {}, name, " ", el("span", {class: "muted"}, typeOf(s.properties ? {type: "object"} : s))),
        md(s.description), constraints(s) ? el("p", {class: "muted"}, constraints(s)) : null,
        propsTable(s, "Fields of " + name)))));
    add(toc, el("li", {}, el("a", {href: "#schemas"}, "Schemas")));
  }
  document.getElementById("toc").replaceChildren(el("h2", {}, "Contents"), toc);
  if (location.hash) { const t = document.getElementById(location.hash.slice(1)); if (t) t.scrollIntoView(); }
}

fetch("/openapi.json", {headers: {Accept: "application/json"}})
  .then(r => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
  .then(doc => { spec = doc; render(); })
  .catch(err => {
    document.getElementById("intro").replaceChildren(el("h1", {}, "API reference"),
      el("p", {class: "error", role: "alert"}, "Could not load /openapi.json: " + err.message));
    document.getElementById("toc").replaceChildren(el("p", {class: "muted"}, "No contents."));
  });

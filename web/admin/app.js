// Operator console: sign-in, flags, health, audit trail, dead letters.
// Plain DOM; text is always set with textContent (never parsed as HTML).

import { ApiError, api, login, loginMFA, logout, session } from "./api.js";

const HEALTH_EVERY_MS = 5000;
const VIEWS = ["flags", "health", "audit", "dead-letters"];

const $ = (sel) => document.querySelector(sel);

// el builds an element: el("td", {class: "num"}, "text", childNode, ...).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// --- status and errors ------------------------------------------------------

function announce(msg) {
  $("#status").textContent = msg;
}

function showError(err) {
  const box = $("#error");
  box.replaceChildren();
  if (!err) {
    box.hidden = true;
    return;
  }
  const msg = err instanceof Error ? err.message : String(err);
  box.append(el("p", { text: msg }));
  if (err instanceof ApiError) {
    const fields = err.fieldErrors;
    if (fields.length) box.append(el("ul", {}, fields.map((f) => el("li", { text: f }))));
    if (err.problem.request_id) box.append(el("p", { class: "muted", text: `Request ID ${err.problem.request_id}` }));
  }
  box.hidden = false;
}

// guard runs an action, reporting a failure; a 401 ends the session.
async function guard(fn) {
  try {
    showError(null);
    return await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && session.token) {
      signOut("Your session has expired; sign in again.");
    }
    showError(err);
    return undefined;
  }
}

// --- formatting ---------------------------------------------------------------

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const fmtNum = (v, digits = 2) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
const fmtPct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)} %`);
const shortId = (id) => (id ? (id.length > 12 ? `…${id.slice(-8)}` : id) : "system");

// --- navigation -----------------------------------------------------------------

let healthTimer = null;
let me = null;

function currentView() {
  const v = location.hash.replace(/^#/, "");
  return VIEWS.includes(v) ? v : "flags";
}

function showOnly(id) {
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== id;
}

async function route() {
  clearInterval(healthTimer);
  healthTimer = null;
  if (!session.token) {
    $("#nav").hidden = true;
    $("#session").hidden = true;
    showOnly("view-sign-in");
    return;
  }
  $("#nav").hidden = false;
  $("#session").hidden = false;
  $("#who").textContent = session.email;
  const view = currentView();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  showOnly(`view-${view}`);
  switch (view) {
    case "flags":
      await loadFlags();
      break;
    case "health":
      await refreshHealth();
      healthTimer = setInterval(refreshHealth, HEALTH_EVERY_MS);
      break;
    case "audit":
      await loadAudit(true);
      break;
    case "dead-letters":
      await loadDeadLetters(true);
      break;
  }
}

function focusHeading() {
  const h = document.querySelector(".view:not([hidden]) h1");
  if (h) h.focus();
}

// --- sign in / out ----------------------------------------------------------------

// pending is a sign-in between its two steps: the password was right and
// the account has a second factor; {mfaToken, email}.
let pending = null;

function showMFAStep(on) {
  $("#sign-in-form").hidden = on;
  $("#mfa-form").hidden = !on;
}

async function onSignIn(ev) {
  ev.preventDefault();
  const email = $("#email").value.trim();
  const password = $("#password").value;
  if (!email || !password) {
    showError(new Error("Enter your email and password."));
    return;
  }
  const button = $("#sign-in");
  button.disabled = true;
  await guard(async () => {
    const res = await login(email, password);
    $("#password").value = "";
    if (res.mfa_required) {
      pending = { mfaToken: res.mfa_token, email };
      showMFAStep(true);
      announce("Enter the code from your authenticator app.");
      $("#mfa-code").focus();
      return;
    }
    await signedIn(res, email);
  });
  button.disabled = false;
}

async function onMFACode(ev) {
  ev.preventDefault();
  const code = $("#mfa-code").value.trim();
  if (!code) {
    showError(new Error("Enter the 6-digit code from your authenticator app, or a recovery code."));
    return;
  }
  const button = $("#mfa-submit");
  button.disabled = true;
  await guard(async () => {
    const res = await loginMFA(pending.mfaToken, code);
    const { email } = pending;
    cancelMFA();
    await signedIn(res, email);
  });
  button.disabled = false;
}

function cancelMFA() {
  pending = null;
  $("#mfa-code").value = "";
  showMFAStep(false);
}

// signedIn keeps the tokens of a completed sign-in, if the account is an
// administrator, and opens the console.
async function signedIn(tokens, email) {
  session.save(tokens, email);
  const user = await api.currentUser();
  if (user.role !== "admin") {
    await signOut("This account is not an administrator.");
    throw new Error("This account is not an administrator.");
  }
  me = user;
  announce(`Signed in as ${email}.`);
  if (!location.hash) location.hash = "#flags";
  await route();
  focusHeading();
}

// signOut revokes the session's refresh token (best effort: the tab
// forgets the session either way) and shows the sign-in form.
async function signOut(msg = "Signed out.") {
  await logout().catch(() => {});
  session.clear();
  me = null;
  clearInterval(healthTimer);
  healthTimer = null;
  cancelMFA();
  announce(msg);
  await route();
  $("#email").focus();
}

// --- flags ------------------------------------------------------------------------

const flagsByKey = new Map();

async function loadFlags() {
  await guard(async () => {
    const list = await api.flags();
    flagsByKey.clear();
    const body = $("#flags-table tbody");
    body.replaceChildren();
    for (const f of list.data) {
      flagsByKey.set(f.key, f);
      body.append(flagRow(f));
    }
  });
}

// boolVariants returns {on, off} variant names of a boolean on/off flag.
function boolVariants(f) {
  const names = Object.keys(f.variants || {});
  const on = names.find((n) => f.variants[n] === true);
  const off = names.find((n) => f.variants[n] === false);
  return names.length === 2 && on && off ? { on, off } : null;
}

// rolloutOf describes a top-level two-way fractional split, or null.
function rolloutOf(f) {
  const frac = f.targeting && Array.isArray(f.targeting.fractional) ? f.targeting.fractional : null;
  if (!frac) return null;
  const buckets = frac.filter((b) => Array.isArray(b));
  if (buckets.length !== 2) return null;
  const bv = boolVariants(f);
  const primary = bv ? buckets.find((b) => b[0] === bv.on) || buckets[0] : buckets[0];
  const other = buckets.find((b) => b !== primary);
  const total = Number(primary[1]) + Number(other[1]);
  const pct = total > 0 ? Math.round((Number(primary[1]) * 100) / total) : 0;
  return { variant: primary[0], otherVariant: other[0], pct };
}

// definition is the writable part of a flag view, for PUT.
function definition(f) {
  const d = { state: f.state, variants: f.variants, defaultVariant: f.defaultVariant, metadata: f.metadata || {} };
  if (f.targeting !== undefined) d.targeting = f.targeting;
  return d;
}

function withRollout(f, variant, pct) {
  const frac = f.targeting.fractional.map((b) => {
    if (!Array.isArray(b)) return b;
    return [b[0], b[0] === variant ? pct : 100 - pct];
  });
  return { ...definition(f), targeting: { ...f.targeting, fractional: frac } };
}

function flagRow(f) {
  const desc = f.metadata && typeof f.metadata.description === "string" ? f.metadata.description : "";
  const enabled = f.state === "ENABLED";
  const bv = boolVariants(f);
  const ro = rolloutOf(f);
  const id = `flag-${f.key.replace(/[^a-z0-9_-]/gi, "-")}`;

  let value;
  if (bv) {
    const on = f.defaultVariant === bv.on;
    value = el(
      "label",
      { class: "switch" },
      el("input", {
        type: "checkbox",
        role: "switch",
        checked: on,
        "data-action": "toggle",
        "aria-labelledby": `${id}-name`,
        onchange: (ev) => changeFlag(f, { ...definition(f), defaultVariant: ev.target.checked ? bv.on : bv.off },
          `${f.key} switched ${ev.target.checked ? "on" : "off"}.`),
      }),
      el("span", { text: on ? "On" : "Off" }),
    );
  } else {
    value = el("span", {}, el("code", { text: f.defaultVariant }), " ",
      el("span", { class: "muted", text: JSON.stringify(f.variants[f.defaultVariant]) }));
  }

  let rollout = el("span", { class: "muted", text: f.targeting ? "custom targeting" : "—" });
  if (ro) {
    const num = el("input", {
      type: "number", min: 0, max: 100, step: 1, value: ro.pct, id: `${id}-pct`, "data-action": "rollout-pct",
    });
    const range = el("input", {
      type: "range", min: 0, max: 100, step: 1, value: ro.pct, "aria-label": `${f.key}: % getting ${ro.variant}`,
      "data-action": "rollout-range",
    });
    num.addEventListener("input", () => { range.value = num.value; });
    range.addEventListener("input", () => { num.value = range.value; });
    const apply = el("button", {
      type: "button", "data-action": "rollout-apply", "aria-describedby": `${id}-name`, text: "Apply",
      onclick: () => {
        const pct = Number(num.value);
        if (!Number.isInteger(pct) || pct < 0 || pct > 100) {
          showError(new Error("The rollout share must be a whole number from 0 to 100."));
          num.focus();
          return;
        }
        changeFlag(f, withRollout(f, ro.variant, pct), `${f.key}: ${pct} % of users get ${ro.variant}.`);
      },
    });
    rollout = el("div", { class: "rollout" },
      el("label", { for: `${id}-pct` }, `% getting `, el("code", { text: ro.variant })),
      num, range, apply);
  }

  const stateButton = el("button", {
    type: "button", "data-action": "state", "aria-describedby": `${id}-name`,
    text: enabled ? "Disable" : "Enable",
    onclick: () => changeFlag(f, { ...definition(f), state: enabled ? "DISABLED" : "ENABLED" },
      `${f.key} ${enabled ? "disabled" : "enabled"}.`),
  });

  return el(
    "tr",
    { "data-flag": f.key, "data-version": f.version },
    el("th", { scope: "row" }, el("code", { id: `${id}-name`, text: f.key }), desc ? el("div", { class: "muted", text: desc }) : null),
    el("td", {}, el("span", { class: enabled ? "state-ok" : "state-degraded", text: enabled ? "Enabled" : "Disabled" }), " ", stateButton),
    el("td", {}, value),
    el("td", {}, rollout),
    el("td", {}, el("time", { datetime: f.updated_at, text: fmtTime(f.updated_at) }),
      el("div", { class: "muted", text: `by ${f.updated_by ? (me && me.id === f.updated_by ? "you" : shortId(f.updated_by)) : "seed file"} · v${f.version}` })),
  );
}

// changeFlag PUTs def conditionally on the version shown, then redraws the row.
async function changeFlag(f, def, doneMsg) {
  const row = document.querySelector(`tr[data-flag="${CSS.escape(f.key)}"]`);
  for (const c of row.querySelectorAll("input, button")) c.disabled = true;
  const saved = await guard(async () => {
    try {
      return await api.putFlag(f.key, def, f.version);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        const fresh = await api.flag(f.key);
        replaceRow(fresh);
        throw new Error(`${f.key} was changed by someone else meanwhile; the row shows the current definition, try again.`);
      }
      throw err;
    }
  });
  if (saved) {
    replaceRow(saved);
    announce(doneMsg);
  } else {
    replaceRow(flagsByKey.get(f.key));
  }
}

function replaceRow(f) {
  flagsByKey.set(f.key, f);
  const row = document.querySelector(`tr[data-flag="${CSS.escape(f.key)}"]`);
  const focused = document.activeElement && row && row.contains(document.activeElement)
    ? document.activeElement.dataset.action : null;
  const next = flagRow(f);
  if (row) row.replaceWith(next);
  if (focused) {
    const target = next.querySelector(`[data-action="${focused}"]`);
    if (target) target.focus();
  }
}

// --- health -----------------------------------------------------------------------

function card(label, value, key, cls) {
  return el("div", {}, el("dt", { text: label }), el("dd", { "data-k": key, class: cls, text: value }));
}

async function refreshHealth() {
  if (currentView() !== "health" || !session.token) return;
  await guard(async () => {
    const s = await api.stats();
    $("#health-every").textContent = String(HEALTH_EVERY_MS / 1000);
    $("#health-updated").textContent = `Last update ${new Date(s.generated_at).toLocaleTimeString()}, over the last ${fmtNum(s.window_seconds, 0)} s.`;
    $("#health-summary").replaceChildren(
      card("Readiness", s.status, "status", `state-${s.status}`),
      card("Requests per second", fmtNum(s.request_rate), "request_rate"),
      card("Requests in window", String(s.requests), "requests"),
      card("Error rate (5xx)", fmtPct(s.error_rate), "error_rate"),
      card("In flight", String(s.in_flight), "in_flight"),
    );
    const degraded = $("#health-degraded");
    degraded.replaceChildren(...(s.degraded.length ? s.degraded.map((d) => el("li", { class: "state-degraded", text: d }))
      : [el("li", { class: "state-ok", text: "None: every dependency answers and every kill switch is on." })]));
    const breakers = Object.entries(s.breakers).map(([name, st]) => card(`Breaker: ${name}`, st, `breaker-${name}`, `state-${st}`));
    $("#health-breakers").replaceChildren(...breakers,
      card("Concurrency limit", String(s.limiter.limit), "limit"),
      card("Admitted in flight", String(s.limiter.in_flight), "limiter_in_flight"),
      card("Requests shed", String(s.limiter.shed), "shed"));
    $("#health-routes tbody").replaceChildren(...(s.routes.length ? s.routes.map((r) => el("tr", {},
      el("th", { scope: "row" }, el("code", { text: `${r.method} ${r.route}` })),
      el("td", { class: "num", text: String(r.requests) }),
      el("td", { class: "num", text: fmtNum(r.request_rate) }),
      el("td", { class: "num", text: fmtPct(r.error_rate) }),
      el("td", { class: "num", text: fmtNum(r.p50_ms, 1) }),
      el("td", { class: "num", text: fmtNum(r.p95_ms, 1) }),
      el("td", { class: "num", text: fmtNum(r.p99_ms, 1) }),
    )) : [el("tr", {}, el("td", { colspan: 7, class: "muted", text: "No requests in the window." }))]));
    $("#health-cache tbody").replaceChildren(...(s.cache.length ? s.cache.map((c) => el("tr", {},
      el("th", { scope: "row", text: c.level.toUpperCase() }),
      el("td", { class: "num", text: String(c.hits) }),
      el("td", { class: "num", text: String(c.misses) }),
      el("td", { class: "num", text: fmtPct(c.hit_ratio) }),
    )) : [el("tr", {}, el("td", { colspan: 4, class: "muted", text: "No cache metrics." }))]));
  });
}

// --- audit trail ------------------------------------------------------------------

let auditCursor = null;

async function loadAudit(reset) {
  await guard(async () => {
    if (reset) auditCursor = null;
    const page = await api.audit(auditCursor);
    const body = $("#audit-table tbody");
    if (reset) body.replaceChildren();
    for (const e of page.data) {
      body.append(el("tr", { "data-id": e.id },
        el("td", {}, el("time", { datetime: e.occurred_at, text: fmtTime(e.occurred_at) })),
        el("td", {}, el("code", { text: e.action })),
        el("td", {}, `${e.target_type} `, el("code", { text: e.target_id })),
        el("td", { text: e.actor_id ? (me && me.id === e.actor_id ? "you" : shortId(e.actor_id)) : "system" }),
        el("td", {}, el("details", {}, el("summary", { text: "Before / after" }),
          el("pre", { text: `before: ${JSON.stringify(e.before, null, 2)}\nafter: ${JSON.stringify(e.after, null, 2)}` }))),
      ));
    }
    auditCursor = page.next_cursor;
    $("#audit-more").hidden = !auditCursor;
    $("#audit-empty").hidden = body.children.length > 0;
    if (!reset) announce(`Loaded ${page.data.length} more audit entries.`);
  });
}

// --- dead letters -----------------------------------------------------------------

let deadCursor = null;

function deadRow(d) {
  const replay = el("button", {
    type: "button", "data-action": "replay", disabled: Boolean(d.replayed_at),
    "aria-label": `Replay ${d.event_type} for ${d.consumer}`,
    text: d.replayed_at ? "Replayed" : "Replay",
    onclick: async (ev) => {
      ev.target.disabled = true;
      const res = await guard(() => api.replay(d.id));
      if (!res) {
        ev.target.disabled = false;
        return;
      }
      const row = document.querySelector(`tr[data-id="${CSS.escape(d.id)}"]`);
      row.replaceWith(deadRow(res.body));
      announce(res.status === 200 ? `Replayed ${d.event_type}: the consumer handled it.`
        : `Replayed ${d.event_type}: it failed again and is retrying with backoff.`);
    },
  });
  return el("tr", { "data-id": d.id, "data-replayed": Boolean(d.replayed_at) },
    el("td", {}, el("time", { datetime: d.failed_at, text: fmtTime(d.failed_at) })),
    el("td", {}, el("code", { text: d.consumer })),
    el("td", {}, el("code", { text: d.event_type }), el("div", { class: "muted", text: d.event_key })),
    el("td", { class: "num", text: String(d.attempts) }),
    el("td", { text: d.error }),
    el("td", {}, replay, d.replayed_at ? el("div", { class: "muted", text: fmtTime(d.replayed_at) }) : null),
  );
}

async function loadDeadLetters(reset) {
  await guard(async () => {
    if (reset) deadCursor = null;
    const page = await api.deadLetters(deadCursor);
    const body = $("#dead-table tbody");
    if (reset) body.replaceChildren();
    for (const d of page.data) body.append(deadRow(d));
    deadCursor = page.next_cursor;
    $("#dead-more").hidden = !deadCursor;
    $("#dead-empty").hidden = body.children.length > 0;
  });
}

// --- start ------------------------------------------------------------------------

async function start() {
  $("#sign-in-form").addEventListener("submit", onSignIn);
  $("#mfa-form").addEventListener("submit", onMFACode);
  $("#mfa-cancel").addEventListener("click", () => {
    cancelMFA();
    showError(null);
    $("#email").focus();
  });
  $("#sign-out").addEventListener("click", () => signOut());
  $("#audit-more").addEventListener("click", () => loadAudit(false));
  $("#dead-more").addEventListener("click", () => loadDeadLetters(false));
  window.addEventListener("hashchange", async () => {
    await route();
    focusHeading();
  });
  if (session.token) {
    me = await guard(() => api.currentUser());
  }
  await route();
  document.body.dataset.ready = "true";
}

start();

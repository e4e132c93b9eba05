// Shared helpers. Every string from the server goes into the page as a text
// node (never innerHTML): device-supplied text stays text.
"use strict";
const T = {};
T.el = function (tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "cls") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
};
T.svg = function (tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};
T.pill = (v) => T.el("span", { cls: "pill " + String(v).replace(/[^a-z_]/gi, "") }, v === null || v === undefined ? "-" : v);
T.fmt = function (v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
};
T.time = (s) => (s ? new Date(s * 1000).toISOString().replace("T", " ").slice(0, 19) : "-");
T.ago = function (iso) {
  if (!iso) return "-";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!isFinite(s)) return String(iso);
  return s < 90 ? Math.round(s) + " s ago" : s < 5400 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
};

// A sortable table: columns [{key, label, render?}], state kept per id across re-renders.
// With pageSize, only that many rows are in the DOM (sorting and filtering still see all).
T.sortState = {};
T.table = function (id, columns, rows, pageSize) {
  const st = T.sortState[id] || (T.sortState[id] = { key: null, dir: 1, page: 0 });
  if (st.key) {
    rows = rows.slice().sort((a, b) => {
      const x = a[st.key], y = b[st.key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * st.dir;
    });
  }
  const total = rows.length;
  let pager = null;
  if (pageSize && total > pageSize) {
    const pages = Math.ceil(total / pageSize);
    st.page = Math.min(st.page, pages - 1);
    rows = rows.slice(st.page * pageSize, (st.page + 1) * pageSize);
    const go = (n) => () => { st.page = Math.max(0, Math.min(pages - 1, n)); T.rerender(); };
    pager = T.el("div", { cls: "controls pager", id: id + "-pager" },
      T.el("button", { id: id + "-prev", disabled: st.page === 0 ? "" : null, onclick: go(st.page - 1) }, "‹ previous"),
      T.el("span", {}, "rows ", st.page * pageSize + 1, "–", st.page * pageSize + rows.length, " of ", total),
      T.el("button", { id: id + "-next", disabled: st.page === pages - 1 ? "" : null, onclick: go(st.page + 1) }, "next ›"));
  } else st.page = 0;
  const head = T.el("tr", {}, columns.map((c) => T.el("th", {
    "data-key": c.key,
    onclick: () => { st.dir = st.key === c.key ? -st.dir : 1; st.key = c.key; st.page = 0; T.rerender(); },
  }, c.label + (st.key === c.key ? (st.dir > 0 ? " ▲" : " ▼") : ""))));
  const body = rows.map((r) => T.el("tr", { "data-id": r[columns[0].key] },
    columns.map((c) => T.el("td", { cls: c.wrap ? "wrap" : null }, c.render ? c.render(r[c.key], r) : T.fmt(r[c.key])))));
  const table = T.el("table", { id: id }, T.el("thead", {}, head), T.el("tbody", {}, body));
  return pager ? T.el("div", {}, table, pager) : table;
};

// Token: from ?token= once (then dropped from the address bar), kept for this tab.
(function () {
  const u = new URL(location.href);
  if (u.searchParams.get("token")) {
    sessionStorage.setItem("tinyops-token", u.searchParams.get("token"));
    u.searchParams.delete("token");
    history.replaceState(null, "", u.pathname + u.search);
  }
  const input = document.getElementById("token");
  input.value = sessionStorage.getItem("tinyops-token") || "";
  input.addEventListener("change", () => sessionStorage.setItem("tinyops-token", input.value.trim()));
})();

T.flash = function (text, ok) {
  const f = document.getElementById("flash");
  f.textContent = text;
  f.className = ok ? "ok" : "err";
};
T.post = async function (url, body) {
  const r = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json", "X-Tinyops-Token": document.getElementById("token").value.trim() },
    body: JSON.stringify(body || {}),
  });
  let out = {};
  try { out = await r.json(); } catch (e) { out = { error: "HTTP " + r.status }; }
  if (!r.ok) { T.flash((out.error || "failed") + (out.hint ? " — " + out.hint : ""), false); return null; }
  T.flash("done: " + JSON.stringify(out), true);
  T.refresh();
  return out;
};

// Page life cycle: render from the embedded JSON, re-fetch on live changes.
T.page = document.body.dataset.page;
T.data = JSON.parse(document.getElementById("page-data").textContent);
T.renderers = {};
T.apiUrl = function () {
  const p = T.page === "fleet" ? "devices" : T.page;
  if (T.page === "device") return "/api/devices/" + encodeURIComponent(T.data.device.device);
  return "/api/" + p + location.search;
};
T.rerender = function () {
  const root = document.getElementById("root");
  const fn = T.renderers[T.page];
  if (!fn || !T.data) return;
  const focus = document.activeElement && document.activeElement.id;
  root.replaceChildren(fn(T.data));
  if (focus && document.getElementById(focus)) document.getElementById(focus).focus();
  window.tinyopsRenders = (window.tinyopsRenders || 0) + 1;
  // after the charts this render queued have drawn
  queueMicrotask(() => { performance.mark("tinyops-rendered"); window.tinyopsRendered = true; });
};
T.refresh = async function () {
  const r = await fetch(T.apiUrl());
  if (r.ok) { T.data = await r.json(); T.rerender(); window.tinyopsLiveUpdates = (window.tinyopsLiveUpdates || 0) + 1; }
};
T.watch = { fleet: ["fleet", "telemetry", "drift"], device: ["fleet", "rollouts", "telemetry", "event"],
  rollouts: ["rollouts", "fleet"], models: ["models"], drift: ["drift", "telemetry"], telemetry: ["telemetry"] };
T.connect = function () {
  const live = document.getElementById("live");
  const es = T.es = new EventSource("/api/events");
  let pending = null;
  es.onopen = () => { live.textContent = "● live"; live.className = "live on"; };
  es.onerror = () => { live.textContent = "● reconnecting"; live.className = "live"; };
  es.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    const kinds = m.kind === "event" ? ["event"] : m.changed || [];
    if (!kinds.some((k) => (T.watch[T.page] || []).includes(k))) return;
    if (pending) return;
    pending = setTimeout(() => { pending = null; T.refresh(); }, 150);
  };
};
window.addEventListener("DOMContentLoaded", () => { T.rerender(); T.connect(); });
// Close the stream when leaving the page: a page kept in the back/forward cache would
// otherwise hold its connection, and the browser's few connections per host run out.
window.addEventListener("pagehide", () => { if (T.es) { T.es.close(); T.es = null; } });
window.addEventListener("pageshow", (e) => { if (e.persisted && !T.es) { T.connect(); T.refresh(); } });

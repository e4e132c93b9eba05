// One renderer per page: data (the page's /api JSON) -> DOM.
"use strict";
const E = T.el;
T.charts = [];
const _rerender = T.rerender;
T.rerender = function () { T.charts.forEach((c) => c.destroy()); T.charts = []; _rerender(); };
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
function chart(id, title, config) {
  const canvas = E("canvas", { id: id });
  const box = E("div", { cls: "chart" }, canvas);
  // Charts need the canvas in the document: draw right after this render pass.
  queueMicrotask(() => {
    config.options = Object.assign({ plugins: { title: { display: true, text: title } } }, config.options || {});
    T.charts.push(new Chart(canvas, config));
  });
  return box;
}
const COLORS = ["#2f6fdf", "#e0663a", "#2aa876", "#b04fcf", "#d9a200", "#5a6b80", "#e2427f", "#17a2b8"];
const F = { filter: "", status: "", group: "" };
T.resetPage = (id) => { if (T.sortState[id]) T.sortState[id].page = 0; };

T.renderers.fleet = function (d) {
  const cards = E("div", { cls: "cards", id: "groups" }, d.groups.map((g) => E("div", { cls: "card", "data-group": g.group },
    E("span", {}, "group ", g.group), E("b", {}, g.online, " / ", g.devices, " online"),
    E("small", {}, Object.entries(g.builds).map(([b, n]) => b.slice(0, 8) + "×" + n).join("  ")))));
  const groups = [...new Set(d.devices.flatMap((x) => x.groups))].sort();
  const controls = E("div", { cls: "controls" },
    F.input || (F.input = E("input", { id: "filter", placeholder: "filter devices…",
      oninput: (e) => { F.filter = e.target.value; T.resetPage("devices"); T.rerender(); } })),
    E("select", { id: "status-filter", onchange: (e) => { F.status = e.target.value; T.resetPage("devices"); T.rerender(); } },
      ["", "online", "stale", "offline", "unknown"].map((s) => E("option", { value: s, selected: F.status === s ? "" : null }, s || "any status"))),
    E("select", { id: "group-filter", onchange: (e) => { F.group = e.target.value; T.resetPage("devices"); T.rerender(); } },
      ["", ...groups].map((s) => E("option", { value: s, selected: F.group === s ? "" : null }, s || "any group"))));
  const q = F.filter.toLowerCase();
  const rows = d.devices.filter((x) => (!F.status || x.status === F.status) && (!F.group || x.groups.includes(F.group)) &&
    (!q || JSON.stringify([x.device, x.profile, x.build, x.groups, x.firmware]).toLowerCase().includes(q)));
  const cols = [
    { key: "device", label: "device", render: (v) => E("a", { href: "/devices/" + encodeURIComponent(v) }, v) },
    { key: "status", label: "status", render: T.pill }, { key: "profile", label: "profile" },
    { key: "groups", label: "groups" }, { key: "build", label: "active build" }, { key: "slot", label: "slot" },
    { key: "state", label: "state" }, { key: "firmware", label: "firmware" },
    { key: "last_seen", label: "last seen", render: (v) => E("span", { title: v || "" }, T.ago(v)) },
    { key: "drift", label: "drift", render: (v, r) => v === null || v === undefined ? "-" : T.pill(v ? "drift" : "ok") },
    { key: "latency_p95_ms", label: "latency p95 ms" }];
  return E("div", {}, E("h2", {}, "Groups"), cards, E("h2", {}, "Devices (", rows.length, " of ", d.devices.length, ")"),
    controls, T.table("devices", cols, rows, 100));
};

function telemetryCharts(tl, prefix) {
  const labels = tl.buckets.map((b) => T.time(b.t).slice(5, 16));
  const ds = (label, vals, i, extra) => Object.assign({ label: label, data: vals, borderColor: COLORS[i % 8],
    backgroundColor: COLORS[i % 8], pointRadius: 0 }, extra || {});
  const mix = Object.entries(tl.predictions || {}).map(([k, v], i) => ds(k, v, i, { fill: true }));
  const rejects = {};
  (tl.rejects || []).forEach((r) => { rejects[T.time(r.t).slice(5, 16)] = r.count; });
  return E("div", { cls: "charts" },
    chart(prefix + "-inferences", "inferences and errors per bucket", { type: "bar", data: { labels: labels, datasets: [
      ds("inferences", tl.buckets.map((b) => b.inferences), 0), ds("errors", tl.buckets.map((b) => b.errors), 1)] } }),
    chart(prefix + "-latency", "latency (ms): mean of window p50 / p95, max p95", { type: "line", data: { labels: labels, datasets: [
      ds("p50", tl.buckets.map((b) => b.latency_p50_ms), 2), ds("p95", tl.buckets.map((b) => b.latency_p95_ms), 1),
      ds("max p95", tl.buckets.map((b) => b.latency_p95_max_ms), 5)] } }),
    chart(prefix + "-mix", "prediction mix", { type: "line", data: { labels: labels, datasets: mix },
      options: { scales: { y: { stacked: true } } } }),
    chart(prefix + "-rejects", "rejected windows", { type: "bar", data: { labels: labels, datasets: [
      ds("rejected", labels.map((l) => rejects[l] || 0), 6)] } }));
}

T.renderers.device = function (d) {
  const dev = d.device;
  const info = E("div", { cls: "cards" }, [["status", T.pill(dev.status)], ["profile", dev.profile], ["groups", T.fmt(dev.groups)],
    ["active build", dev.build || "-"], ["slot", T.fmt((dev.reported || {}).slot)], ["last seen", T.ago(dev.last_seen)]]
    .map(([k, v]) => E("div", { cls: "card" }, E("span", {}, k), E("b", {}, v))));
  const upd = T.table("updates", [{ key: "rollout", label: "rollout" }, { key: "build", label: "build" },
    { key: "state", label: "state", render: T.pill }, { key: "previous_build", label: "previous" },
    { key: "set_at", label: "set at" }, { key: "finished_at", label: "finished" }, { key: "reason", label: "reason", wrap: true }], d.updates);
  const ev = T.table("events", [{ key: "ts", label: "time" }, { key: "event", label: "event" },
    { key: "detail", label: "detail", wrap: true }], d.events.map((e) => ({ ts: e.ts, event: e.event || e.type, detail: JSON.stringify(e) })));
  return E("div", {}, E("h2", { id: "device-title" }, "Device ", dev.device), info,
    E("h2", {}, "Update history"), upd, E("h2", {}, "Events (since the dashboard started)"), ev,
    E("h2", {}, "Telemetry"), telemetryCharts(d.telemetry, "dev"));
};

function rolloutForm(d) {
  if (F.rolloutForm) return F.rolloutForm;  // kept across live re-renders: what the user typed stays
  const f = F.rolloutForm = E("form", { id: "rollout-form", cls: "controls", onsubmit: (e) => {
    e.preventDefault();
    const v = (n) => f.querySelector("[name=" + n + "]").value;
    T.post("/api/rollouts", { build: v("build"), group: v("group"), canary: v("canary"), batch: v("batch"),
      max_failures: v("max_failures"), health_timeout: v("health_timeout") });
  } },
  E("select", { name: "build", id: "rollout-build" }, d.builds.map((b) => E("option", { value: b.build }, b.build.slice(0, 12) + " " + b.ref + " (" + b.profile + ")"))),
  E("select", { name: "group", id: "rollout-group" }, d.groups.map((g) => E("option", { value: g }, g))),
  E("label", {}, "canary ", E("input", { name: "canary", value: "10%", size: 4 })),
  E("label", {}, "batch ", E("input", { name: "batch", value: "25%", size: 4 })),
  E("label", {}, "max failures ", E("input", { name: "max_failures", value: "5%", size: 4 })),
  E("label", {}, "health timeout s ", E("input", { name: "health_timeout", value: "60", size: 4 })),
  E("button", { type: "submit", id: "rollout-start" }, "Start rollout"));
  return f;
}
const STATE_COLORS = { updated: "#2aa876", downloading: "#d9a200", failed: "#d64545", reverted: "#5a6b80", pending: "#cfd5dd" };
T.renderers.rollouts = function (d) {
  const items = d.rollouts.map((r) => {
    const batches = T.table("batches-" + r.rollout, [{ key: "label", label: "batch" }, { key: "devices", label: "devices" },
      { key: "pending", label: "pending" }, { key: "downloading", label: "desired / downloading" }, { key: "updated", label: "updated" },
      { key: "failed", label: "failed" }, { key: "reverted", label: "reverted" },
      { key: "bar", label: "progress", render: (_, b) => E("div", { cls: "bar" }, ["updated", "downloading", "failed", "reverted", "pending"]
        .map((s) => E("span", { style: "width:" + (100 * b[s] / Math.max(b.devices, 1)) + "%;background:" + STATE_COLORS[s], title: s })) ) }],
      r.batches);
    const fails = r.failures.length ? T.table("failures-" + r.rollout, [{ key: "device", label: "device" },
      { key: "state", label: "state", render: T.pill }, { key: "reason", label: "reason", wrap: true }], r.failures) : null;
    const running = r.state === "running", paused = r.state === "paused";
    return E("section", { cls: "rollout", id: "rollout-" + r.rollout, "data-state": r.state },
      E("h2", {}, "Rollout ", r.rollout, " ", T.pill(r.state), " build ", r.build.slice(0, 12), " → group ", r.group),
      E("div", { cls: "controls" }, E("span", {}, "canary verdict ", T.pill(r.canary_verdict)),
        E("span", { cls: "counts", id: "counts-" + r.rollout }, Object.entries(r.counts).map(([k, v]) => k + "=" + v).join(" ")),
        E("span", {}, r.message || ""),
        paused ? E("button", { id: "resume-" + r.rollout, onclick: () => T.post("/api/rollouts/" + r.rollout + "/resume") }, "Resume")
          : E("button", { id: "pause-" + r.rollout, disabled: running ? null : "", title: "finish the current batch, start no further one",
            onclick: () => T.post("/api/rollouts/" + r.rollout + "/pause") }, "Pause"),
        E("button", { id: "abort-" + r.rollout, disabled: running || paused ? null : "", onclick: () => T.post("/api/rollouts/" + r.rollout + "/abort") }, "Abort"),
        E("button", { id: "rollback-" + r.rollout, disabled: r.state === "rolled_back" ? "" : null,
          onclick: () => T.post("/api/rollouts/" + r.rollout + "/rollback") }, "Roll back")),
      batches, fails);
  });
  return E("div", {}, E("h2", {}, "Start a rollout"), rolloutForm(d), items.length ? items : E("p", {}, "No rollouts yet."));
};

function lineageSvg(g) {
  const order = ["dataset", "feature", "run", "model", "variant", "build"];
  const col = { dataset: 0, feature: 0, run: 1, model: 2, variant: 3, build: 4 };
  const pos = {}, count = [0, 0, 0, 0, 0];
  g.nodes.slice().sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind)).forEach((n) => {
    const c = col[n.kind]; pos[n.id] = { x: 10 + c * 200, y: 20 + count[c]++ * 34 };
  });
  const h = 40 + Math.max(...count, 1) * 34;
  const svg = T.svg("svg", { width: 1010, height: h, cls: "lineage", id: "lineage" });
  g.edges.forEach(([a, b]) => { if (pos[a] && pos[b]) svg.appendChild(T.svg("line", { x1: pos[a].x + 170, y1: pos[a].y + 12,
    x2: pos[b].x, y2: pos[b].y + 12, stroke: "#8b96a6" })); });
  g.nodes.forEach((n) => { const p = pos[n.id];
    svg.appendChild(T.svg("rect", { x: p.x, y: p.y, width: 170, height: 24, rx: 4, fill: COLORS[order.indexOf(n.kind)], opacity: 0.18 }));
    svg.appendChild(T.svg("text", { x: p.x + 6, y: p.y + 16 }, n.kind + ": " + n.label)); });
  return svg;
}
T.renderers.models = function (d) {
  const rows = [];
  d.models.forEach((m) => m.versions.forEach((v) => v.variants.concat(v.variants.length ? [] : [null]).forEach((x) => rows.push({
    model: v.ref, aliases: v.aliases, metrics: Object.entries(v.metrics || {}).filter(([, y]) => typeof y === "number").slice(0, 4)
      .map(([k, y]) => k + " " + T.fmt(y)).join(", "), variant: x && x.ref, size: x && x.size_bytes, arena: x && x.arena_bytes,
    cost: x && x.int8_cost ? T.fmt(x.int8_cost.accuracy_delta_points) + " points" : null }))));
  const table = T.table("models", [{ key: "model", label: "version" }, { key: "aliases", label: "aliases" },
    { key: "metrics", label: "metrics", wrap: true }, { key: "variant", label: "variant" }, { key: "size", label: "bytes" },
    { key: "arena", label: "arena B" }, { key: "cost", label: "int8 cost (accuracy delta)" },
    { key: "variant", label: "fit", render: (v) => v ? E("button", { cls: "fit", "data-variant": v, onclick: () => showFit(v) }, "fit per profile") : "-" }], rows);
  const alias = F.alias || (F.alias = E("form", { id: "alias-form", cls: "controls", onsubmit: (e) => {
    e.preventDefault();
    const [name, version] = alias.querySelector("[name=ref]").value.split("@");
    T.post("/api/models/" + encodeURIComponent(name) + "/aliases", { alias: alias.querySelector("[name=alias]").value, version: version });
  } }, E("select", { name: "ref", id: "alias-ref" }, d.models.flatMap((m) => m.versions.map((v) => E("option", { value: v.ref }, v.ref)))),
  E("input", { name: "alias", id: "alias-name", value: "production", size: 12 }), E("button", { type: "submit", id: "alias-set" }, "Set alias")));
  return E("div", {}, E("h2", {}, "Model versions and variants"), table, E("h2", {}, "Promote (alias)"), alias,
    F.fit || (F.fit = E("div", { id: "fit" })), E("h2", {}, "Lineage"), lineageSvg(d.lineage));
};
async function showFit(v) {
  const box = document.getElementById("fit");
  box.replaceChildren(E("p", {}, "measuring ", v, " on every profile…"));
  const r = await fetch("/api/variants/" + encodeURIComponent(v) + "/fit");
  const out = await r.json();
  if (!r.ok) { box.replaceChildren(E("p", { cls: "error" }, out.error)); return; }
  box.replaceChildren(E("h2", {}, "Fit of ", v), T.table("fit-table", [{ key: "profile", label: "profile" },
    { key: "fits", label: "fits", render: (x) => T.pill(x ? "fits" : "nofit") }, { key: "flash_needed", label: "flash needed" },
    { key: "flash_available", label: "flash free" }, { key: "ram_needed", label: "RAM needed" }, { key: "ram_available", label: "RAM free" },
    { key: "latency_ms", label: "latency ms" }, { key: "problems", label: "problems", wrap: true }], out.fit));
}

T.renderers.drift = function (d) {
  const sel = E("select", { id: "drift-target", onchange: (e) => { location.search = "?target=" + encodeURIComponent(e.target.value); } },
    d.targets.map((t) => E("option", { value: t, selected: t === d.target ? "" : null }, t)));
  const top = E("div", { cls: "controls" }, "build ", sel,
    d.target ? E("a", { href: "/drift/report?target=" + encodeURIComponent(d.target), id: "report-link", target: "_blank" }, "HTML report") : null,
    d.thresholds ? E("span", {}, "thresholds: ", d.thresholds.method, " warn ", d.thresholds.warn, " alert ", d.thresholds.alert) : null);
  const cur = d.current;
  const devs = cur ? T.table("drift-devices", [{ key: "device", label: "device" },
    { key: "drift", label: "verdict", render: (v) => T.pill(v ? "drift" : "ok") }, { key: "windows", label: "windows" },
    { key: "max_psi", label: "max PSI" }, { key: "drifted_features", label: "drifted features" }], cur.devices) : null;
  const feats = cur ? T.table("drift-features", [{ key: "name", label: "feature" }, { key: "verdict", label: "verdict", render: T.pill },
    { key: "psi", label: "PSI" }, { key: "js", label: "JS" }, { key: "ks", label: "KS" }, { key: "devices_drifted", label: "devices drifted" }], cur.features) : null;
  const hist = d.histograms.map((h, i) => {
    const nb = h.baseline.reduce((a, b) => a + b, 0) || 1, nc = h.current.reduce((a, b) => a + b, 0) || 1;
    return chart("hist-" + i, h.feature + ": baseline vs current (share per bin)", { type: "bar", data: {
      labels: h.baseline.map((_, k) => T.fmt(h.edges[k])), datasets: [
        { label: "baseline", data: h.baseline.map((x) => x / nb), backgroundColor: "#8b96a6" },
        { label: "current", data: h.current.map((x) => x / nc), backgroundColor: "#e0663a" }] } });
  });
  const byDev = {};
  d.history.forEach((h) => { (byDev[h.scope_id] = byDev[h.scope_id] || []).push({ x: T.time(h.window_end || h.created), y: h.max_psi }); });
  const xs = [...new Set(d.history.map((h) => T.time(h.window_end || h.created)))];
  const hist_t = chart("drift-history", "worst feature PSI per device, per stored check (data time)", { type: "line", data: { labels: xs,
    datasets: Object.entries(byDev).map(([k, v], i) => ({ label: k, data: xs.map((x) => (v.find((p) => p.x === x) || {}).y ?? null),
      borderColor: COLORS[i % 8], backgroundColor: COLORS[i % 8] })) } });
  return E("div", {}, top, E("h2", {}, "Drift over data time"), E("div", { cls: "charts" }, hist_t),
    E("h2", {}, "Now (last window) per device"), devs || E("p", {}, "No telemetry yet."), E("h2", {}, "Per feature"), feats,
    E("h2", {}, "Baseline vs current"), E("div", { cls: "charts" }, hist));
};

T.renderers.telemetry = function (d) {
  const tot = d.timeline.buckets.reduce((a, b) => ({ inf: a.inf + b.inferences, err: a.err + b.errors }), { inf: 0, err: 0 });
  const cards = E("div", { cls: "cards", id: "telemetry-totals" }, [["windows", d.totals.windows], ["inferences", tot.inf],
    ["errors", tot.err], ["rejected", d.totals.rejects]].map(([k, v]) => E("div", { cls: "card" }, E("span", {}, k), E("b", { "data-total": k }, v))));
  const rej = T.table("rejects", [{ key: "received", label: "received", render: T.time }, { key: "device", label: "device" },
    { key: "topic", label: "topic" }, { key: "reason", label: "reason", wrap: true }, { key: "size", label: "bytes" }], d.rejects);
  return E("div", {}, E("h2", {}, "Telemetry", d.device ? " of " + d.device : ""), cards, telemetryCharts(d.timeline, "tel"),
    E("h2", {}, "Latest rejected messages"), rej);
};

// Rapport's dashboard: a thin client of the /v1 API. It keeps the API key
// in sessionStorage (this tab only) and writes every value from the API
// into the page as text, never as markup.
"use strict";

const $ = (sel) => document.querySelector(sel);
let key = sessionStorage.getItem("rapport-key") || "";

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path) {
  const resp = await fetch(path, { method, headers: { Authorization: "Bearer " + key } });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* an empty body */ }
  if (!resp.ok) throw new APIError(resp.status, body);
  return body;
}

// el builds an element with attributes and children (strings become text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const fmt = {
  time: (t) => (t ? new Date(t).toLocaleString() : "—"),
  num: (v, d = 4) => (typeof v === "number" ? v.toFixed(d) : "—"),
  pct: (v) => (typeof v === "number" ? (100 * v).toFixed(2) + "%" : "—"),
};

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---- login ----

async function login(candidate) {
  key = candidate;
  try {
    await api("GET", "/v1/models");
  } catch (err) {
    key = "";
    sessionStorage.removeItem("rapport-key");
    const why = err.status === 401 ? "that key is not valid (or was revoked)"
      : err.status === 403 ? "that key's role cannot use the dashboard: it needs data or admin"
      : err.message;
    $("#login-error").textContent = "Cannot log in: " + why + ".";
    $("#key").value = "";
    $("#key").focus();
    return;
  }
  sessionStorage.setItem("rapport-key", key);
  $("#login-error").textContent = "";
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  $("#logout").hidden = false;
  show("models");
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  login($("#key").value.trim());
});

$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem("rapport-key");
  location.reload();
});

// ---- tabs ----

const loaders = {};

function show(tab) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== tab;
  if (loaders[tab]) loaders[tab]().catch(report);
}

for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.tab));

function report(err) {
  const box = el("p", { class: "error", role: "alert" }, err.message);
  document.querySelector("section.tab:not([hidden])")?.prepend(box);
  setTimeout(() => box.remove(), 8000);
}

// ---- models ----

loaders.models = async () => {
  const list = await api("GET", "/v1/models");
  fill($("#models-table tbody"), list.versions.map((v) => {
    const row = el("tr", { class: "clickable", "data-version": v.id },
      el("td", {}, v.id === list.serving ? "★" : ""), el("td", {}, v.id), el("td", {}, fmt.time(v.created_at)),
      el("td", {}, v.status), el("td", {}, fmt.num(v.metrics && v.metrics["discover_ndcg@10"])),
      el("td", {}, fmt.num(v.metrics && v.metrics["reorder_ndcg@10"])), el("td", {}, v.identities ?? "—"),
      el("td", {}, fmt.num(v.train_seconds, 1)), el("td", {}, v.reason || ""));
    row.addEventListener("click", () => showModel(v, list.serving, row));
    return row;
  }));
  if (list.versions.length === 0) fill($("#models-table tbody"), [el("tr", {}, el("td", { colspan: 9 }, "No model yet: run the train job."))]);
};

function showModel(v, serving, row) {
  for (const r of document.querySelectorAll("#models-table tr.selected")) r.classList.remove("selected");
  row.classList.add("selected");
  const metrics = Object.entries(v.metrics || {}).sort();
  const hyper = Object.entries(v.hyperparameters || {}).sort();
  const promote = el("button", { id: "promote" }, v.id === serving ? "Serving" : "Promote to serving");
  promote.disabled = v.id === serving;
  promote.addEventListener("click", async () => {
    promote.disabled = true;
    try {
      await api("POST", `/v1/models/${encodeURIComponent(v.id)}/promote`);
      await loaders.models();
    } catch (err) { report(err); promote.disabled = false; }
  });
  const box = $("#model-detail");
  box.replaceChildren(
    el("h3", {}, `Version ${v.id}`),
    el("p", { class: "muted" }, `Held out: ${v.holdout || "—"}; data up to ${fmt.time(v.data_watermark)}; ${v.events ?? "?"} events, ${v.identities ?? "?"} people, ${v.items ?? "?"} items.`),
    el("div", { class: "grid" },
      el("div", {}, el("h3", {}, "Offline metrics"), el("table", { id: "model-metrics" }, el("tbody", {}, metrics.map(([k, val]) => el("tr", {}, el("td", {}, k), el("td", {}, fmt.num(val))))))),
      el("div", {}, el("h3", {}, "Hyperparameters"), el("table", {}, el("tbody", {}, hyper.map(([k, val]) => el("tr", {}, el("td", {}, k), el("td", {}, String(val)))))))),
    el("p", {}, promote));
  box.hidden = false;
}

// ---- jobs ----

loaders.jobs = async () => {
  const { jobs, replica, leader } = await api("GET", "/v1/jobs?runs=5");
  const who = replica ? el("p", { class: "muted", id: "jobs-replica" },
    `Answered by replica ${replica}, which ${leader ? "leads and runs the schedule" : "stands by; another replica runs the schedule"}.`) : null;
  $("#jobs-list").replaceChildren(...[who].filter(Boolean), ...jobs.map((j) => {
    const run = el("button", { "data-job": j.name }, j.running ? "Running…" : "Run now");
    run.disabled = j.running;
    run.addEventListener("click", async () => {
      run.disabled = true;
      run.textContent = "Running…";
      try {
        await api("POST", `/v1/jobs/${encodeURIComponent(j.name)}/runs`);
        await waitForJob(j.name);
      } catch (err) { report(err); }
      await loaders.jobs();
    });
    return el("div", { class: "job", id: "job-" + j.name },
      el("h3", {}, j.name, el("span", {}, `schedule ${j.schedule}; next ${fmt.time(j.next_run)}`), run),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "run"), el("th", {}, "trigger"), el("th", {}, "started"), el("th", {}, "took"), el("th", {}, "status"), el("th", {}, "counts"), el("th", {}, "error"))),
        el("tbody", {}, (j.recent_runs || []).map((r) => el("tr", { class: "run" },
          el("td", {}, r.id), el("td", {}, r.trigger), el("td", {}, fmt.time(r.started_at)),
          el("td", {}, r.ended_at ? ((new Date(r.ended_at) - new Date(r.started_at)) / 1000).toFixed(1) + " s" : "—"),
          el("td", { class: r.status === "succeeded" ? "ok status" : r.status === "running" ? "status" : "bad status" }, r.status),
          el("td", {}, Object.entries(r.counts || {}).map(([k, n]) => `${k} ${n}`).join(", ")), el("td", {}, r.error || ""))))));
  }));
};

async function waitForJob(name) {
  for (let i = 0; i < 600; i++) {
    const { jobs } = await api("GET", "/v1/jobs?runs=1");
    const j = jobs.find((x) => x.name === name);
    if (j && !j.running) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---- experiments ----

loaders.experiments = async () => {
  const { experiments } = await api("GET", "/v1/experiments");
  fill($("#experiments-table tbody"), experiments.map((e) => {
    const row = el("tr", { class: "clickable", "data-experiment": e.name },
      el("td", {}, e.name), el("td", {}, e.placement || "all"), el("td", {}, fmt.time(e.start)), el("td", {}, e.stop ? fmt.time(e.stop) : "—"), el("td", {}, e.active ? "yes" : "no"));
    row.addEventListener("click", () => showExperiment(e.name, row).catch(report));
    return row;
  }));
  if (experiments.length === 0) fill($("#experiments-table tbody"), [el("tr", {}, el("td", { colspan: 5 }, "No experiments: PUT /v1/experiments/{name} starts one."))]);
};

async function showExperiment(name, row) {
  for (const r of document.querySelectorAll("#experiments-table tr.selected")) r.classList.remove("selected");
  row.classList.add("selected");
  const rep = await api("GET", `/v1/experiments/${encodeURIComponent(name)}`);
  const ci = (r) => `${fmt.pct(r.value)} [${fmt.pct(r.low)}, ${fmt.pct(r.high)}]`;
  const diff = (d) => (d ? `${d.value >= 0 ? "+" : ""}${(100 * d.value).toFixed(2)} pts [${(100 * d.low).toFixed(2)}, ${(100 * d.high).toFixed(2)}]` : "control");
  $("#experiment-detail").replaceChildren(
    el("h3", {}, `${rep.name} — ${rep.active ? "running" : "not running"}`),
    el("table", { id: "experiment-variants" },
      el("thead", {}, el("tr", {}, ["variant", "arm", "share", "impressions", "clicks", "click-through (95% CI)", "difference", "conversions", "conversion (95% CI)", "difference"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rep.variants.map((v) => el("tr", {},
        el("td", {}, v.name), el("td", {}, v.model || (v.blend ? "blend " + JSON.stringify(v.blend) : "serving model")), el("td", {}, fmt.pct(v.share)),
        el("td", {}, v.impressions), el("td", {}, v.clicks), el("td", {}, ci(v.click_through)), el("td", {}, diff(v.click_through_difference)),
        el("td", {}, v.conversions), el("td", {}, ci(v.conversion)), el("td", {}, diff(v.conversion_difference)))))),
    el("div", { class: "chart" }, rateChart("Conversion rate by variant, 95% interval", rep.variants, (v) => v.conversion),
      rateChart("Click-through rate by variant, 95% interval", rep.variants, (v) => v.click_through)),
    el("p", { class: "muted" }, rep.note));
  $("#experiment-detail").hidden = false;
}

// rateChart draws each variant's rate as a bar with its interval as a
// whisker, in SVG.
function rateChart(title, variants, rate) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 520, H = 220, left = 60, bottom = 30, top = 28;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  const maxV = Math.max(0.01, ...variants.map((v) => rate(v).high || 0)) * 1.1;
  const y = (v) => top + (H - top - bottom) * (1 - v / maxV);
  add("text", { x: left, y: 16, "font-size": 13, "font-weight": "bold" }, title);
  for (let i = 0; i <= 4; i++) {
    const v = (maxV * i) / 4;
    add("line", { x1: left, x2: W - 10, y1: y(v), y2: y(v), stroke: "#e3e6ec" });
    add("text", { x: left - 6, y: y(v) + 4, "font-size": 11, "text-anchor": "end" }, (100 * v).toFixed(1) + "%");
  }
  const slot = (W - left - 10) / Math.max(1, variants.length);
  variants.forEach((v, i) => {
    const r = rate(v), x = left + slot * i + slot * 0.25, w = slot * 0.5;
    add("rect", { x, y: y(r.value), width: w, height: Math.max(0, y(0) - y(r.value)), fill: i === 0 ? "#8796b8" : "#2f5bd3" });
    const cx = x + w / 2;
    add("line", { x1: cx, x2: cx, y1: y(r.low), y2: y(r.high), stroke: "#1d2330", "stroke-width": 2 });
    add("line", { x1: cx - 8, x2: cx + 8, y1: y(r.low), y2: y(r.low), stroke: "#1d2330", "stroke-width": 2 });
    add("line", { x1: cx - 8, x2: cx + 8, y1: y(r.high), y2: y(r.high), stroke: "#1d2330", "stroke-width": 2 });
    add("text", { x: cx, y: H - 10, "font-size": 12, "text-anchor": "middle" }, v.name);
  });
  return svg;
}

// ---- identity lookup ----

$("#identity-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  lookup($("#alias").value.trim()).catch((err) => {
    $("#identity-result").hidden = true;
    $("#identity-error").textContent = err.status === 404 ? "No person has that alias." : err.message;
  });
});

async function lookup(alias) {
  $("#identity-error").textContent = "";
  const a = encodeURIComponent(alias);
  const who = await api("GET", `/v1/identities/${a}`);
  const [events, recs] = await Promise.all([
    api("GET", `/v1/identities/${a}/events?limit=20`),
    api("GET", `/v1/identities/${a}/recommendations?n=10&preview=true`).catch((err) => ({ error: err })),
  ]);
  const id = who.identity || {};
  $("#identity-summary").replaceChildren(
    el("dt", {}, "stage"), el("dd", { id: "identity-stage" }, id.stage || "—"),
    el("dt", {}, "region"), el("dd", {}, id.region || "—"),
    el("dt", {}, "aliases"), el("dd", {}, (id.aliases || []).join(", ")),
    el("dt", {}, "held"), el("dd", {}, Object.entries(who.counts || {}).map(([k, n]) => `${k} ${n}`).join(", ")));
  fill($("#identity-consents tbody"), (who.consents || []).map((c) => el("tr", {},
    el("td", {}, c.purpose), el("td", { class: c.granted ? "ok" : "bad" }, c.granted ? "granted" : "not granted"),
    el("td", {}, c.default ? "regional default" : `${c.source || ""} ${fmt.time(c.time)}`))));
  fill($("#identity-events tbody"), (events.events || []).map((e) => el("tr", {},
    el("td", {}, fmt.time(e.timestamp || e.time)), el("td", {}, e.type), el("td", {}, e.item || e.target || ""), el("td", {}, e.quantity ?? ""), el("td", {}, e.source || ""))));
  const list = $("#identity-recs");
  if (recs.error) {
    $("#rec-meta").textContent = "No recommendations: " + recs.error.message;
    list.replaceChildren();
  } else {
    let ex = null;
    try { ex = await api("GET", `/v1/identities/${a}/recommendations/${encodeURIComponent(recs.recommendation_id)}/explain`); } catch (_) { /* listed without the breakdown */ }
    const parts = {};
    for (const it of (ex && ex.items) || []) parts[it.item] = it.parts;
    $("#rec-meta").textContent = `Model ${recs.model_version}, rule "${recs.step}"${recs.experiment ? `, experiment ${recs.experiment} variant ${recs.variant}` : ""}.`;
    list.replaceChildren(...recs.items.map((it) => el("li", { class: "rec" },
      el("strong", {}, it.item), ` score ${fmt.num(it.score, 3)}`,
      el("div", { class: "reasons" }, (it.reasons || []).join(" · ")),
      parts[it.item] ? el("div", { class: "reasons" }, "parts: " + Object.entries(parts[it.item]).filter(([, v]) => v).map(([k, v]) => `${k} ${fmt.num(v, 3)}`).join(", ")) : null)));
  }
  $("#identity-result").hidden = false;
}

// ---- start ----

if (key) login(key);

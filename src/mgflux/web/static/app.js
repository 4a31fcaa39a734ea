// The mgflux page: build a patient from the catalogue, see the steady state live, run time courses on request.
// Everything it shows comes from the JSON API (/api/...), which answers with the command line's --json.
"use strict";

const MG_DL_PER_MM = 2.4305, MG_PER_MMOL = 24.305, CA_MG_DL_PER_MM = 4.008;
const COLORS = {healthy: "#8c8c8c", A: "#1f5fa8", B: "#d9731a"};
const $ = id => document.getElementById(id);

const state = {
  catalogue: null, byName: {}, features: {}, active: "A", compare: false, kind: "",
  patients: {A: newPatient("Patient A"), B: newPatient("Patient B")},
  results: {A: {}, B: {}},
  timings: [],  // steady-state round trips (ms), for the status line and the browser test
};
window.mgflux = state;

function newPatient(label) {
  return {label, age: "", sex: "", weight: "", gfr: "", height: "", creat: "", diet: "300 mg/day", items: [], duration: "365",
          sample_every: "1 day", extra: {scenario: {}, patient: {}, sections: {}}};
}

// ------------------------------------------------------------------------------------------ quantities

// a plain number gets the default unit; anything else (e.g. "2 week", "12 mmol/day") is sent as written
function qty(v, unit) {
  v = String(v ?? "").trim();
  if (v === "") return null;
  return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v) ? `${v} ${unit}` : v;
}
// "30 day" -> "30" for a field whose unit is day; other units stay as written
function unqty(v, unit) {
  if (v === undefined || v === null) return "";
  const s = String(v).trim(), m = s.match(/^([-+]?[\d.eE+-]+)\s*(.*)$/);
  return m && m[2] === unit ? m[1] : s;
}
const fmt = (v, d = 3) => (v === null || v === undefined || !isFinite(v)) ? "-" : Number(v).toFixed(d);

// ------------------------------------------------------------------------- the scenario (as in TOML)

function toScenario(p) {
  const extra = p.extra || {scenario: {}, patient: {}, sections: {}};
  const raw = {scenario: {name: p.label || "patient", ...extra.scenario, duration: qty(p.duration, "day") || "365 day",
                          sample_every: p.sample_every || "1 day"}};
  const patient = {...extra.patient};  // keys of a loaded file the form has no field for are sent back as they were
  if (qty(p.age, "year")) patient.age = qty(p.age, "year");
  if (p.sex) patient.sex = p.sex;
  if (qty(p.weight, "kg")) patient.weight = qty(p.weight, "kg");
  if (qty(p.gfr, "mL/min")) patient.gfr = qty(p.gfr, "mL/min");
  if (qty(p.height, "cm")) patient.height = qty(p.height, "cm");
  if (qty(p.creat, "mg/dL")) patient.serum_creatinine = qty(p.creat, "mg/dL");
  if (Object.keys(patient).length) raw.patient = patient;  // sent only when set
  if (qty(p.diet, "mg/day")) raw.diet = {mg_intake: qty(p.diet, "mg/day")};
  const pert = [], treat = [];
  for (const it of p.items) {
    const e = state.byName[it.name] || {kind: it.kind};
    const o = {name: it.name};
    if (e.kind === "gene") {
      if (it.genotype === "activity") o.activity = Number(it.activity); else o.genotype = it.genotype;
      pert.push(o);
      continue;
    }
    if (e.kind === "treatment") {
      if (e.route === "iv") {
        if (it.mode === "rate") o.rate = qty(it.rate, "mmol/day");
        else { o.amount = qty(it.amount, "mmol"); o.duration = qty(it.duration, "hour"); }
      } else o.amount = qty(it.amount, e.amount_unit || "mg/day");
    } else {
      const d = String(it.dose).trim();
      o.dose = /^[-+]?[\d.]+(e[-+]?\d+)?$/i.test(d) ? Number(d) : d;
    }
    if (qty(it.start, "day")) o.start = qty(it.start, "day");
    if (qty(it.stop, "day") && !(e.route === "iv" && it.mode !== "rate")) o.stop = qty(it.stop, "day");
    (e.kind === "treatment" ? treat : pert).push(o);
  }
  if (pert.length) raw.perturbation = pert;
  if (treat.length) raw.treatment = treat;
  return {...extra.sections, ...raw};
}

function fromScenario(raw, fallbackLabel) {
  const p = newPatient(fallbackLabel);
  const s = raw.scenario || {};
  p.label = s.name || fallbackLabel;
  p.duration = unqty(s.duration || "365 day", "day");
  p.sample_every = s.sample_every || "1 day";
  const pt = raw.patient || {};
  p.age = unqty(pt.age, "year"); p.sex = pt.sex || ""; p.weight = unqty(pt.weight, "kg"); p.gfr = unqty(pt.gfr, "mL/min");
  p.height = unqty(pt.height, "cm"); p.creat = unqty(pt.serum_creatinine, "mg/dL");
  const rest = (o, keys) => Object.fromEntries(Object.entries(o || {}).filter(([k]) => !keys.includes(k)));
  p.extra = {scenario: rest(s, ["name", "duration", "sample_every"]),
             patient: rest(pt, ["age", "sex", "weight", "gfr", "height", "serum_creatinine"]),
             sections: rest(raw, ["scenario", "patient", "diet", "perturbation", "treatment"])};
  p.diet = raw.diet && raw.diet.mg_intake ? raw.diet.mg_intake : "300 mg/day";
  for (const o of [...(raw.perturbation || []), ...(raw.treatment || [])]) {
    const e = lookup(o.name);
    const it = newItem(e);
    it.name = o.name;
    if (e.kind === "gene") {
      if (o.activity !== undefined) { it.genotype = "activity"; it.activity = o.activity; }
      else it.genotype = o.genotype || "homozygous";
    } else if (e.kind === "treatment") {
      if (e.route === "iv") {
        if (o.rate !== undefined) { it.mode = "rate"; it.rate = unqty(o.rate, "mmol/day"); }
        else { it.mode = "amount"; it.amount = unqty(o.amount, "mmol"); it.duration = unqty(o.duration, "hour"); }
      } else it.amount = unqty(o.amount, e.amount_unit || "mg/day");
    } else it.dose = o.dose !== undefined ? String(o.dose) : "1";
    it.start = unqty(o.start, "day"); it.stop = unqty(o.stop, "day");
    p.items.push(it);
  }
  return p;
}

function lookup(name) {
  const n = String(name);
  for (const c of [n, n.toLowerCase(), n.toUpperCase()]) if (state.byName[c]) return state.byName[c];
  return {name: n, kind: "drug"};
}

function newItem(e) {
  const it = {name: e.name, kind: e.kind, start: "", stop: ""};
  if (e.kind === "gene") { it.genotype = e.patient_genotype || "homozygous"; it.activity = e.heterozygous_activity ?? 0.5; }
  else if (e.kind === "treatment") {
    if (e.route === "iv") { it.mode = "rate"; it.rate = "20"; it.amount = "30"; it.duration = "8"; }
    else it.amount = e.amount_unit ? "20" : "400";
  } else it.dose = "1";
  return it;
}

// --------------------------------------------------------------------------------------------- API

async function api(path, body, opts = {}) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": opts.text ? "text/plain" : "application/json"},
                               body: opts.text ? body : JSON.stringify(body), signal: opts.signal});
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return opts.blob ? r.blob() : r.json();
}

function showError(msg) {
  const e = $("error");
  if (!msg) { e.hidden = true; e.textContent = ""; return; }
  e.hidden = false; e.textContent = msg;
}

function setStatus(s) { $("status").textContent = s; }

// ------------------------------------------------------------------------------------ steady (live)

const pending = {A: null, B: null};
const debounce = {A: null, B: null};

// sliders and fields recompute the steady state live, 120 ms after the last change
function scheduleSteady(k) {
  clearTimeout(debounce[k]);
  debounce[k] = setTimeout(() => computeSteady(k), 120);
  markStale();
}

async function computeSteady(k) {
  if (pending[k]) pending[k].abort();
  const ctl = new AbortController();
  pending[k] = ctl;
  const raw = toScenario(state.patients[k]);
  const t0 = performance.now();
  try {
    const [steady, cmp] = await Promise.all([api("/api/steady", raw, {signal: ctl.signal}),
                                             api("/api/compare", raw, {signal: ctl.signal})]);
    const ms = performance.now() - t0;
    state.timings.push(ms);
    state.results[k].steady = steady; state.results[k].compare = cmp; state.results[k].error = null;
    $("steady-timing").textContent = `recomputed in ${ms.toFixed(0)} ms`;
    showError(null);
  } catch (e) {
    if (e.name === "AbortError") return;
    state.results[k].error = e.message;
    showError(`${state.patients[k].label}: ${e.message}`);
  } finally {
    if (pending[k] === ctl) pending[k] = null;
  }
  renderResults();
}

// ------------------------------------------------------------------------------------- time courses

let runCtl = null;

async function runCourse() {
  if (runCtl) { runCtl.abort(); return; }  // the button cancels a run in progress
  const keys = state.compare ? ["A", "B"] : [state.active];
  runCtl = new AbortController();
  const btn = $("run-btn"), prog = $("run-progress"), t0 = performance.now();
  btn.textContent = "Cancel"; prog.hidden = false;
  const timer = setInterval(() => { $("run-elapsed").textContent = `${((performance.now() - t0) / 1000).toFixed(1)} s`; }, 100);
  try {
    for (const k of keys) {
      setStatus(`running the time course of ${state.patients[k].label} ...`);
      const raw = toScenario(state.patients[k]);
      state.results[k].run = await api("/api/run", raw, {signal: runCtl.signal});
      state.results[k].runScenario = JSON.stringify(raw);
    }
    const s = (performance.now() - t0) / 1000;
    setStatus(`time course done in ${s.toFixed(2)} s`);
    state.runInfo = `computed in ${s.toFixed(2)} s`;
    $("run-info").textContent = state.runInfo;
    $("run-info").dataset.state = "done";
    showError(null);
  } catch (e) {
    if (e.name === "AbortError") setStatus("time course cancelled");
    else { showError(e.message); setStatus("time course failed"); }
  } finally {
    clearInterval(timer);
    runCtl = null; btn.textContent = "Run time course"; prog.hidden = true;
  }
  renderCharts();
}

function markStale() {
  const keys = state.compare ? ["A", "B"] : [state.active];
  const stale = keys.some(k => state.results[k].run && state.results[k].runScenario !== JSON.stringify(toScenario(state.patients[k])));
  if (stale) { $("run-info").textContent = "the patient changed since this run: run again to update"; $("run-info").dataset.state = "stale"; }
  else if (keys.some(k => state.results[k].run)) { $("run-info").textContent = state.runInfo || ""; $("run-info").dataset.state = "done"; }
}

// ------------------------------------------------------------------------------------------ rendering

function gradeBadge(g, hyper) {
  if (hyper === "above") return `<span class="grade g2">above the upper limit (1.05 mM)</span>`;
  if (hyper) return `<span class="grade g${Math.min(4, hyper + 1)}">hypermagnesaemia grade ${hyper}</span>`;
  return `<span class="grade g${g}">${g ? "hypomagnesaemia grade " + g : "no hypomagnesaemia"}</span>`;
}

function tile(label, main, sub, cls, attrs) {
  return `<div class="tile ${cls || ""}" ${attrs || ""}><div class="tile-label">${label}</div><div class="tile-main">${main}</div><div class="tile-sub">${sub || ""}</div></div>`;
}

function tilesFor(k) {
  const r = state.results[k].steady;
  if (!r) return `<div class="tile-group"><h3>${esc(state.patients[k].label)}</h3><p class="hint">${esc(state.results[k].error || "computing ...")}</p></div>`;
  const s = r.serum_mg_total_mM, low = s < 0.7 || s > 1.05;
  const stale = state.results[k].error ? " stale" : "";
  let h = `<div class="tile-group${stale}" id="tiles-${k}"><h3 style="color:${COLORS[k]}">${esc(state.patients[k].label)}</h3>` +
    (stale ? `<p class="hint">the last valid answer: this patient has an error (above)</p>` : "") + `<div class="tile-row">`;
  h += tile("Serum total Mg", `${fmt(s, 2)} <small>mM</small>`, `${fmt(s * MG_DL_PER_MM, 2)} mg/dL<br>${gradeBadge(r.hypomagnesemia_grade, r.hypermagnesemia_grade ?? (s > 1.05 ? "above" : 0))}`,
            low ? "alarm big" : "ok big", `id="serum-${k}" data-value="${s}"`);
  h += tile("Ionised Mg", `${fmt(r.serum_mg_ionized_mM, 2)} <small>mM</small>`, `${fmt(r.serum_mg_ionized_mM * MG_DL_PER_MM, 2)} mg/dL`);
  h += tile("Urine Mg", `${fmt(r.urine_mg_mmol_per_day, 2)} <small>mmol/day</small>`, `${fmt(r.urine_mg_mmol_per_day * MG_PER_MMOL, 0)} mg/day`);
  h += tile("FEMg", `${fmt(r.femg_percent, 1)} <small>%</small>`, r.femg_percent > 4 && s < 0.7 ? "renal wasting (> 4 %)" : r.femg_percent < 2 ? "renal conservation (< 2 %)" : "");
  h += tile("Fractional absorption", `${fmt(r.fractional_absorption_percent, 0)} <small>%</small>`, `net ${fmt(r.absorbed_mmol_per_day, 2)} of ${fmt(r.intake_mmol_per_day, 1)} mmol/day`);
  h += tile("Body Mg", `${fmt(r.body_mg_mmol, 0)} <small>mmol</small>`, `bone ${fmt(r.bone_pool_mmol, 0)}, cells ${fmt(r.intracellular_pool_mmol, 0)}`);
  if (r.serum_ca_total_mM !== undefined) {
    const ca = r.serum_ca_total_mM;
    h += tile("Serum total Ca", `${fmt(ca, 2)} <small>mM</small>`, `${fmt(ca * CA_MG_DL_PER_MM, 1)} mg/dL` +
      (r.serum_ca_ionized_mM !== undefined ? ` &middot; ionised ${fmt(r.serum_ca_ionized_mM, 2)} mM` : ""), ca < 2.1 ? "alarm" : "");
  }
  if (r.pth_pg_per_mL !== undefined) h += tile("PTH", `${fmt(r.pth_pg_per_mL, 0)} <small>pg/mL</small>`, r.pth_pM !== undefined ? `${fmt(r.pth_pM, 1)} pM` : "");
  if (r.urine_ca_mmol_per_day !== undefined) h += tile("Urine Ca", `${fmt(r.urine_ca_mmol_per_day, 2)} <small>mmol/day</small>`,
    r.urine_ca_creatinine_ratio !== undefined ? `Ca/creatinine ${fmt(r.urine_ca_creatinine_ratio, 2)} mmol/mmol` : "");
  h += "</div></div>";
  return h;
}

function esc(s) { return String(s ?? "").replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }

function renderResults() {
  const keys = state.compare ? ["A", "B"] : [state.active];
  $("tiles").innerHTML = keys.map(tilesFor).join("");
  $("tiles").classList.toggle("side-by-side", state.compare);
  const notes = keys.flatMap(k => (state.results[k].steady?.notes || []).map(n => `${state.patients[k].label}: ${n}`));
  $("notes").innerHTML = notes.map(n => `<p class="note">${esc(n)}</p>`).join("");
  const who = `for ${state.patients[state.active].label}`;
  $("dose-for").textContent = who; $("lt-for").textContent = who;
  renderClinical(keys);
  renderWaterfall(keys);
  renderCharts();
}

function renderClinical(keys) {
  const readings = keys.map(k => [k, state.results[k].steady?.clinical_reading]).filter(([, c]) => c);
  $("clinical-panel").hidden = !readings.length;
  const src = x => (x.evidence ? ` <span class="evidence">${esc(x.evidence)}</span>` : "") +
    (x.source ? `<div class="source">${esc(x.source)}</div>` : "");
  const list = (xs, f) => xs && xs.length ? `<ul>${xs.map(x => `<li>${typeof x === "string" ? esc(x) : f(x)}</li>`).join("")}</ul>` : "";
  $("clinical").classList.toggle("side-by-side", readings.length > 1);
  $("clinical").innerHTML = readings.map(([k, c]) => {
    let h = `<div class="reading" id="reading-${k}">`;
    if (readings.length > 1) h += `<h3 style="color:${COLORS[k]}">${esc(state.patients[k].label)}</h3>`;
    const g = c.hypomagnesemia_grade || 0;
    h += `<p class="reading-grade"><span class="grade g${g}">${esc(c.grade || (g ? "hypomagnesaemia grade " + g : "no hypomagnesaemia"))}</span>` +
      (c.grade_source ? ` <span class="source">${esc(c.grade_source)}</span>` : "") + "</p>";
    if (c.expected_symptoms && c.expected_symptoms.length)
      h += `<h4>What the sources report at this level</h4>` + list(c.expected_symptoms, x => `${esc(x.symptom)}` +
        (x.level ? ` <span class="level">(${esc(x.level)})</span>` : "") + src(x));
    if (c.associated_disturbances && c.associated_disturbances.length)
      h += `<h4>Associated disturbances</h4>` + list(c.associated_disturbances, x => `${esc(x.disturbance || x.name)}` +
        (x.note ? ` <span class="level">(${esc(x.note)})</span>` : "") + src(x));
    if (c.notes && c.notes.length) h += list(c.notes, x => `${esc(x.note)}` + src(x));
    if (c.associations && c.associations.length)
      h += `<details><summary>Associations reported in the literature (${c.associations.length})</summary>` +
        list(c.associations, x => `${esc(x.association)}` + src(x)) + "</details>";
    if (c.caveat) h += `<p class="caveat">${esc(c.caveat)}</p>`;
    return h + "</div>";
  }).join("");
}

function segValues(rows, col) {
  const get = q => (rows.find(r => r.quantity === q) || {})[col];
  return {filtered: get("filtered load"), pt: get("PT reabsorbed"), tal: get("TAL reabsorbed"), dct: get("DCT reabsorbed"), urine: get("urine")};
}

function renderWaterfall(keys) {
  const have = keys.filter(k => state.results[k].compare);
  if (!have.length) return;
  const first = state.results[have[0]].compare;
  const groups = [{label: "healthy adult", color: COLORS.healthy, values: segValues(first.rows, "healthy")}];
  for (const k of have) groups.push({label: state.patients[k].label, color: COLORS[k], values: segValues(state.results[k].compare.rows, "scenario")});
  Charts.waterfall($("waterfall"), groups);
  $("findings").innerHTML = have.map(k => state.results[k].compare.findings.map(f => `<li>` +
    (have.length > 1 ? `<b class="tag" style="background:${COLORS[k]}" title="${esc(state.patients[k].label)}">${k}</b> ` : "") +
    `${esc(f)}</li>`).join("")).join("");
}

function renderCharts() {
  const keys = (state.compare ? ["A", "B"] : [state.active]).filter(k => state.results[k].run);
  const ids = ["chart-serum", "chart-urine", "chart-femg", "chart-ca", "chart-pth"];
  if (!keys.length) {
    ids.forEach(id => { $(id).innerHTML = ""; });
    $("run-summary").innerHTML = "";
    $("chart-serum").innerHTML = '<p class="hint placeholder">No time course yet.</p>';
    $("run-info").textContent = 'press "Run time course"'; $("run-info").dataset.state = "";
    return;
  }
  markStale();
  $("run-summary").innerHTML = keys.map(k => courseSummary(k)).join("");
  const series = (name, f) => keys.filter(k => state.results[k].run.timecourse[name]).map(k => {
    const tc = state.results[k].run.timecourse;
    return {label: state.patients[k].label, color: COLORS[k], x: tc.time_day, y: f ? tc[name].map(f) : tc[name]};
  });
  Charts.line($("chart-serum"), {
    title: "Serum total Mg (left: mM; right: mg/dL)", yLabel: "mM", unit: "mM", y2: {factor: MG_DL_PER_MM, label: "mg/dL", unit: "mg/dL"},
    series: series("serum_mg_total_mM"), yMin: 0.6, yMax: 0.9, height: 270,
    bands: [{y0: 0.7, y1: 1.05, color: "#eaf5ea"}, {y0: 0.5, y1: 0.7, color: "#fff4d6"}, {y0: 0.4, y1: 0.5, color: "#ffe2c4"},
            {y0: 0.3, y1: 0.4, color: "#ffd0c9"}, {y0: -1, y1: 0.3, color: "#f7b5b5"}, {y0: 1.05, y1: 9, color: "#e8eefb"}],
    hlines: [{y: 0.7, label: "0.7 mM (1.7 mg/dL): grade 1 below", color: "#b3261e"}, {y: 0.5, label: "grade 2", color: "#c0611a"},
             {y: 0.4, label: "grade 3", color: "#c0611a"}, {y: 0.3, label: "grade 4", color: "#b3261e"},
             {y: 1.05, label: "1.05 mM (2.55 mg/dL): upper limit", color: "#1f5fa8"}]
      .filter((h, i) => {
        const ys = series("serum_mg_total_mM").flatMap(s => s.y);
        return i === 0 || (h.y < 1 ? Math.min(...ys) < h.y + 0.1 : Math.max(...ys) > h.y - 0.1);
      }),
  });
  Charts.line($("chart-urine"), {title: "Urine Mg (left: mmol/day; right: mg/day)", yLabel: "mmol/day", unit: "mmol/day",
    y2: {factor: MG_PER_MMOL, label: "mg/day", unit: "mg/day"}, series: series("urine_mg_mmol_per_day"), floor0: true});
  Charts.line($("chart-femg"), {title: "FEMg (%)", yLabel: "%", unit: "%", series: series("femg_percent"), floor0: true,
    hlines: [{y: 4, label: "4 %: renal wasting above (if serum low)", color: "#7a5"}]});
  const ca = series("serum_ca_total_mM"), pth = series("pth_pg_per_mL");
  if (ca.length) Charts.line($("chart-ca"), {title: "Serum total Ca (left: mM; right: mg/dL)", yLabel: "mM", unit: "mM",
    y2: {factor: CA_MG_DL_PER_MM, label: "mg/dL", unit: "mg/dL"}, series: ca, hlines: [{y: 2.1, label: "2.1 mM: hypocalcaemia below", color: "#b3261e"}]});
  else $("chart-ca").innerHTML = "";
  if (pth.length) Charts.line($("chart-pth"), {title: "PTH (pg/mL)", yLabel: "pg/mL", unit: "pg/mL", series: pth, floor0: true});
  else $("chart-pth").innerHTML = "";
}

// nadir, time below 0.7 mM and the worst grade of a course (the numbers `mgflux run` prints)
function courseSummary(k) {
  const tc = state.results[k].run.timecourse, t = tc.time_day, s = tc.serum_mg_total_mM;
  let iMin = 0;
  s.forEach((v, i) => { if (v < s[iMin]) iMin = i; });
  let below = 0, first = null;
  for (let i = 0; i + 1 < t.length; i++) {
    const a = s[i] - 0.7, b = s[i + 1] - 0.7, dt = t[i + 1] - t[i];
    if (a < 0 && b < 0) below += dt;
    else if ((a < 0) !== (b < 0)) below += dt * (a < 0 ? -a : -b) / Math.abs(b - a);
    if (first === null && (a < 0 || b < 0)) first = a < 0 ? t[i] : t[i] + dt * a / (a - b);
  }
  const worst = Math.max(...tc.hypomagnesemia_grade);
  const who = state.compare ? `<b class="tag" style="background:${COLORS[k]}">${k}</b> ` : "";
  return `<p>${who}lowest serum Mg <b>${fmt(s[iMin], 2)} mM (${fmt(s[iMin] * MG_DL_PER_MM, 2)} mg/dL)</b> on day ${fmt(t[iMin], 0)}; ` +
    (below > 0 ? `below 0.7 mM for <b>${fmt(below, 0)} days</b> from day ${fmt(first, 0)}, worst grade ${worst}` : "never below 0.7 mM") +
    `; at the end ${fmt(s[s.length - 1], 2)} mM.</p>`;
}

// ------------------------------------------------------------------------------------------ the form

function bindPatientForm() {
  const p = state.patients[state.active];
  $("p-name").value = p.label;
  $("p-age").value = p.age; $("p-sex").value = p.sex; $("p-weight").value = p.weight; $("p-gfr").value = p.gfr;
  $("p-height").value = p.height || ""; $("p-creat").value = p.creat || "";
  $("diet-text").value = p.diet;
  const m = String(p.diet).match(/^\s*([\d.]+)\s*mg\/day\s*$/);
  $("diet-slider").value = m ? m[1] : 300;
  $("diet-slider").disabled = !m;
  $("duration").value = p.duration; $("sample-every").value = p.sample_every;
  if (![...$("sample-every").options].some(o => o.value === p.sample_every)) {
    $("sample-every").add(new Option(p.sample_every, p.sample_every)); $("sample-every").value = p.sample_every;
  }
  renderItems();
  document.querySelectorAll(".tab").forEach(b => b.classList.toggle("active", b.dataset.patient === state.active));
  $("tab-A").textContent = state.patients.A.label; $("tab-B").textContent = state.patients.B.label;
}

function renderItems() {
  const p = state.patients[state.active];
  $("items-empty").hidden = p.items.length > 0;
  $("items").innerHTML = "";
  p.items.forEach((it, i) => $("items").appendChild(itemCard(it, i)));
}

function itemCard(it, i) {
  const e = lookup(it.name);
  const div = document.createElement("div");
  div.className = `item kind-${e.kind}`;
  div.dataset.name = e.name;
  let h = `<div class="item-head"><span class="badge ${e.kind}">${e.kind}</span><b>${esc(e.name)}</b>
    <span class="mech">${esc((e.mechanism || "").replace(/_/g, " "))}</span><button class="remove" title="remove">&times;</button></div>`;
  if (e.phenotype || e.description) h += `<div class="item-desc">${esc(e.phenotype || e.description)}</div>`;
  h += `<div class="item-controls">`;
  if (e.kind === "gene") {
    const [lo, hi] = e.activity_range || [0, 1];
    h += `<label>genotype <select class="genotype"><option value="homozygous">homozygous (activity ${e.homozygous_activity})</option>
      <option value="heterozygous">heterozygous (activity ${e.heterozygous_activity})</option><option value="activity">residual activity ...</option></select></label>
      <label class="act" ${it.genotype === "activity" ? "" : "hidden"}>activity <input class="activity" type="range" min="${lo}" max="${hi}" step="0.01" value="${it.activity}">
      <output>${it.activity}</output></label>`;
  } else if (e.kind === "treatment" && e.route === "iv") {
    h += `<label><select class="mode"><option value="rate">continuous infusion</option><option value="amount">one-off amount</option></select></label>
      <span class="rate-f" ${it.mode === "rate" ? "" : "hidden"}><input class="rate qty" type="text" value="${esc(it.rate)}"> mmol/day</span>
      <span class="amount-f" ${it.mode === "amount" ? "" : "hidden"}><input class="amount qty" type="text" value="${esc(it.amount)}"> mmol over
        <input class="duration qty" type="text" value="${esc(it.duration)}"> hour</span>`;
  } else if (e.kind === "treatment") {
    const unit = e.amount_unit || "mg/day", max = e.amount_unit ? 60 : 2000, step = e.amount_unit ? 1 : 25;
    const num = /^[\d.]+$/.test(String(it.amount).trim());
    h += `<label>amount <input class="amount-slider" type="range" min="0" max="${max}" step="${step}" value="${num ? it.amount : 0}" ${num ? "" : "disabled"}>
      <input class="amount qty" type="text" value="${esc(it.amount)}"> ${unit}${e.amount_unit ? "" : " elemental Mg"}</label>`;
  } else {
    const hi = e.dose_range && e.dose_range[1] ? Math.min(e.dose_range[1], 5) : 3;
    const num = /^[\d.]+$/.test(String(it.dose).trim());
    h += `<label>dose <input class="dose-slider" type="range" min="0" max="${hi}" step="0.05" value="${num ? it.dose : 1}" ${num ? "" : "disabled"}>
      <input class="dose qty" type="text" value="${esc(it.dose)}"></label>
      <span class="hint">1 = standard${e.standard_dose ? " (" + esc(e.standard_dose) + ")" : ""}; or a quantity such as "20 mg/day"</span>`;
  }
  if (e.kind !== "gene") {
    const oneOff = e.route === "iv" && it.mode === "amount";
    h += `<span class="window">from day <input class="start qty" type="text" value="${esc(it.start)}" placeholder="0">
      <span class="stop-f" ${oneOff ? "hidden" : ""}>to day <input class="stop qty" type="text" value="${esc(it.stop)}" placeholder="end"></span></span>`;
  } else h += `<span class="hint">lifelong (genes act from birth)</span>`;
  h += `</div><div class="item-source">source: ${esc(e.source || "")}</div>`;
  div.innerHTML = h;
  const q = sel => div.querySelector(sel);
  const changed = () => scheduleSteady(state.active);
  q(".remove").onclick = () => { state.patients[state.active].items.splice(i, 1); renderItems(); changed(); };
  if (q(".genotype")) {
    q(".genotype").value = it.genotype;
    q(".genotype").onchange = ev => { it.genotype = ev.target.value; q(".act").hidden = it.genotype !== "activity"; changed(); };
    q(".activity").oninput = ev => { it.activity = ev.target.value; q("output").textContent = ev.target.value; changed(); };
  }
  if (q(".mode")) {
    q(".mode").value = it.mode;
    q(".mode").onchange = ev => { it.mode = ev.target.value; renderItems(); changed(); };
  }
  for (const f of ["rate", "amount", "duration", "dose", "start", "stop"]) {
    const inp = q("input." + f);
    if (inp) inp.oninput = ev => {
      it[f] = ev.target.value;
      const sl = q(`.${f}-slider`);
      if (sl) { const num = /^[\d.]+$/.test(ev.target.value.trim()); sl.disabled = !num; if (num) sl.value = ev.target.value; }
      changed();
    };
  }
  for (const f of ["amount", "dose"]) {
    const sl = q(`.${f}-slider`);
    if (sl) sl.oninput = ev => { it[f] = ev.target.value; q("input." + f).value = ev.target.value; changed(); };
  }
  return div;
}

function renderSearch() {
  const term = $("search").value.trim().toLowerCase();
  const ul = $("search-results");
  ul.innerHTML = "";
  if (!state.catalogue) return;
  if (!term && !state.kind) { ul.hidden = true; return; }
  ul.hidden = false;
  const hits = state.catalogue.entries.filter(e => (!state.kind || e.kind === state.kind) && (!term ||
    [e.name, ...e.aliases, e.mechanism, e.phenotype, e.description].some(s => String(s || "").toLowerCase().includes(term))));
  hits.sort((a, b) => (b.name.toLowerCase().startsWith(term) - a.name.toLowerCase().startsWith(term)) || a.name.localeCompare(b.name));
  for (const e of hits.slice(0, 40)) {
    const li = document.createElement("li");
    li.dataset.name = e.name;
    li.className = "result";
    li.innerHTML = `<span class="badge ${e.kind}">${e.kind}</span> <b>${esc(e.name)}</b>` +
      (e.aliases.length ? ` <span class="aliases">${esc(e.aliases.slice(0, 4).join(", "))}</span>` : "") +
      `<div class="result-desc">${esc(e.mechanism.replace(/_/g, " "))}: ${esc(e.phenotype || e.description)}</div>`;
    li.onclick = () => addItem(e);
    ul.appendChild(li);
  }
  if (!hits.length) ul.innerHTML = `<li class="hint">nothing in the catalogue matches "${esc(term)}"</li>`;
}

function addItem(e) {
  state.patients[state.active].items.push(newItem(e));
  $("search").value = ""; renderSearch(); renderItems();
  scheduleSteady(state.active);
}

function bindStaticControls() {
  const p = () => state.patients[state.active];
  const on = (id, f, ev = "input") => $(id).addEventListener(ev, e => { f(e.target.value); scheduleSteady(state.active); });
  on("p-name", v => { p().label = v; $("tab-" + state.active).textContent = v || "patient"; });
  on("p-age", v => { p().age = v; });
  on("p-sex", v => { p().sex = v; }, "change");
  on("p-weight", v => { p().weight = v; });
  on("p-gfr", v => { p().gfr = v; });
  on("p-height", v => { p().height = v; });
  on("p-creat", v => { p().creat = v; });
  on("diet-slider", v => { p().diet = `${v} mg/day`; $("diet-text").value = p().diet; });
  on("diet-text", v => {
    p().diet = v;
    const m = v.match(/^\s*([\d.]+)\s*(mg\/day)?\s*$/);
    $("diet-slider").disabled = !m; if (m) $("diet-slider").value = m[1];
  });
  $("duration").addEventListener("input", e => { p().duration = e.target.value; markStale(); });
  $("sample-every").addEventListener("change", e => { p().sample_every = e.target.value; markStale(); });
  $("search").addEventListener("input", renderSearch);
  $("search").addEventListener("keydown", e => {  // Enter adds the first hit
    const first = document.querySelector("#search-results li.result");
    if (e.key === "Enter" && first) { e.preventDefault(); addItem(state.byName[first.dataset.name]); }
    if (e.key === "Escape") { $("search").value = ""; renderSearch(); }
  });
  document.querySelectorAll(".chip").forEach(c => c.onclick = () => {
    state.kind = c.dataset.kind;
    document.querySelectorAll(".chip").forEach(x => x.classList.toggle("active", x === c));
    renderSearch();
  });
  document.querySelectorAll(".tab").forEach(b => b.onclick = () => {
    state.active = b.dataset.patient; bindPatientForm();
    if (!state.results[state.active].steady) scheduleSteady(state.active);
    renderResults();
  });
  $("compare-toggle").onchange = e => {
    state.compare = e.target.checked;
    ["A", "B"].forEach(k => { if (!state.results[k].steady) computeSteady(k); });
    renderResults();
  };
  $("run-btn").onclick = runCourse;
  $("download-toml").onclick = downloadToml;
  $("download-csv").onclick = downloadCsv;
  $("download-steady-csv").onclick = downloadSteadyCsv;
  $("load-file").onchange = loadFile;
  $("dose-btn").onclick = findDose;
  $("lt-btn").onclick = loadingTest;
  $("dose-target").addEventListener("input", e => {
    const v = Number(e.target.value);
    $("dose-target-unit").textContent = e.target.value.trim() && isFinite(v) ? `mM (${(v * MG_DL_PER_MM).toFixed(2)} mg/dL)` : "";
  });
  window.addEventListener("resize", () => { clearTimeout(window._rs); window._rs = setTimeout(renderResults, 200); });
}

// ------------------------------------------------------------------------------------------ files

function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
const fileName = (s, ext) => (s || "scenario").replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^_+|_+$/g, "") + ext;

async function downloadToml() {
  try { save(await api("/api/scenario.toml", toScenario(state.patients[state.active]), {blob: true}), fileName(state.patients[state.active].label, ".toml")); showError(null); }
  catch (e) { showError(e.message); }
}

async function downloadCsv() {
  try {
    setStatus("computing the time course for the CSV ...");
    save(await api("/api/run.csv", toScenario(state.patients[state.active]), {blob: true}), fileName(state.patients[state.active].label, "_timecourse.csv"));
    setStatus("time course CSV saved"); showError(null);
  } catch (e) { showError(e.message); }
}

function downloadSteadyCsv() {
  const r = state.results[state.active].steady;
  if (!r) return;
  const units = state.catalogue.readouts || {};
  const rows = [["readout", "value", "unit"], ...Object.entries(r).filter(([, v]) => typeof v === "number").map(([k, v]) => [k, v, units[k] || ""])];
  save(new Blob([rows.map(r => r.join(",")).join("\n") + "\n"], {type: "text/csv"}), fileName(state.patients[state.active].label, "_steady.csv"));
}

async function loadFile(ev) {
  const f = ev.target.files[0];
  if (!f) return;
  try {
    const raw = await api(`/api/parse?filename=${encodeURIComponent(f.name)}`, await f.text(), {text: true});
    state.patients[state.active] = fromScenario(raw, f.name.replace(/\.toml$/, ""));
    state.results[state.active] = {};
    bindPatientForm(); scheduleSteady(state.active);
    setStatus(`loaded ${f.name}`); showError(null);
  } catch (e) { showError(e.message); }
  ev.target.value = "";
}

// ------------------------------------------------------------------------------ dose finder, loading test

async function findDose() {
  const out = $("dose-result");
  out.textContent = "searching ...";
  const target = qty($("dose-target").value, "mM") || "0.7 mM";
  const q = new URLSearchParams({treatment: $("dose-treatment").value, target});
  try {
    const r = await api(`/api/dose-finder?${q}`, toScenario(state.patients[state.active]));
    let h = `<p class="big-answer">${r.dose_mmol_per_day === null ? "no dose reaches the target" :
      `${fmt(r.dose_mmol_per_day * (lookup(r.treatment).route === "iv" ? 1 : MG_PER_MMOL), 0)} ${lookup(r.treatment).route === "iv" ? "mmol/day" : "mg/day"}`
      + ` <small>(${fmt(r.dose_mmol_per_day, 1)} mmol/day)</small>`}</p>`;
    out.innerHTML = h + `<p>${esc(r.message)}</p>`;
    out.dataset.state = "done";
  } catch (e) { out.innerHTML = `<p class="error-inline">${esc(e.message)}</p>`; }
}

async function loadingTest() {
  const out = $("lt-result");
  out.textContent = "infusing ...";
  const q = new URLSearchParams();
  if (qty($("lt-at").value, "day")) q.set("at", qty($("lt-at").value, "day"));
  if ($("lt-protocol").value) q.set("protocol", $("lt-protocol").value);
  else {
    q.set("dose", qty($("lt-dose").value, "mmol") || "30 mmol");
    q.set("duration", qty($("lt-duration").value, "hour") || "8 hour");
  }
  try {
    const r = await api(`/api/loading-test?${q}`, toScenario(state.patients[state.active]));
    const ret = r.retention_percent;
    const cls = ret > 50 ? "alarm" : ret >= 20 ? "warn" : "ok";
    let h = `<p class="big-answer ${cls}" id="lt-retention" data-value="${ret}">retention ${fmt(ret, 0)} % <small>of ${fmt(r.dose_mmol, 1)} mmol over ${fmt(r.duration_hour, 1)} h</small></p>`;
    if (r.interpretation) h += `<p><b>${esc(r.interpretation)}</b></p>`;
    const kv = (k, v) => `<div class="kv"><span>${k}</span><span>${v}</span></div>`;
    h += kv("urine in 24 h (baseline)", `${fmt(r.urine_24h_mmol, 2)} (${fmt(r.baseline_urine_24h_mmol, 2)}) mmol`);
    const s = r.serum_mg_total_mM;
    if (s && typeof s === "object") h += kv("serum Mg before / peak / 24 h",
      `${fmt(s.before, 2)} / ${fmt(s.peak, 2)} / ${fmt(s.at_24h, 2)} mM (${fmt(s.before * MG_DL_PER_MM, 2)} / ${fmt(s.peak * MG_DL_PER_MM, 2)} / ${fmt(s.at_24h * MG_DL_PER_MM, 2)} mg/dL)`);
    if (r.at_day !== null && r.at_day !== undefined) h += kv("given at", `day ${fmt(r.at_day, 1)} of the course`);
    else h += kv("given at", "the steady state (every perturbation on)");
    if (r.interpretation_source) h += `<p class="source">${esc(r.interpretation_source)}</p>`;
    for (const n of r.notes || []) h += `<p class="note">${esc(n)}</p>`;
    out.innerHTML = h;
    out.dataset.state = "done";
    if (r.timecourse && r.timecourse.time_hour) Charts.line($("chart-lt"), {title: "During the test: serum total Mg (mM)", xLabel: "hour from the start of the infusion", xName: "hour",
      yLabel: "mM", unit: "mM", y2: {factor: MG_DL_PER_MM, label: "mg/dL", unit: "mg/dL"}, height: 200,
      series: [{label: state.patients[state.active].label, color: COLORS[state.active], x: r.timecourse.time_hour, y: r.timecourse.serum_mg_total_mM}],
      hlines: [{y: 0.7, label: "0.7 mM", color: "#b3261e"}, {y: 1.05, label: "1.05 mM (upper limit)", color: "#1f5fa8"}]});
  } catch (e) { out.innerHTML = `<p class="error-inline">${esc(e.message)}</p>`; }
}

// ------------------------------------------------------------------------------------------ start

async function start() {
  bindStaticControls();
  try {
    const r = await fetch("/api/catalogue");
    state.catalogue = await r.json();
  } catch (e) { showError("cannot reach the mgflux server: " + e.message); return; }
  for (const e of state.catalogue.entries) {
    state.byName[e.name] = e;
    for (const a of e.aliases) state.byName[a] = e;
  }
  state.features = state.catalogue.features || {};
  if (!state.features.patient) {
    ["p-age", "p-sex", "p-weight", "p-gfr", "p-height", "p-creat"].forEach(id => { $(id).disabled = true; });
    $("patient-note").textContent = "Age, sex, weight and GFR need an mgflux with [patient] scenarios; this one models the 70 kg adult.";
  } else $("patient-note").textContent = "Empty fields take the defaults: the 70 kg adult; for a given age, the median " +
    "weight and height for age and sex, and a GFR from age and size (or from serum creatinine).";
  const mg = state.catalogue.entries.filter(e => e.kind === "treatment" && !e.amount_unit);
  $("dose-treatment").innerHTML = mg.map(e => `<option value="${e.name}">${e.name.replace(/_/g, " ")}</option>`).join("");
  $("dose-treatment").value = "magnesium_citrate";
  const protocols = state.features.loading_test_protocols || {};
  for (const [name, src] of Object.entries(protocols)) { const o = new Option(name, name); o.title = src; $("lt-protocol").add(o); }
  $("lt-protocol").onchange = e => { $("lt-dose").disabled = $("lt-duration").disabled = !!e.target.value; };
  if (!state.features.loading_test) {
    $("lt-protocol").disabled = true;
    $("lt-btn").disabled = true;
    $("lt-result").innerHTML = '<p class="hint">The loading test needs an mgflux with <code>mgflux.loading_test</code>.</p>';
  }
  setStatus(`${state.catalogue.entries.length} catalogue entries`);
  bindPatientForm();
  renderSearch();
  renderCharts();
  computeSteady("A");
}

start();

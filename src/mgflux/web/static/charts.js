// Small SVG charts for the mgflux page: line charts over time and the renal waterfall. No library, no network.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, s, attrs) {
    const t = el("text", Object.assign({x, y}, attrs || {}), parent);
    t.textContent = s;
    return t;
  }

  // "nice" tick values covering [lo, hi]
  function ticks(lo, hi, n) {
    if (!(hi > lo)) { hi = lo + 1; }
    const raw = (hi - lo) / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  const short = (s, n = 32) => s.length > n ? s.slice(0, n - 1) + "\u2026" : s;

  function fmt(v) {
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1000) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
    if (a >= 1) return v.toFixed(2).replace(/0$/, "");
    return v.toPrecision(2);
  }

  // opts: {title, yLabel, y2: {factor, label}, series: [{label, color, x: [], y: [], dash}], hlines: [{y, label, color}],
  //        bands: [{y0, y1, color, label}], yMin, yMax, height}
  function line(container, opts) {
    container.innerHTML = "";
    const W = Math.max(320, container.clientWidth || 640), H = opts.height || 230;
    const m = {l: 58, r: opts.y2 ? 62 : 16, t: 26, b: 38};
    const svg = el("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title}, container);
    const series = opts.series.filter(s => s.x && s.x.length);
    let xs = series.flatMap(s => [s.x[0], s.x[s.x.length - 1]]);
    let ys = series.flatMap(s => s.y.filter(v => v !== null && isFinite(v)));
    (opts.hlines || []).forEach(h => ys.push(h.y));
    let x0 = Math.min(...xs), x1 = Math.max(...xs);
    if (!(x1 > x0)) x1 = x0 + 1;
    let y0 = opts.yMin !== undefined ? Math.min(opts.yMin, ...ys) : Math.min(...ys);
    let y1 = opts.yMax !== undefined ? Math.max(opts.yMax, ...ys) : Math.max(...ys);
    const mid = (y0 + y1) / 2, minSpan = Math.max(Math.abs(mid) * 0.1, 1e-6);
    if (y1 - y0 < minSpan) { y0 = mid - minSpan / 2; y1 = mid + minSpan / 2; }  // a flat course: no zoom into rounding
    const pad = (y1 - y0) * 0.08;
    y0 -= pad; y1 += pad;
    if (opts.floor0 && y0 < 0) y0 = 0;
    const X = v => m.l + (v - x0) / (x1 - x0) * (W - m.l - m.r);
    const Y = v => H - m.b - (v - y0) / (y1 - y0) * (H - m.t - m.b);
    text(svg, m.l, 16, opts.title, {class: "chart-title"});
    el("defs", {}, svg).innerHTML = `<clipPath id="clip-${container.id}"><rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}"/></clipPath>`;
    const plot = el("g", {"clip-path": `url(#clip-${container.id})`}, svg);
    for (const b of opts.bands || []) {
      const top = Y(Math.min(b.y1, y1)), bottom = Y(Math.max(b.y0, y0));
      if (bottom > top) el("rect", {x: m.l, y: top, width: W - m.l - m.r, height: bottom - top, fill: b.color, class: "band"}, plot);
    }
    const axis = el("g", {class: "axis"}, svg);
    for (const t of ticks(y0, y1, 5)) {
      el("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: "grid"}, axis);
      text(axis, m.l - 6, Y(t) + 4, fmt(t), {"text-anchor": "end"});
    }
    if (opts.y2) {  // the second unit gets its own round ticks
      const f = opts.y2.factor;
      for (const t of ticks(y0 * f, y1 * f, 5)) {
        el("line", {x1: W - m.r, x2: W - m.r + 4, y1: Y(t / f), y2: Y(t / f), class: "tick"}, axis);
        text(axis, W - m.r + 6, Y(t / f) + 4, fmt(t), {"text-anchor": "start"});
      }
      el("line", {x1: W - m.r, x2: W - m.r, y1: m.t, y2: H - m.b, class: "frame"}, axis);
    }
    for (const t of ticks(x0, x1, 8)) {
      el("line", {x1: X(t), x2: X(t), y1: H - m.b, y2: H - m.b + 4, class: "tick"}, axis);
      text(axis, X(t), H - m.b + 16, fmt(t), {"text-anchor": "middle"});
    }
    el("line", {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "frame"}, axis);
    el("line", {x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "frame"}, axis);
    text(axis, (m.l + W - m.r) / 2, H - 6, opts.xLabel || "day", {"text-anchor": "middle", class: "axis-label"});
    text(axis, 12, (m.t + H - m.b) / 2, opts.yLabel, {"text-anchor": "middle", class: "axis-label",
      transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`});
    if (opts.y2) text(axis, W - 10, (m.t + H - m.b) / 2, opts.y2.label, {"text-anchor": "middle", class: "axis-label",
      transform: `rotate(90 ${W - 10} ${(m.t + H - m.b) / 2})`});
    for (const h of opts.hlines || []) {
      el("line", {x1: m.l, x2: W - m.r, y1: Y(h.y), y2: Y(h.y), stroke: h.color || "#b00", class: "hline"}, plot);
      text(plot, W - m.r - 4, Y(h.y) - 4, h.label, {"text-anchor": "end", class: "hline-label", fill: h.color || "#b00"});
    }
    for (const s of series) {
      const n = s.x.length, step = Math.max(1, Math.floor(n / 2000));  // at most ~2000 points per line
      let d = "";
      for (let i = 0; i < n; i += step) {
        if (s.y[i] === null || !isFinite(s.y[i])) continue;
        d += (d ? "L" : "M") + X(s.x[i]).toFixed(1) + "," + Y(s.y[i]).toFixed(1);
      }
      if (n > 1 && (n - 1) % step) d += "L" + X(s.x[n - 1]).toFixed(1) + "," + Y(s.y[n - 1]).toFixed(1);
      el("path", {d, stroke: s.color, fill: "none", "stroke-width": 2.2, "stroke-dasharray": s.dash || "", class: "series",
        "data-label": s.label}, plot);
    }
    // legend
    let lx = m.l + 8;
    const legend = el("g", {class: "legend"}, svg);
    for (const s of series) {
      el("line", {x1: lx, x2: lx + 18, y1: m.t + 10, y2: m.t + 10, stroke: s.color, "stroke-width": 3, "stroke-dasharray": s.dash || ""}, legend);
      text(legend, lx + 22, m.t + 14, short(s.label));
      lx += 30 + 7 * short(s.label).length;
    }
    // hover: a crosshair with the values at the nearest sample
    const hover = el("g", {class: "hover", visibility: "hidden"}, svg);
    const vline = el("line", {y1: m.t, y2: H - m.b, class: "crosshair"}, hover);
    const box = el("rect", {class: "tip", rx: 4}, hover);
    const tip = el("text", {class: "tip-text"}, hover);
    const overlay = el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "transparent"}, svg);
    overlay.addEventListener("mousemove", ev => {
      const r = svg.getBoundingClientRect();
      const px = ev.clientX - r.left, xv = x0 + (px - m.l) / (W - m.l - m.r) * (x1 - x0);
      hover.setAttribute("visibility", "visible");
      vline.setAttribute("x1", px); vline.setAttribute("x2", px);
      tip.innerHTML = "";
      const lines = [`${opts.xName || "day"} ${fmt(xv)}`];
      for (const s of series) {
        let i = 0, best = Infinity;
        for (let k = 0; k < s.x.length; k++) { const dd = Math.abs(s.x[k] - xv); if (dd < best) { best = dd; i = k; } }
        const v = s.y[i];
        lines.push(`${s.label}: ${v === null ? "-" : fmt(v)}${opts.unit ? " " + opts.unit : ""}` +
          (opts.y2 && v !== null ? ` (${fmt(v * opts.y2.factor)} ${opts.y2.unit || ""})` : ""));
      }
      lines.forEach((s, k) => { const ts = el("tspan", {x: 0, dy: k ? 15 : 0}, tip); ts.textContent = s; });
      const bw = 10 + 6.6 * Math.max(...lines.map(s => s.length)), bh = 8 + 15 * lines.length;
      const bx = px + 12 + bw > W ? px - 12 - bw : px + 12;
      box.setAttribute("x", bx); box.setAttribute("y", m.t + 4); box.setAttribute("width", bw); box.setAttribute("height", bh);
      tip.setAttribute("transform", `translate(${bx + 6},${m.t + 18})`);
    });
    overlay.addEventListener("mouseleave", () => hover.setAttribute("visibility", "hidden"));
    return svg;
  }

  // The renal waterfall: filtered load, what each segment reabsorbs (floating bars), urine; one bar per series.
  // groups: [{label, color, values: {filtered, pt, tal, dct, urine}}]
  function waterfall(container, groups, opts) {
    container.innerHTML = "";
    opts = opts || {};
    const W = Math.max(320, container.clientWidth || 640), H = opts.height || 260;
    const m = {l: 58, r: 70, t: 30, b: 44};
    const svg = el("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "renal waterfall"}, container);
    const steps = [["filtered", "filtered load"], ["pt", "PT reabsorbs"], ["tal", "TAL reabsorbs"], ["dct", "DCT reabsorbs"], ["urine", "urine"]];
    const ymax = Math.max(...groups.map(g => g.values.filtered)) * 1.08;
    const Y = v => H - m.b - v / ymax * (H - m.t - m.b);
    text(svg, m.l, 18, opts.title || "Mg filtered and reabsorbed, mmol/day (right: mg/day)", {class: "chart-title"});
    const axis = el("g", {class: "axis"}, svg);
    for (const t of ticks(0, ymax, 5)) {
      el("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: "grid"}, axis);
      text(axis, m.l - 6, Y(t) + 4, fmt(t), {"text-anchor": "end"});
    }
    for (const t of ticks(0, ymax * 24.305, 5)) {  // mg/day, round
      el("line", {x1: W - m.r, x2: W - m.r + 4, y1: Y(t / 24.305), y2: Y(t / 24.305), class: "tick"}, axis);
      text(axis, W - m.r + 6, Y(t / 24.305) + 4, fmt(t), {"text-anchor": "start"});
    }
    const slot = (W - m.l - m.r) / steps.length, bw = Math.min(34, slot * 0.8 / groups.length);
    steps.forEach(([key, label], i) => {
      const cx = m.l + slot * (i + 0.5);
      text(axis, cx, H - m.b + 16, label, {"text-anchor": "middle", class: "axis-label"});
      groups.forEach((g, j) => {
        const v = g.values;
        let top, bottom;
        if (key === "filtered") { top = v.filtered; bottom = 0; }
        else if (key === "urine") { top = v.urine; bottom = 0; }
        else {
          const before = key === "pt" ? v.filtered : key === "tal" ? v.filtered - v.pt : v.filtered - v.pt - v.tal;
          top = before; bottom = before - v[key];
        }
        const x = cx - groups.length * bw / 2 + j * bw;
        const r = el("rect", {x, y: Y(top), width: bw - 2, height: Math.max(1, Y(bottom) - Y(top)), fill: g.color,
          class: "wf-bar", "data-series": g.label, "data-step": key}, svg);
        el("title", {}, r).textContent = `${g.label}, ${label}: ${fmt(v[key])} mmol/day` +
          (key !== "filtered" ? ` (${fmt(100 * v[key] / v.filtered)} % of filtered)` : "");
        const val = key === "filtered" || key === "urine" ? v[key] : v[key];
        text(svg, x + (bw - 2) / 2, Y(top) - 4, fmt(val), {"text-anchor": "middle", class: "bar-label"});
      });
    });
    el("line", {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "frame"}, axis);
    let lx = m.l + 8;
    for (const g of groups) {
      el("rect", {x: lx, y: H - 16, width: 12, height: 10, fill: g.color}, svg);
      text(svg, lx + 16, H - 7, short(g.label, 40), {class: "legend-text"});
      lx += 30 + 7 * short(g.label, 40).length;
    }
    return svg;
  }

  return {line, waterfall, fmt};
})();

/* sipwarden's charts and tables: the HTML report and the daemon's dashboard draw with this.
 * Plain DOM + SVG, no library, nothing fetched from the network. Every string from the data
 * (accounts, numbers, evidence: attacker text) goes into the page as text, never as markup. */
"use strict";
const SW = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const KIND_COLORS = {
    unknown_account: "#f59e0b", auth_failed: "#dc2626", challenge_sent: "#60a5fa", call_rejected: "#7c3aed",
    acl_failed: "#ea580c", auth_ok: "#16a34a", bad_request: "#94a3b8", request: "#0ea5e9", response: "#a3a3a3",
    scanner: "#be185d", tamper: "#111827",
  };
  const EXTRA = ["#0891b2", "#65a30d", "#9333ea", "#c2410c", "#475569"];
  const color = (k, i) => KIND_COLORS[k] || EXTRA[i % EXTRA.length];

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  const pad = (n) => String(n).padStart(2, "0");
  function fmtTime(t, withSeconds) {
    if (t === null || t === undefined || t === "") return "";
    const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
    if (isNaN(d)) return String(t);
    const s = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    return withSeconds ? `${s}:${pad(d.getUTCSeconds())}` : s;
  }
  let regions = null;
  try { regions = new Intl.DisplayNames(["en"], { type: "region" }); } catch (e) { regions = null; }
  function country(r) {  // the data names a region by its ISO code; the browser knows its name
    if (r.country !== r.code || !regions) return r.country;
    try { return regions.of(r.code) || r.code; } catch (e) { return r.code; }
  }
  const fmtNum = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en-US"));
  function fmtSpan(s) {
    if (s >= 86400) return `${+(s / 86400).toFixed(1)} d`;
    if (s >= 3600) return `${+(s / 3600).toFixed(1)} h`;
    if (s >= 60) return `${+(s / 60).toFixed(1)} min`;
    return `${s} s`;
  }

  // --- tooltip ----------------------------------------------------------------------------------
  let tip = null;
  function showTip(evt, lines) {
    if (!tip) { tip = el("div", { id: "sw-tip" }); document.body.append(tip); }
    tip.textContent = lines.join("\n");
    tip.style.display = "block";
    const x = Math.min(evt.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = `${Math.max(4, x)}px`;
    tip.style.top = `${evt.clientY + 14}px`;
  }
  function hideTip() { if (tip) tip.style.display = "none"; }
  function hover(node, lines) {
    node.addEventListener("mousemove", (e) => showTip(e, lines()));
    node.addEventListener("mouseleave", hideTip);
  }

  // --- time axis shared by the time charts --------------------------------------------------------
  function timeAxis(g, x0, x1, t0, t1, y) {
    const span = Math.max(t1 - t0, 1);
    const nice = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000];
    const want = span / 8;
    const tick = nice.find((s) => s >= want) || nice[nice.length - 1];
    for (let t = Math.ceil(t0 / tick) * tick; t <= t1; t += tick) {
      const x = x0 + ((t - t0) / span) * (x1 - x0);
      g.append(sv("line", { x1: x, x2: x, y1: y, y2: y + 4, class: "grid" }));
      const label = tick >= 86400 ? fmtTime(t).slice(0, 10) : fmtTime(t).slice(tick >= 3600 && span > 86400 ? 5 : 11);
      g.append(sv("text", { x, y: y + 16, "text-anchor": "middle" }, label));
    }
  }
  function yTicks(g, max, h, top, left, right, log) {
    const vals = [];
    if (log) { for (let v = 1; v <= max; v *= 10) vals.push(v); }
    else { const step = Math.pow(10, Math.floor(Math.log10(Math.max(max, 1)))); for (let v = 0; v <= max; v += step) vals.push(v); }
    for (const v of vals) {
      const y = top + h - scaleY(v, max, h, log);
      g.append(sv("line", { x1: left, x2: right, y1: y, y2: y, class: "grid" }));
      g.append(sv("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, fmtNum(v)));
    }
  }
  function scaleY(v, max, h, log) {
    if (max <= 0 || v <= 0) return 0;
    return log ? (Math.log10(1 + v) / Math.log10(1 + max)) * h : (v / max) * h;
  }

  // --- timeline: events per bucket, stacked by kind -------------------------------------------------
  function timelineChart(box, tl, opts) {
    opts = opts || {};
    box.textContent = "";
    const pts = tl.points || [];
    const W = Math.max(box.clientWidth || 0, 600), H = opts.height || 260;
    const L = 56, R = 12, T = 10, B = 26, h = H - T - B;
    const s = sv("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "timeline", "data-points": pts.length, role: "img" });
    s.append(sv("title", {}, "events per interval, stacked by kind"));
    box.append(s);
    if (!pts.length) { box.append(el("div", { class: "empty", text: "no events in this period" })); return s; }
    const step = tl.step, t0 = opts.t0 !== undefined ? opts.t0 : pts[0][0];
    const t1 = Math.max(opts.t1 !== undefined ? opts.t1 : pts[pts.length - 1][0] + step, t0 + step);
    const span = t1 - t0;
    const totals = pts.map((p) => p.slice(1).reduce((a, b) => a + b, 0));
    const max = Math.max(...totals, 1);
    const grid = sv("g", { class: "axis" });
    s.append(grid);
    yTicks(grid, max, h, T, L, W - R, opts.log);
    timeAxis(grid, L, W - R, t0, t1, T + h);
    const bw = Math.max(((W - L - R) * step) / span - (step / span * (W - L - R) > 4 ? 1 : 0), 1);
    const bars = sv("g", {});
    s.append(bars);
    pts.forEach((p, i) => {
      const g = sv("g", { class: "pt", "data-t": p[0], "data-total": totals[i] });
      const x = L + ((p[0] - t0) / span) * (W - L - R);
      const full = scaleY(totals[i], max, h, opts.log);
      let y = T + h;
      tl.kinds.forEach((k, j) => {
        const n = p[j + 1];
        if (!n) return;
        const part = (n / totals[i]) * full;
        y -= part;
        g.append(sv("rect", { x, y, width: bw, height: Math.max(part, 0.5), fill: color(k, j) }));
      });
      g.append(sv("rect", { x, y: T, width: bw, height: h, fill: "transparent" }));
      hover(g, () => [`${fmtTime(p[0], step < 60)} + ${fmtSpan(step)}`, `total ${fmtNum(totals[i])}`,
        ...tl.kinds.map((k, j) => [k, p[j + 1]]).filter((kv) => kv[1]).map(([k, n]) => `${k}: ${fmtNum(n)}`)]);
      bars.append(g);
    });
    const legend = el("div", { class: "legend" });
    tl.kinds.forEach((k, j) => legend.append(el("span", {}, el("i", { style: `background:${color(k, j)}` }), k)));
    box.append(legend);
    return s;
  }

  // --- bans (up) and unbans (down) per bucket ----------------------------------------------------
  function bansChart(box, bans, opts) {
    opts = opts || {};
    box.textContent = "";
    const pts = bans.points || [];
    const W = Math.max(box.clientWidth || 0, 600), H = opts.height || 180;
    const L = 56, R = 12, T = 10, B = 26, h = H - T - B, mid = T + h / 2;
    const s = sv("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "bans", "data-points": pts.length, role: "img" });
    s.append(sv("title", {}, "bans (up) and unbans (down) per interval"));
    box.append(s);
    if (!pts.length) { box.append(el("div", { class: "empty", text: "no bans in this period" })); return s; }
    const step = bans.step, t0 = opts.t0 !== undefined ? opts.t0 : pts[0][0];
    const t1 = Math.max(opts.t1 !== undefined ? opts.t1 : pts[pts.length - 1][0] + step, t0 + step), span = t1 - t0;
    const max = Math.max(...pts.map((p) => Math.max(p[1], p[2])), 1);
    const g0 = sv("g", { class: "axis" });
    s.append(g0);
    g0.append(sv("line", { x1: L, x2: W - R, y1: mid, y2: mid, class: "grid" }));
    g0.append(sv("text", { x: L - 6, y: T + 10, "text-anchor": "end" }, `${fmtNum(max)} ▲`));
    g0.append(sv("text", { x: L - 6, y: T + h, "text-anchor": "end" }, `${fmtNum(max)} ▼`));
    timeAxis(g0, L, W - R, t0, t1, T + h);
    const bw = Math.max(((W - L - R) * step) / span - 1, 1.5);
    pts.forEach((p) => {
      const g = sv("g", { class: "pt", "data-t": p[0] });
      const x = L + ((p[0] - t0) / span) * (W - L - R);
      const up = (p[1] / max) * (h / 2), down = (p[2] / max) * (h / 2);
      if (p[1]) g.append(sv("rect", { x, y: mid - up, width: bw, height: Math.max(up, 1), fill: "#dc2626" }));
      if (p[2]) g.append(sv("rect", { x, y: mid, width: bw, height: Math.max(down, 1), fill: "#16a34a" }));
      g.append(sv("rect", { x, y: T, width: bw, height: h, fill: "transparent" }));
      hover(g, () => [`${fmtTime(p[0], step < 60)} + ${fmtSpan(step)}`, `bans: ${fmtNum(p[1])}`, `unbans: ${fmtNum(p[2])}`]);
      s.append(g);
    });
    box.append(el("div", { class: "legend" }, el("span", {}, el("i", { style: "background:#dc2626" }), "bans"),
      el("span", {}, el("i", { style: "background:#16a34a" }), "unbans (ended or lifted)")));
    return s;
  }

  // --- horizontal bars (countries) ---------------------------------------------------------------
  function hbarChart(box, rows, label, value, tipLines) {
    box.textContent = "";
    const W = Math.max(box.clientWidth || 0, 420), rowH = 20, L = 190, R = 60;
    const s = sv("svg", { width: W, height: rows.length * rowH + 6, class: "hbar", "data-points": rows.length, role: "img" });
    const max = Math.max(...rows.map(value), 1);
    rows.forEach((r, i) => {
      const g = sv("g", { class: "pt" });
      const w = (value(r) / max) * (W - L - R);
      g.append(sv("text", { x: L - 8, y: i * rowH + 14, "text-anchor": "end" }, label(r)));
      g.append(sv("rect", { x: L, y: i * rowH + 3, width: Math.max(w, 1), height: rowH - 6, fill: "#7c3aed", rx: 2 }));
      g.append(sv("text", { x: L + w + 6, y: i * rowH + 14 }, fmtNum(value(r))));
      hover(g, () => tipLines(r));
      s.append(g);
    });
    box.append(s);
    return s;
  }

  // --- sortable tables --------------------------------------------------------------------------
  // columns: [{key, label, type: "num"|"text"|"time", get(row), cell(row) -> Node|string}]
  function table(columns, rows, opts) {
    opts = opts || {};
    const t = el("table", { class: opts.cls || null });
    const head = el("tr");
    const body = el("tbody");
    const val = (c, r) => (c.get ? c.get(r) : r[c.key]);
    function fill(list) {
      body.textContent = "";
      for (const r of list) {
        const tr = el("tr");
        for (const c of columns) {
          const v = c.cell ? c.cell(r) : val(c, r);
          const td = el("td", { class: [c.type === "num" ? "num" : "", c.mono ? "mono" : ""].join(" ").trim() || null });
          if (v instanceof Node) td.append(v);
          else td.textContent = c.type === "num" ? fmtNum(v) : c.type === "time" ? fmtTime(v, true) : (v === null || v === undefined ? "" : String(v));
          tr.append(td);
        }
        body.append(tr);
      }
    }
    let current = rows.slice();
    columns.forEach((c) => {
      const th = el("th", { text: c.label, title: "sort" });
      th.addEventListener("click", () => {
        const asc = !th.classList.contains("sorted-asc");
        head.querySelectorAll("th").forEach((x) => x.classList.remove("sorted-asc", "sorted-desc"));
        th.classList.add(asc ? "sorted-asc" : "sorted-desc");
        current = current.slice().sort((a, b) => {
          let x = val(c, a), y = val(c, b);
          if (c.type === "num") { x = Number(x) || 0; y = Number(y) || 0; return asc ? x - y : y - x; }
          x = x === null || x === undefined ? "" : String(x); y = y === null || y === undefined ? "" : String(y);
          return asc ? x.localeCompare(y, "en", { numeric: true }) : y.localeCompare(x, "en", { numeric: true });
        });
        fill(current);
      });
      head.append(th);
    });
    t.append(el("thead", {}, head), body);
    fill(current);
    return el("div", { class: "tablewrap" }, t);
  }
  const tag = (text, cls) => el("span", { class: `tag ${cls || text || ""}`, text: text || "" });

  // --- the report ---------------------------------------------------------------------------------
  function section(title, note) {
    const h = el("h2", {}, title);
    if (note) h.append(el("span", { class: "note", text: note }));
    return el("section", {}, h);
  }
  function card(k, v, bad) { return el("div", { class: bad ? "card bad" : "card" }, el("div", { class: "v", text: fmtNum(v) }), el("div", { class: "k", text: k })); }

  function alertsSection(alerts) {
    const s = el("section", { class: "alerts", id: "alerts" }, el("h2", { text: `⚠ ${alerts.length} account(s) compromised` }));
    for (const a of alerts) {
      s.append(el("div", { class: "alert" }, el("b", { text: a.ip }), ` — ${fmtTime(a.at, true)} UTC — `,
        el("span", { text: a.evidence || "" }),
        a.accounts && a.accounts.length ? el("div", { class: "msg", text: `accounts: ${a.accounts.join(", ")}` }) : null));
    }
    return s;
  }

  function timelineSection(tl, title, opts) {
    const s = section(title || "Attack timeline", tl.points.length ? `events per ${fmtSpan(tl.step)}, stacked by kind` : "");
    const box = el("div", { class: "chart", id: "timeline" });
    const cb = el("input", { type: "checkbox", id: "logscale" });
    s.querySelector("h2").append(el("label", { class: "toggle" }, cb, " log scale"));
    s.append(box);
    const draw = () => timelineChart(box, tl, { ...(opts || {}), log: cb.checked });
    cb.addEventListener("change", draw);
    return [s, draw];
  }

  function sourceColumns() {
    return [
      { key: "ip", label: "address", mono: true },
      { key: "reason", label: "verdict", cell: (r) => (r.reason ? tag(r.reason) : "") },
      { key: "events", label: "events", type: "num" },
      { key: "accounts", label: "accounts tried", type: "num" },
      { key: "sample_accounts", label: "e.g.", get: (r) => (r.sample_accounts || []).join(", ") },
      { key: "first_seen", label: "first seen (UTC)", type: "time" },
      { key: "last_seen", label: "last seen (UTC)", type: "time" },
      { key: "evidence", label: "evidence", cell: (r) => (r.evidence ? tag(r.evidence) : "") },
    ];
  }

  // --- sections the report and the dashboard share -----------------------------------------------
  function sourcesSection(doc) {
    const ss = section("Top sources", `${doc.sources.length} shown; click a column to sort`);
    ss.id = "sources";
    ss.append(doc.sources.length ? table(sourceColumns(), doc.sources) : el("div", { class: "empty", text: "no sources" }));
    return ss;
  }

  // accounts targeted and toll-fraud destinations, side by side; returns [element, draw charts]
  function detailSections(doc) {
    const grid = el("div", { class: "grid2" });
    const acc = doc.accounts || [];
    const nOf = (st) => acc.filter((a) => a.status === st).length;
    const as = section("Accounts targeted", `top ${acc.length}: ${nOf("existing")} existing, ${nOf("unknown")} unknown, ${nOf("unjudged")} only challenged`);
    as.id = "accounts";
    as.append(acc.length ? table([
      { key: "account", label: "name", mono: true },
      { key: "status", label: "account", cell: (r) => tag(r.status) },
      { key: "known_failures", label: "wrong password / ACL", type: "num" },
      { key: "unknown_failures", label: "no such account", type: "num" },
      { key: "logins", label: "logins", type: "num" },
      { key: "total", label: "events", type: "num" },
    ], acc) : el("div", { class: "empty", text: "no account named in these events" }));
    const tf = doc.tollfraud || { countries: [], unknown: { calls: 0 } };
    const ts = section("Toll-fraud destinations", `rejected calls by destination country${tf.unknown.calls ? `; ${fmtNum(tf.unknown.calls)} to numbers no plan explains` : ""}`);
    ts.id = "tollfraud";
    const tbox = el("div", { class: "chart" });
    ts.append(tbox);
    if (tf.countries.length) {
      ts.append(table([
        { key: "country", label: "country", get: country }, { key: "code", label: "code" },
        { key: "calls", label: "calls", type: "num" }, { key: "numbers", label: "numbers", type: "num" },
        { key: "examples", label: "e.g.", mono: true, get: (r) => r.examples.join(", ") },
      ], tf.countries));
    } else ts.append(el("div", { class: "empty", text: "no rejected international calls" }));
    grid.append(as, ts);
    const draw = () => {
      if (tf.countries.length) {
        hbarChart(tbox, tf.countries.slice(0, 15), country, (r) => r.calls,
          (r) => [`${country(r)} (${r.code})`, `calls: ${fmtNum(r.calls)}`, `numbers: ${fmtNum(r.numbers)}`, ...r.examples]);
      }
    };
    return [grid, draw];
  }

  function renderReport(doc, root) {
    root.textContent = "";
    const sm = doc.summary || {};
    const src = doc.source || {};
    const where = src.paths ? src.paths.join(", ") : `state dir ${src.state_dir || ""}`;
    document.body.prepend(el("header", { class: "top" }, el("h1", { text: "sipwarden report" }),
      el("span", { class: "sub", text: `${where} · ${fmtTime(doc.first)} – ${fmtTime(doc.last)} UTC · made ${fmtTime(doc.generated)}` })));
    const cards = el("div", { class: "cards" });
    if (sm.lines !== null && sm.lines !== undefined) cards.append(card("lines", sm.lines));
    cards.append(card("events", sm.events), card("sources", sm.sources), card("attackers", sm.verdicts, sm.verdicts > 0),
      card("compromised", sm.alerts, sm.alerts > 0));
    if (doc.audit) cards.append(card("audit findings", doc.audit.length, doc.audit.length > 0));
    root.append(cards);
    if (doc.alerts && doc.alerts.length) root.append(alertsSection(doc.alerts));
    const [tls, drawTl] = timelineSection(doc.timeline);
    root.append(tls);
    const bs = section("Bans and unbans", doc.bans.simulated ? "as the daemon's policy would have banned these verdicts" : "from the daemon's store");
    const bbox = el("div", { class: "chart", id: "bans" });
    bs.append(bbox);
    root.append(bs);
    root.append(sourcesSection(doc));
    const [grid, drawDetail] = detailSections(doc);
    root.append(grid);
    if (doc.audit) {
      const au = section("Configuration audit", `${doc.audit.length} finding(s), most severe first`);
      au.id = "audit";
      au.append(doc.audit.length ? table([
        { key: "severity", label: "severity", cell: (r) => tag(r.severity) },
        { key: "check", label: "check", mono: true },
        { key: "file", label: "where", mono: true, get: (r) => (r.line ? `${r.file}:${r.line}` : r.file) },
        { key: "message", label: "finding" }, { key: "fix", label: "fix", mono: true },
      ], doc.audit) : el("div", { class: "empty", text: "nothing found" }));
      root.append(au);
    }
    const vs = section("Verdicts", "the same objects as scan --format json");
    vs.id = "verdicts";
    vs.append(doc.verdicts.length ? table([
      { key: "ip", label: "address", mono: true }, { key: "reason", label: "reason", cell: (r) => tag(r.reason) },
      { key: "at", label: "decided (UTC)", type: "time" }, { key: "events", label: "events", type: "num" },
      { key: "evidence", label: "why" },
    ], doc.verdicts) : el("div", { class: "empty", text: "no attackers found" }));
    root.append(vs);
    const draw = () => {
      drawTl();
      bansChart(bbox, doc.bans, { t0: doc.timeline.points.length ? doc.timeline.points[0][0] : undefined,
        t1: doc.timeline.points.length ? doc.timeline.points[doc.timeline.points.length - 1][0] + doc.timeline.step : undefined });
      drawDetail();
    };
    draw();
    let pending = null;
    window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(draw, 150); });
  }

  return { el, sv, tag, table, section, fmtTime, fmtNum, fmtSpan, timelineChart, bansChart, hbarChart, timelineSection,
    alertsSection, sourceColumns, sourcesSection, detailSections, renderReport };
})();

/* The daemon's live dashboard: polls the API (same origin) every second and redraws what changed.
 * Writes (ban/unban) send the bearer token the operator types in; it is kept in this tab only. */
"use strict";
const SWD = (() => {
  const { el, tag, table, section, fmtTime, fmtNum, timelineChart, bansChart, alertsSection } = SW;
  const POLL_MS = 1000, CHARTS_MS = 5000, REPORT_MS = 15000;
  let hours = 6, token = sessionStorage.getItem("sipwarden-token") || "";
  let bansSig = null, lastCharts = 0, lastReport = 0, drawDetail = null, timeline = null, banline = null, logScale = false, drawing = null;
  const ui = {};

  async function api(path, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers || {});
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(path, { ...opts, headers, cache: "no-store", credentials: "omit" });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (r.status === 401) ui.msg.textContent = "this needs the API token: type it below";
    return { ok: r.ok, status: r.status, body };
  }

  function layout(root) {
    document.body.prepend(el("header", { class: "top" }, el("h1", { text: "sipwarden" }),
      ui.sub = el("span", { class: "sub", text: "connecting…" })));
    root.append(ui.cards = el("div", { class: "cards" }));
    root.append(ui.alerts = el("div", { id: "alerts-box" }));
    const ts = section("Attack timeline", `last ${hours} h, events per interval by kind`);
    const cb = el("input", { type: "checkbox", id: "logscale" });
    cb.addEventListener("change", () => { logScale = cb.checked; draw(); });
    ts.querySelector("h2").append(el("label", { class: "toggle" }, cb, " log scale"));
    ts.append(ui.timeline = el("div", { class: "chart", id: "timeline" }));
    const bs = section("Bans and unbans", `last ${hours} h`);
    bs.append(ui.banline = el("div", { class: "chart", id: "bans" }));
    const form = el("form", { class: "ban", id: "ban-form" },
      ui.ip = el("input", { name: "ip", placeholder: "address or network", required: true, size: 22 }),
      ui.for = el("input", { name: "for", placeholder: "for: 10m, 2h, 7d, permanent", size: 20 }),
      ui.reason = el("input", { name: "reason", placeholder: "reason", size: 18 }),
      ui.token = el("input", { name: "token", type: "password", placeholder: "API token", size: 18, value: token }),
      el("button", { type: "submit", text: "Ban" }), ui.msg = el("span", { class: "msg", id: "msg" }));
    ui.token.addEventListener("change", () => { remember(); poll(true); });  // reads from afar need it too
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      remember();
      const body = { ip: ui.ip.value.trim(), reason: ui.reason.value.trim() || "manual" };
      if (ui.for.value.trim()) body.for = ui.for.value.trim();
      const r = await api("/api/v1/bans", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      say(r.ok ? `banned ${r.body.ban.ip}` : `refused (${r.status}): ${(r.body && r.body.error) || ""}`, !r.ok);
      if (r.ok) ui.ip.value = "";
      poll(true);
    });
    const as = section("Bans in force", "newest first");
    as.id = "active-bans";
    as.append(form, ui.bans = el("div", { id: "bans-table" }));
    const es = section("Latest events", "from the daemon's history");
    es.append(ui.events = el("div", { id: "events-table" }));
    ui.detail = el("div", { id: "detail" });
    root.append(ts, bs, as, ui.detail, es);
  }
  function remember() {
    token = ui.token.value.trim();
    if (token) sessionStorage.setItem("sipwarden-token", token); else sessionStorage.removeItem("sipwarden-token");
  }
  function say(text, bad) { ui.msg.textContent = text; ui.msg.className = bad ? "msg err" : "msg"; }

  async function unban(ip) {
    remember();
    const r = await api(`/api/v1/bans/${encodeURIComponent(ip)}`, { method: "DELETE" });
    say(r.ok ? `unbanned ${ip}` : `refused (${r.status}): ${(r.body && r.body.error) || ""}`, !r.ok);
    poll(true);
  }

  function drawBans(bans) {
    const rows = bans.slice().reverse();
    ui.bans.textContent = "";
    ui.bans.append(rows.length ? table([
      { key: "ip", label: "address", mono: true },
      { key: "reason", label: "reason", cell: (r) => tag(r.reason) },
      { key: "start", label: "since (UTC)", type: "time" },
      { key: "expires", label: "until (UTC)", get: (r) => (r.expires ? fmtTime(r.expires, true) : "permanent") },
      { key: "offence", label: "offence", type: "num" },
      { key: "why", label: "evidence", get: (r) => (r.evidence && r.evidence.evidence) || "" },
      { key: "act", label: "", cell: (r) => el("button", { class: "small", text: "unban", onclick: () => unban(r.ip) }) },
    ], rows) : el("div", { class: "empty", text: "no bans in force" }));
    const alerts = bans.filter((b) => b.reason === "compromise").map((b) => ({ ...(b.evidence || {}), ip: b.ip, at: b.start }));
    ui.alerts.textContent = "";
    if (alerts.length) ui.alerts.append(alertsSection(alerts));
  }

  function drawStatus(st) {
    ui.sub.textContent = `pid ${st.pid} · up ${Math.round(st.uptime)} s · backend ${st.backend}` +
      (st.firewall_error ? ` · FIREWALL ERROR: ${st.firewall_error}` : "");
    ui.cards.textContent = "";
    const card = (k, v, bad) => el("div", { class: bad ? "card bad" : "card" }, el("div", { class: "v", text: fmtNum(v) }), el("div", { class: "k", text: k }));
    ui.cards.append(card("active bans", st.active_bans, st.active_bans > 0), card("lines", st.lines), card("events", st.events),
      card("verdicts", st.verdicts), card("bans made", typeof st.bans === "object" ? st.bans.bans : st.bans), card("firewall", st.firewall_error ? 0 : 1, !!st.firewall_error));
    ui.cards.lastChild.querySelector(".v").textContent = st.firewall_error ? "DOWN" : "up";
  }

  function draw() {
    const now = Date.now() / 1000, t0 = now - hours * 3600;
    if (timeline) timelineChart(ui.timeline, timeline, { log: logScale, t0, t1: now });
    if (banline) bansChart(ui.banline, banline, { t0, t1: now });
    if (drawDetail) drawDetail();
  }

  async function report() {
    lastReport = Date.now();
    const r = await api(`/api/v1/report?since=${-hours * 3600}`);
    if (!r.ok) return;
    const [grid, drawDet] = SW.detailSections(r.body);
    ui.detail.textContent = "";
    ui.detail.append(SW.sourcesSection(r.body), grid);
    drawDetail = drawDet;
    drawDet();
  }

  async function charts() {
    const since = -hours * 3600;
    const [tl, bl, ev] = await Promise.all([api(`/api/v1/timeline?since=${since}`), api(`/api/v1/bans/timeline?since=${since}`),
      api("/api/v1/events?limit=50")]);
    if (tl.ok) timeline = tl.body;
    if (bl.ok) banline = bl.body;
    draw();
    if (ev.ok) {
      ui.events.textContent = "";
      const rows = ev.body.events.slice().reverse();
      ui.events.append(rows.length ? table([
        { key: "time", label: "time (UTC)", type: "time" }, { key: "ip", label: "source", mono: true },
        { key: "kind", label: "kind", cell: (r) => tag(r.kind, "") }, { key: "account", label: "account", mono: true },
        { key: "target", label: "dialled", mono: true }, { key: "origin", label: "from" },
      ], rows) : el("div", { class: "empty", text: "no events yet" }));
    }
    lastCharts = Date.now();
  }

  async function poll(force) {
    try {
      const [b, s] = await Promise.all([api("/api/v1/bans"), api("/api/v1/status")]);
      if (s.ok) drawStatus(s.body);
      if (b.ok) {
        const sig = JSON.stringify(b.body.bans.map((x) => [x.ip, x.start, x.expires]));
        if (sig !== bansSig) { bansSig = sig; drawBans(b.body.bans); force = true; }
      }
      if (force || Date.now() - lastCharts > CHARTS_MS) await charts();
      if (force || Date.now() - lastReport > REPORT_MS) await report();
      document.body.dataset.updated = String(Date.now());
    } catch (e) {
      ui.sub.textContent = `daemon not answering (${e.message}); retrying`;
    }
  }

  function start(opts) {
    hours = opts.hours || 6;
    layout(document.getElementById("app"));
    poll(true);
    setInterval(poll, POLL_MS);
    window.addEventListener("resize", () => { clearTimeout(drawing); drawing = setTimeout(draw, 150); });
  }
  return { start };
})();

// The monitor UI: plain DOM, no framework, no build step. Every prompt, answer and event field reaches the page
// through textContent (never innerHTML), so model output is shown as text whatever it contains.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const FEED_MAX = 400;

  /** Creates an element with a class and text. */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  class Unauthorized extends Error {}

  async function api(path, init) {
    const json = init !== undefined && init.body !== undefined;
    const res = await fetch(path, { credentials: "same-origin", ...init, headers: { accept: "application/json", ...(json ? { "content-type": "application/json" } : {}) } });
    if (res.status === 401) {
      let message = "";
      try {
        message = (await res.json()).error.message;
      } catch {}
      throw Object.assign(new Unauthorized(message), { message });
    }
    if (!res.ok) {
      let message = `${res.status}`;
      let type = "";
      try {
        ({ message, type } = (await res.json()).error);
      } catch {}
      throw Object.assign(new Error(message), { status: res.status, type });
    }
    return res.status === 204 ? null : res.json();
  }

  /** A request with a JSON body (or none); answers like api(). */
  const send = (method, path, body) => api(path, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });

  const fmtTime = (iso) => {
    if (!iso) return "—";
    const d = new Date(iso);
    return d.toLocaleString(undefined, { hour12: false, month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  };
  const clock = (iso) => {
    const d = new Date(iso);
    return d.toLocaleTimeString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  };
  const ms = (v) => (v === null || v === undefined ? "—" : v >= 10000 ? (v / 1000).toFixed(1) + " s" : v + " ms");
  const usd = (v) => (v === null || v === undefined ? "—" : "$" + (v >= 1 ? v.toFixed(2) : v.toPrecision(3)));
  const tokens = (i, o) => `${i ?? "—"} / ${o ?? "—"}`;
  const shortId = (id) => (id.length > 14 ? id.slice(0, 8) + "…" + id.slice(-4) : id);

  function typeClass(type) {
    if (type.startsWith("approval.")) return "t-approval";
    if (type.startsWith("policy.bypassed") || type.startsWith("policy.unavailable") || type.startsWith("stream.")) return "t-warn";
    if (type.startsWith("policy.")) return "t-policy";
    if (type.startsWith("call.")) return "t-call";
    if (type.startsWith("request.") || type.startsWith("response.")) return "t-body";
    return "t-other";
  }

  function statusClass(status, outcome) {
    if (outcome === "denied") return "s-denied";
    if (status === null || status === undefined) return "s-pending";
    if (status >= 500) return "s-error";
    if (status >= 400) return "s-warn";
    return "s-ok";
  }

  // ---------------------------------------------------------------- policy actions, real and shadow

  // A policy in shadow mode records what it would have done (`<policy>.would_<verb>`) and changes nothing.
  const SHADOW_VERBS = {
    block: "would have been blocked by {p}",
    deny: "would have been blocked by {p}",
    redact: "{p} would have redacted",
    hold: "{p} would have held a tool call for approval",
    modify_request: "{p} would have modified the request",
    modify_response: "{p} would have modified the response",
    rewrite: "{p} would have rewritten",
    respond: "{p} would have answered in place of the model",
    clamp: "{p} would have clamped",
    route: "{p} would have rerouted",
  };

  /** `{ policy, verb }` of a shadow action, or null for a real one. */
  function shadowOf(action) {
    const m = /^(.+)\.would_(.+)$/.exec(action);
    return m ? { policy: m[1], verb: m[2] } : null;
  }

  /** A badge for one `<policy>.<action>`: shadow ones read as what would have happened, in their own style. */
  function actionBadge(action) {
    const shadow = shadowOf(action);
    if (!shadow) return el("span", "badge policy", action);
    const text = (SHADOW_VERBS[shadow.verb] ?? "{p} would have: " + shadow.verb.replace(/_/g, " ")).replace("{p}", shadow.policy);
    const b = el("span", "badge shadow", text);
    b.title = action + " (shadow mode: recorded, not applied)";
    return b;
  }

  /**
   * Real actions first, then shadow ones; the gateway's own bare action (`response_modified`) is left out when a
   * policy's action says who did it (`all-caps.response_modified`).
   */
  const byShadow = (actions) => {
    const all = [...new Set(actions || [])];
    const named = all.some((a) => a.includes(".") && !shadowOf(a));
    const real = all.filter((a) => !shadowOf(a) && (a.includes(".") || !named));
    return [...real, ...all.filter((a) => shadowOf(a))];
  };

  // ---------------------------------------------------------------- verdicts

  const VERDICTS = ["allowed", "modified", "blocked", "denied", "held", "failed", "bypassed", "in_progress"];
  const VERDICT_TEXT = { in_progress: "in progress" };
  const VERDICT_HELP = {
    allowed: "answered unchanged",
    modified: "answered with content a policy changed",
    blocked: "a policy blocked content or a tool call (the client may still have got a 200)",
    denied: "refused with an error by a policy or by the gateway (key, scope, limit)",
    held: "a tool call waits for a person's decision",
    failed: "ended in an error (provider, timeout, client gone)",
    bypassed: "served without policy",
    in_progress: "not ended yet",
  };
  const verdictText = (v) => VERDICT_TEXT[v] ?? v;

  /** The outcome badge of a call: its verdict, and who decided it. */
  function verdictBadge(c) {
    const v = c.verdict ?? (c.endedAt ? "allowed" : "in_progress");
    const b = el("span", "verdict verdict-" + v, verdictText(v));
    b.title = VERDICT_HELP[v] + (c.decidedBy ? ` — by ${c.decidedBy}` : "") + (c.bypassed ? ` (${c.bypassed})` : "");
    return b;
  }

  // ---------------------------------------------------------------- views and routing

  const views = {
    login: $("view-login"),
    home: $("view-home"),
    call: $("view-call"),
    sessions: $("view-sessions"),
    session: $("view-session"),
    keys: $("view-keys"),
    approvals: $("view-approvals"),
    replays: $("view-replays"),
    replay: $("view-replay"),
    config: $("view-config"),
    dashboard: $("view-dashboard"),
  };
  let authed = false;
  let loopbackMode = false;
  // How this monitor stores originals now (MONITOR_STORE_ORIGINALS); each call says how its own were stored.
  let storeOriginals = "redacted";

  function show(name) {
    for (const [k, v] of Object.entries(views)) v.hidden = k !== name;
    for (const a of document.querySelectorAll("#tabs a"))
      a.classList.toggle("current", a.dataset.tab === (name === "call" ? "home" : name === "session" ? "sessions" : name === "replay" ? "replays" : name));
    $("tabs").hidden = name === "login";
    $("logout").hidden = name === "login" || loopbackMode;
  }

  function route() {
    if (!authed) return;
    const m = /^#\/calls\/(.+)$/.exec(location.hash);
    const session = /^#\/sessions\/(.+)$/.exec(location.hash);
    const replay = /^#\/replays\/(.+)$/.exec(location.hash);
    if (m) {
      show("call");
      openCall(decodeURIComponent(m[1]));
    } else if (session) {
      closeCall();
      show("session");
      void renderSession(decodeURIComponent(session[1]));
    } else if (location.hash === "#/sessions") {
      closeCall();
      show("sessions");
      void renderSessions();
    } else if (location.hash === "#/keys") {
      closeCall();
      show("keys");
      void renderKeys();
    } else if (location.hash === "#/approvals") {
      closeCall();
      show("approvals");
      void loadApprovals();
    } else if (location.hash === "#/replays") {
      closeCall();
      show("replays");
      void renderReplays();
    } else if (replay) {
      closeCall();
      show("replay");
      void renderReplay(decodeURIComponent(replay[1]));
    } else if (location.hash === "#/config") {
      closeCall();
      show("config");
      void loadConfigEvents();
    } else if (location.hash === "#/dashboard" || location.hash.startsWith("#/dashboard?")) {
      closeCall();
      show("dashboard");
      void renderDashboard(hashParams());
    } else {
      show("home");
      closeCall();
      applyFilters(hashParams());
    }
  }

  /** The query of a `#/…?k=v` hash. */
  function hashParams() {
    const i = location.hash.indexOf("?");
    return new URLSearchParams(i >= 0 ? location.hash.slice(i + 1) : "");
  }

  async function boot() {
    try {
      const session = await api("/api/session");
      authed = true;
      // Without ADMIN_API_KEY the monitor trusts loopback clients; there is no session to end.
      loopbackMode = session.mode === "loopback";
      storeOriginals = session.storeOriginals || storeOriginals;
      if (location.hash === "#login-failed") history.replaceState(null, "", "#/");
      startFeed();
      void loadFacets();
      void loadConfigEvents();
      void loadApprovals();
      route();
    } catch (err) {
      if (!(err instanceof Unauthorized)) throw err;
      authed = false;
      show("login");
      const e = $("login-error");
      if (location.hash === "#login-failed") {
        e.textContent = "That key is not right.";
        e.hidden = false;
      } else if (err.message && /not set/.test(err.message)) {
        e.textContent = err.message;
        e.hidden = false;
      }
      $("login-key").focus();
    }
  }

  window.addEventListener("hashchange", route);
  $("logout").addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", credentials: "same-origin" });
    location.hash = "";
    location.reload();
  });

  // ---------------------------------------------------------------- health banner

  async function pollReady() {
    const pill = $("health-pill");
    const banner = $("banner");
    try {
      const res = await fetch("/ready", { cache: "no-store" });
      const r = await res.json();
      const down = [];
      if (r.database !== "up") down.push("The database is unreachable: new activity is not being stored (it waits in NATS and arrives once the database is back).");
      if (r.nats !== "up") down.push("NATS is unreachable: no new activity reaches the monitor (gateways keep events in their outbox and deliver them when NATS returns).");
      banner.replaceChildren(...down.map((t) => el("div", "", t)));
      banner.hidden = down.length === 0;
      pill.textContent = down.length === 0 ? "database ✓  NATS ✓" : `database ${r.database === "up" ? "✓" : "✗"}  NATS ${r.nats === "up" ? "✓" : "✗"}`;
      pill.className = "pill " + (down.length === 0 ? "ok" : "bad");
    } catch {
      banner.replaceChildren(el("div", "", "The monitor itself is not answering."));
      banner.hidden = false;
      pill.textContent = "monitor unreachable";
      pill.className = "pill bad";
    }
  }
  void pollReady();
  setInterval(pollReady, 3000);

  // ---------------------------------------------------------------- live feed

  // One stream for the whole page: the feed filters it here, the calls table and the call page listen to all of it.
  let source = null;
  let paused = false;
  const feedFilter = { callId: "", type: "" };
  const listeners = new Set();

  function feedMatches(ev) {
    if (feedFilter.callId && ev.callId !== feedFilter.callId) return false;
    const p = feedFilter.type;
    if (p && ev.type !== p && !ev.type.startsWith(p.endsWith(".") ? p : p + ".")) return false;
    return true;
  }

  function startFeed() {
    if (source) return;
    source = new EventSource("/api/activity/stream");
    source.addEventListener("open", () => {
      $("live-dot").classList.add("on");
      // Whatever happened while the stream was away.
      refreshSoon();
      loadApprovalsSoon();
    });
    source.addEventListener("error", () => $("live-dot").classList.remove("on"));
    source.addEventListener("activity", (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (!paused && feedMatches(ev)) addFeedRow(ev);
      for (const l of listeners) l(ev);
    });
  }

  function onEvent(fn) {
    listeners.add(fn);
  }

  function summaryOf(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case "call.started":
        return [d.model, d.stream ? "stream" : null, d.format, d.keyId ? "key " + d.keyId : null].filter(Boolean).join(" · ");
      case "call.ended":
        return [d.status, d.outcome, d.latencyMs !== undefined ? ms(d.latencyMs) : null, (d.policyActions || []).join(", ")]
          .filter((x) => x !== null && x !== undefined && x !== "")
          .join(" · ");
      case "policy.bypassed":
      case "policy.unavailable":
        return [d.reason, d.message].filter(Boolean).join(": ");
      case "policy.config.reloaded":
        return [d.configVersion ? "version " + d.configVersion : null, d.file, d.trigger, Array.isArray(d.chains) ? "chains " + d.chains.join(", ") : null].filter(Boolean).join(" · ");
      case "call.engine":
        return [d.engine, d.chain ? "chain " + d.chain : null, d.configVersion ? "config " + d.configVersion : null].filter(Boolean).join(" · ");
      case "policy.config.rejected":
        return [d.file, d.trigger, d.error].filter(Boolean).join(" · ");
      case "approval.requested":
        return [d.policy, d.tool, d.reason].filter(Boolean).join(" · ");
      case "approval.decided":
        return [d.state, d.by ? "by " + d.by : null, d.note].filter(Boolean).join(" · ");
      case "approval.refused":
        return ["refused: " + d.reason, d.decision, d.by ? "by " + d.by : null].filter(Boolean).join(" · ");
      case "approval.session_approved":
        return [d.tool, "approved for the session", d.by ? "by " + d.by : null].filter(Boolean).join(" · ");
      default:
        if (d.truncated) return `(${d.bytes} bytes)`;
        if (ev.type.startsWith("policy.")) {
          const s = JSON.stringify(d);
          return s === "{}" ? "" : s.slice(0, 160);
        }
        return "";
    }
  }

  function addFeedRow(ev) {
    const li = el("li", "feed-row " + typeClass(ev.type));
    li.append(el("time", "at", clock(ev.time)));
    li.append(el("span", "src src-" + ev.source, ev.source === "control-plane" ? "engine" : "gateway"));
    li.append(el("span", "type", ev.type));
    if (isConfigEvent(ev)) {
      // A config change belongs to no call: it links to the configuration list, not to a call page.
      const a = el("a", "call-link", "configuration");
      a.href = "#/config";
      li.append(a);
    } else {
      const a = el("a", "call-link", shortId(ev.callId));
      a.href = "#/calls/" + encodeURIComponent(ev.callId);
      a.title = ev.callId;
      li.append(a);
    }
    li.append(el("span", "summary", summaryOf(ev)));
    const feed = $("feed");
    feed.prepend(li);
    while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
    $("feed-empty").hidden = true;
  }

  $("feed-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    feedFilter.callId = $("feed-call").value.trim();
    feedFilter.type = $("feed-type").value.trim();
    $("feed").replaceChildren();
    $("feed-empty").hidden = false;
  });
  $("feed-pause").addEventListener("click", () => {
    paused = !paused;
    $("feed-pause").textContent = paused ? "Resume" : "Pause";
  });
  $("feed-clear").addEventListener("click", () => {
    $("feed").replaceChildren();
    $("feed-empty").hidden = false;
  });

  // ---------------------------------------------------------------- calls table

  const calls = new Map();
  let nextCursor = null;
  /** The list's order, from the URL (`sort`, `order`); the default is newest first. */
  const sortState = { sort: "started", order: "desc" };
  /** The filters the list was last loaded with (URL form), so a hash change that keeps them reloads nothing. */
  let loadedFilters = null;

  const TEXT_FILTERS = [
    ["q", "f-q"],
    ["policy", "f-policy"],
    ["action", "f-action"],
    ["model", "f-model"],
    ["keyId", "f-key"],
    ["owner", "f-owner"],
    ["sessionId", "f-session"],
    ["status", "f-status"],
    ["label", "f-label"],
  ];
  const SINCE = { "15m": 15 * 60e3, "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
  let since = "";
  // The URL's exact range (a dashboard bucket's, to the millisecond), until the inputs (minutes) are edited.
  const exact = { from: "", to: "" };

  /** A datetime-local input's value for an ISO time, in local time. */
  const localInput = (iso) => {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    return new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  };

  /** The list's filters as they go in the URL: what the inputs say, a relative range (`since`), the order. */
  function filterParams() {
    const q = new URLSearchParams();
    for (const [k, id] of TEXT_FILTERS) {
      const v = $(id).value.trim();
      if (v) q.set(k, v);
    }
    const verdicts = [...document.querySelectorAll("#f-verdicts input:checked")].map((i) => i.value);
    if (verdicts.length) q.set("verdict", verdicts.join(","));
    if (since) q.set("since", since);
    else {
      for (const [k, id] of [
        ["from", "f-from"],
        ["to", "f-to"],
      ]) {
        const v = exact[k] || ($(id).value ? new Date($(id).value).toISOString() : "");
        if (v) q.set(k, v);
      }
    }
    if (sortState.sort !== "started") q.set("sort", sortState.sort);
    if (sortState.order !== "desc") q.set("order", sortState.order);
    return q;
  }

  /** The API's query for the list: the URL's filters with `since` turned into `from`. */
  function callQuery() {
    const q = filterParams();
    const s = q.get("since");
    if (s) {
      q.delete("since");
      q.set("from", new Date(Date.now() - (SINCE[s] ?? 0)).toISOString());
    }
    return q;
  }

  /** Puts the URL's filters into the inputs and loads the list when they changed. */
  function applyFilters(params) {
    for (const [k, id] of TEXT_FILTERS) {
      const v = params.get(k) ?? "";
      if (id === "f-policy" && v && ![...$(id).options].some((o) => o.value === v)) $(id).append(new Option(v, v));
      $(id).value = v;
    }
    const verdicts = (params.get("verdict") ?? "").split(",");
    renderVerdictPicks(null, verdicts);
    since = SINCE[params.get("since") ?? ""] ? params.get("since") : "";
    exact.from = since ? "" : (params.get("from") ?? "");
    exact.to = since ? "" : (params.get("to") ?? "");
    $("f-from").value = localInput(exact.from);
    $("f-to").value = localInput(exact.to);
    for (const b of document.querySelectorAll("#f-presets button")) b.classList.toggle("on", b.dataset.since === since && (since !== "" || (!params.get("from") && !params.get("to"))));
    sortState.sort = ["latency", "ttft", "cost"].includes(params.get("sort")) ? params.get("sort") : "started";
    sortState.order = params.get("order") === "asc" ? "asc" : "desc";
    for (const th of document.querySelectorAll("#calls-table th.sortable")) {
      th.setAttribute("aria-sort", th.dataset.sort === sortState.sort ? (sortState.order === "asc" ? "ascending" : "descending") : "none");
    }
    const key = filterParams().toString();
    // The same filters: only what arrived while the list was not shown.
    if (key === loadedFilters) return refreshSoon();
    loadedFilters = key;
    nextCursor = null;
    void loadCalls(true);
  }

  /** Navigates to the list with the inputs' filters (the URL is the list's state: shareable, back/forward work). */
  function searchCalls() {
    const q = filterParams().toString();
    const hash = q ? "#/?" + q : "#/";
    if (location.hash === hash || (hash === "#/" && location.hash === "")) {
      loadedFilters = null;
      applyFilters(hashParams());
    } else location.hash = hash;
  }

  /** The outcome pickers, with counts when the facets are in. */
  let verdictCounts = {};
  function renderVerdictPicks(counts, checked) {
    if (counts) verdictCounts = counts;
    const box = $("f-verdicts");
    const on = checked ?? [...box.querySelectorAll("input:checked")].map((i) => i.value);
    box.replaceChildren(
      ...VERDICTS.map((v) => {
        const label = el("label", "verdict-pick verdict-" + v);
        const input = el("input");
        input.type = "checkbox";
        input.value = v;
        input.checked = on.includes(v);
        input.addEventListener("change", searchCalls);
        label.append(input, el("span", "", verdictText(v)));
        if (verdictCounts[v] !== undefined) label.append(el("span", "count", verdictCounts[v]));
        label.title = VERDICT_HELP[v];
        return label;
      }),
    );
  }
  renderVerdictPicks({}, []);

  /** Fills the pickers with the values calls have (GET /api/facets). */
  async function loadFacets() {
    try {
      // The last week's values: what a person picks from, at a cost that does not grow with the table.
      const f = await api("/api/facets?from=" + encodeURIComponent(new Date(Date.now() - SINCE["7d"]).toISOString()));
      const fill = (id, values) => $(id).replaceChildren(...values.map((v) => el("option", "", v.value)));
      fill("dl-actions", f.actions);
      fill("dl-models", f.models);
      fill("dl-keys", f.keys);
      fill("dl-owners", f.owners);
      fill("dl-sessions", f.sessions);
      fill("dl-statuses", f.statuses);
      const policy = $("f-policy");
      const current = policy.value;
      policy.replaceChildren(new Option("any policy", ""), ...f.policies.map((p) => new Option(`${p.value} (${p.count})`, p.value)));
      if (current && ![...policy.options].some((o) => o.value === current)) policy.append(new Option(current, current));
      policy.value = current;
      renderVerdictPicks(Object.fromEntries(f.verdicts.map((v) => [v.value, v.count])));
    } catch {}
  }
  let facetsTimer = null;
  function loadFacetsSoon() {
    if (facetsTimer) return;
    facetsTimer = setTimeout(() => {
      facetsTimer = null;
      void loadFacets();
    }, 15_000);
  }

  function updateExportLinks() {
    const q = callQuery();
    $("export-csv").href = "/api/calls/export?format=csv&" + q;
    $("export-json").href = "/api/calls/export?format=json&" + q;
  }

  async function loadCalls(reset) {
    const q = callQuery();
    q.set("limit", "50");
    if (!reset && nextCursor) q.set("cursor", nextCursor);
    updateExportLinks();
    try {
      const page = await api("/api/calls?" + q);
      if (reset) calls.clear();
      for (const c of page.calls) calls.set(c.callId, c);
      nextCursor = page.nextCursor;
      renderCalls();
    } catch (err) {
      void loadFailed(err, "calls-empty", "calls");
    }
  }

  /** A list could not be loaded: back to the login when the session is gone, else the reason in its empty line. */
  function loadFailed(err, emptyId, what) {
    if (err instanceof Unauthorized) return boot();
    $(emptyId).textContent = `Could not load ${what}: ${err.message}`;
    $(emptyId).hidden = false;
  }

  /** Refreshes the newest page (live updates) without dropping pages loaded with "Load more". */
  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      if (views.home.hidden) return;
      // Sorted by a figure, a new call's place is anywhere: the first page again.
      if (sortState.sort !== "started") return void loadCalls(true);
      const q = callQuery();
      q.set("limit", "50");
      try {
        const page = await api("/api/calls?" + q);
        for (const c of page.calls) calls.set(c.callId, c);
        if (nextCursor === null) nextCursor = page.nextCursor;
        renderCalls();
      } catch {}
    }, 400);
  }

  function renderCalls() {
    const rows = [...calls.values()];
    // Newest first (or oldest) by start; any other order is the server's, as loaded.
    if (sortState.sort === "started") {
      const dir = sortState.order === "asc" ? -1 : 1;
      rows.sort((a, b) => dir * (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.callId < b.callId ? 1 : -1));
    }
    const body = $("calls-body");
    body.replaceChildren(
      ...rows.map((c) => {
        const tr = el("tr", "call-row");
        tr.dataset.callId = c.callId;
        tr.tabIndex = 0;
        tr.addEventListener("click", () => (location.hash = "#/calls/" + encodeURIComponent(c.callId)));
        tr.addEventListener("keydown", (e) => {
          if (e.key === "Enter") location.hash = "#/calls/" + encodeURIComponent(c.callId);
        });
        const out = el("td", "outcome-cell");
        out.append(verdictBadge(c));
        if (c.decidedBy) out.append(el("span", "decided-by", "by " + c.decidedBy));
        tr.append(out);
        tr.append(el("td", "nowrap", fmtTime(c.startedAt)));
        const idCell = el("td", "mono");
        const a = el("a", "", shortId(c.callId));
        a.href = "#/calls/" + encodeURIComponent(c.callId);
        a.title = c.callId;
        idCell.append(a);
        if (c.stream) idCell.append(el("span", "tag", "stream"));
        if (c.label) idCell.append(el("span", "tag label-" + c.label.label, LABEL_TEXT[c.label.label] ?? c.label.label));
        tr.append(idCell);
        tr.append(el("td", "", c.model ?? "—"));
        tr.append(el("td", "mono", c.keyId ?? "—"));
        const st = el("td");
        st.append(el("span", "status " + statusClass(c.status, c.outcome), c.status ?? (c.endedAt ? "?" : "…")));
        if (c.outcome && c.outcome !== "ok") st.append(el("span", "muted small", " " + c.outcome));
        tr.append(st);
        tr.append(el("td", "num", ms(c.latencyMs)));
        tr.append(el("td", "num", ms(c.ttftMs)));
        tr.append(el("td", "num", c.inputTokens !== null || c.outputTokens !== null ? `${c.inputTokens ?? "—"} / ${c.outputTokens ?? "—"}` : "—"));
        tr.append(el("td", "num", c.costUsd !== null && c.costUsd !== undefined ? usd(c.costUsd) : "—"));
        const pol = el("td", "policy-cell");
        if (c.changeSummary) pol.append(el("div", "change-summary", c.changeSummary));
        else if (c.errorType && c.verdict !== "allowed") pol.append(el("div", "change-summary muted", `${c.errorType}: ${c.errorMessage ?? ""}`.slice(0, 160)));
        for (const a2 of byShadow(c.policyActions)) pol.append(actionBadge(a2));
        if (c.bypassed) pol.append(el("span", "badge warn", "bypassed: " + c.bypassed));
        tr.append(pol);
        return tr;
      }),
    );
    $("calls-empty").textContent = "No calls match.";
    $("calls-empty").hidden = rows.length !== 0;
    $("calls-more").hidden = nextCursor === null;
  }

  $("call-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    searchCalls();
  });
  $("f-policy").addEventListener("change", searchCalls);
  $("f-label").addEventListener("change", searchCalls);
  for (const b of document.querySelectorAll("#f-presets button")) {
    b.addEventListener("click", () => {
      since = b.dataset.since;
      $("f-from").value = "";
      $("f-to").value = "";
      exact.from = exact.to = "";
      searchCalls();
    });
  }
  for (const [k, id] of [
    ["from", "f-from"],
    ["to", "f-to"],
  ]) {
    $(id).addEventListener("change", () => {
      since = "";
      exact[k] = "";
    });
  }
  for (const th of document.querySelectorAll("#calls-table th.sortable")) {
    th.querySelector("button").addEventListener("click", () => {
      const s = th.dataset.sort;
      if (sortState.sort === s) sortState.order = sortState.order === "desc" ? "asc" : "desc";
      else {
        sortState.sort = s;
        sortState.order = "desc";
      }
      searchCalls();
    });
  }
  $("f-reset").addEventListener("click", () => {
    for (const [, id] of TEXT_FILTERS) $(id).value = "";
    for (const i of document.querySelectorAll("#f-verdicts input")) i.checked = false;
    $("f-from").value = "";
    $("f-to").value = "";
    since = exact.from = exact.to = "";
    sortState.sort = "started";
    sortState.order = "desc";
    searchCalls();
  });
  $("calls-more").addEventListener("click", () => loadCalls(false));

  onEvent((ev) => {
    if (isConfigEvent(ev)) return loadConfigSoon();
    if (ev.type.startsWith("approval.")) loadApprovalsSoon();
    if (ev.type.startsWith("call.") || ev.type.startsWith("policy.")) refreshGroupSoon();
    if (ev.type.startsWith("call.") || ev.type.startsWith("policy.")) refreshSoon();
    if (ev.type === "call.ended") loadFacetsSoon();
    if (ev.type.startsWith("call.") && !views.dashboard.hidden) refreshDashboardSoon();
    if (currentCall && ev.callId === currentCall) {
      if (ev.type === "chunk.received" || ev.type === "chunk.sent") liveChunk(ev);
      else reloadCallSoon();
    }
  });

  // ---------------------------------------------------------------- sessions and keys

  /** A table row of text cells; `link` makes the first cell a link. */
  function row(cells, link) {
    const tr = el("tr", link ? "call-row" : "");
    cells.forEach((v, i) => {
      const td = el("td", typeof v === "number" ? "num" : "");
      if (i === 0 && link) {
        const a = el("a", "mono", v);
        a.href = link;
        td.append(a);
      } else td.textContent = v === null || v === undefined || v === "" ? "—" : String(v);
      tr.append(td);
    });
    return tr;
  }

  /** The Sessions, Session and Keys views follow the live feed like the call list does. */
  let groupTimer = null;
  function refreshGroupSoon() {
    if (groupTimer) return;
    groupTimer = setTimeout(() => {
      groupTimer = null;
      if (!views.sessions.hidden) void renderSessions();
      else if (!views.keys.hidden) void renderKeys();
      else if (!views.session.hidden) void renderSession($("session-id").textContent);
    }, 500);
  }

  async function renderSessions() {
    try {
      const { sessions } = await api("/api/sessions?limit=200");
      $("sessions-body").replaceChildren(
        ...sessions.map((s) =>
          row(
            [s.sessionId, s.calls, fmtTime(s.firstAt), fmtTime(s.lastAt), s.keyIds.join(", "), s.owners.join(", "), s.intervened, tokens(s.inputTokens, s.outputTokens), usd(s.costUsd)],
            "#/sessions/" + encodeURIComponent(s.sessionId),
          ),
        ),
      );
      $("sessions-empty").textContent = "No sessions yet.";
      $("sessions-empty").hidden = sessions.length !== 0;
    } catch (err) {
      void loadFailed(err, "sessions-empty", "sessions");
    }
  }

  async function renderSession(id) {
    $("session-id").textContent = id;
    try {
      const page = await api("/api/sessions/" + encodeURIComponent(id));
      $("session-calls").replaceChildren(
        ...page.calls.map((c) => {
          const li = el("li", "call-row");
          const a = el("a", "mono", fmtTime(c.startedAt) + "  " + shortId(c.callId));
          a.href = "#/calls/" + encodeURIComponent(c.callId);
          li.append(a, el("span", "", "  " + (c.model ?? "—") + "  "));
          li.append(verdictBadge(c), el("span", "", " "));
          li.append(el("span", "status " + statusClass(c.status, c.outcome), c.status ?? "…"));
          if (c.outcome && c.outcome !== "ok") li.append(el("span", "muted small", " " + c.outcome));
          if (c.changeSummary) li.append(el("span", "change-summary inline", c.changeSummary));
          for (const p of byShadow(c.policyActions)) li.append(actionBadge(p));
          if (c.errorType) li.append(el("span", "badge warn", c.errorType));
          return li;
        }),
      );
      $("session-empty").hidden = page.calls.length !== 0;
    } catch (err) {
      void loadFailed(err, "session-empty", "the session");
    }
  }

  const describeMap = (o) =>
    Object.entries(o || {})
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : v}`)
      .join(" ");

  async function renderKeys() {
    try {
      const { keys } = await api("/api/keys/usage?limit=200");
      $("usage-body").replaceChildren(
        ...keys.map((k) => {
          return row(
            [k.keyId, k.owners.join(", "), k.calls, tokens(k.inputTokens, k.outputTokens), usd(k.costUsd), k.limited, k.budgetRefused, k.denied, fmtTime(k.lastAt)],
            "#/?keyId=" + encodeURIComponent(k.keyId),
          );
        }),
      );
      $("usage-empty").textContent = "No calls with a key yet.";
      $("usage-empty").hidden = keys.length !== 0;
    } catch (err) {
      void loadFailed(err, "usage-empty", "key usage");
    }
    try {
      const { keys } = await api("/api/keys");
      $("keys-body").replaceChildren(
        ...keys.map((k) =>
          row([
            k.id,
            k.name,
            k.owner,
            k.revokedAt ? "revoked " + fmtTime(k.revokedAt) : k.expiresAt && Date.parse(k.expiresAt) <= Date.now() ? "expired" : "active",
            describeMap(k.scopes),
            describeMap(k.limits),
          ]),
        ),
      );
      $("keys-empty").textContent = "No virtual keys.";
      $("keys-empty").hidden = keys.length !== 0;
    } catch (err) {
      void loadFailed(err, "keys-empty", "virtual keys");
    }
  }

  // ---------------------------------------------------------------- policy configuration changes

  function isConfigEvent(ev) {
    return ev.type.startsWith("policy.config.");
  }

  async function loadConfigEvents() {
    try {
      const { configEvents } = await api("/api/config-events?limit=20");
      $("config-list").replaceChildren(
        ...configEvents.map((e) => {
          const li = el("li", "config-row " + (e.type === "policy.config.rejected" ? "rejected" : "reloaded"));
          li.append(el("time", "at nowrap", fmtTime(e.time)));
          li.append(el("span", "type", e.type === "policy.config.rejected" ? "rejected" : e.type === "policy.config.reloaded" ? "reloaded" : e.type));
          li.append(el("span", "summary", summaryOf(e)));
          return li;
        }),
      );
      $("config-empty").hidden = configEvents.length !== 0;
    } catch (err) {
      void loadFailed(err, "config-empty", "configuration changes");
    }
  }

  let configTimer = null;
  function loadConfigSoon() {
    if (configTimer) return;
    configTimer = setTimeout(() => {
      configTimer = null;
      void loadConfigEvents();
    }, 300);
  }

  // ---------------------------------------------------------------- call page

  let currentCall = null;
  let callTimer = null;

  function closeCall() {
    currentCall = null;
  }

  function reloadCallSoon() {
    if (callTimer) return;
    callTimer = setTimeout(() => {
      callTimer = null;
      if (currentCall) void renderCall(currentCall);
    }, 300);
  }

  function openCall(id) {
    // Another call's page is never shown under this call's id while it loads.
    if (id !== currentCall) {
      for (const part of ["call-facts", "call-actions", "request-diff", "response-diff", "call-events"]) $(part).replaceChildren();
      for (const part of ["error-body-card", "live-card", "call-summary", "call-shadow"]) $(part).hidden = true;
      $("call-verdict").replaceChildren();
      $("call-verdict").className = "verdict";
    }
    currentCall = id;
    $("call-id").textContent = id;
    void renderCall(id);
  }

  async function renderCall(id) {
    let d;
    try {
      d = await api("/api/calls/" + encodeURIComponent(id));
      $("call-error").hidden = true;
    } catch (err) {
      if (err instanceof Unauthorized) return boot();
      $("call-error").textContent = /no such call/.test(err.message) ? "No events of this call are stored (yet)." : "Could not load the call: " + err.message;
      $("call-error").hidden = false;
      $("call-facts").replaceChildren();
      $("call-actions").replaceChildren();
      $("request-diff").replaceChildren();
      $("response-diff").replaceChildren();
      $("call-events").replaceChildren();
      return;
    }
    if (id !== currentCall) return;
    const c = d.call || {};
    $("call-verdict").replaceWith(Object.assign(verdictBadge(c), { id: "call-verdict" }));
    const summary = [c.decidedBy ? `${verdictText(c.verdict)} by ${c.decidedBy}` : null, c.changeSummary].filter(Boolean).join(": ");
    $("call-summary").textContent = summary;
    $("call-summary").hidden = summary === "";
    $("error-body-card").hidden = d.errorBody === null || d.errorBody === undefined;
    $("call-error-body").textContent = d.errorBody === null || d.errorBody === undefined ? "" : prettyLines(d.errorBody).join("\n");
    renderLive(c, d.events);
    const outcome = $("call-outcome");
    outcome.textContent = c.status !== undefined && c.status !== null ? `${c.status} ${c.outcome ?? ""}` : "in progress";
    outcome.className = "pill " + statusClass(c.status, c.outcome);

    const facts = [
      ["Started", fmtTime(c.startedAt)],
      ["Ended", fmtTime(c.endedAt)],
      ["Model", c.model],
      ["Provider", c.provider],
      ["Format", c.format],
      ["Route", c.route],
      ["Stream", c.stream === null || c.stream === undefined ? null : c.stream ? "yes" : "no"],
      ["Key", c.keyId],
      ["Owner", c.owner],
      ["User", c.userId],
      ["Session", c.sessionId],
      ["Cost", c.costUsd !== null && c.costUsd !== undefined ? usd(c.costUsd) : null],
      ["Latency", c.latencyMs !== null && c.latencyMs !== undefined ? ms(c.latencyMs) : null],
      ["Time to first token", c.ttftMs !== null && c.ttftMs !== undefined ? ms(c.ttftMs) : null],
      ["Tokens in / out", c.inputTokens !== null && c.inputTokens !== undefined ? `${c.inputTokens} / ${c.outputTokens ?? "—"}` : null],
      ["Chunks in / out", c.chunksIn !== null && c.chunksIn !== undefined ? `${c.chunksIn} / ${c.chunksOut ?? "—"}` : null],
      ["Engine", c.engine],
      ["Chain", c.chain],
      ["Config version", c.configVersion],
      ["Error", c.errorType ? `${c.errorType}: ${c.errorMessage ?? ""}` : null],
    ];
    $("call-facts").replaceChildren(
      ...facts
        .filter(([, v]) => v !== null && v !== undefined && v !== "")
        .map(([k, v]) => {
          const div = el("div", "fact");
          div.append(el("dt", "", k), el("dd", "", v));
          return div;
        }),
    );

    const actions = $("call-actions");
    actions.replaceChildren();
    const acts = (c.policyActions || []).filter((a) => !shadowOf(a));
    const shadows = (c.policyActions || []).filter((a) => shadowOf(a));
    if (acts.length || c.bypassed) {
      actions.append(el("span", "muted", "Policy interventions: "));
      for (const a of acts) actions.append(actionBadge(a));
      if (c.bypassed) actions.append(el("span", "badge warn", "served without policy: " + c.bypassed));
    } else if (c.endedAt) {
      actions.append(el("span", "muted", "No policy intervened in this call."));
    }
    $("call-shadow").replaceChildren(el("span", "muted", "Shadow mode (recorded, not applied): "), ...shadows.map(actionBadge));
    $("call-shadow").hidden = shadows.length === 0;
    renderLabel(c.label ?? null);

    renderOriginalsNote(d.originals || {});
    $("request-diff").replaceChildren(diffView(d.request.original, d.request.final, "original request", "final request"));
    $("response-diff").replaceChildren(diffView(d.response.original, d.response.final, "original response", "final response"));

    $("events-note").textContent = d.eventsTruncated ? `first ${d.events.length} events shown` : `${d.events.length} events`;
    $("call-events").replaceChildren(
      ...d.events.map((e) => {
        const li = el("li", "tl-row " + typeClass(e.type));
        const head = el("div", "tl-head");
        head.append(el("time", "at", clock(e.time)));
        head.append(el("span", "src src-" + e.source, e.source === "control-plane" ? "engine" : "gateway"));
        head.append(el("span", "seq", "#" + e.seq));
        head.append(el("span", "type", e.type));
        head.append(el("span", "summary", summaryOf(e)));
        const details = el("details");
        details.append(el("summary", "", "data"));
        details.append(el("pre", "json", prettyLines(e.data).join("\n")));
        li.append(head, details);
        return li;
      }),
    );
  }

  /** Says on the call page how the originals shown were stored (MONITOR_STORE_ORIGINALS when they arrived). */
  function renderOriginalsNote(originals) {
    const note = $("originals-note");
    const modes = [originals.request, originals.response].filter((m) => m !== null && m !== undefined);
    const mode = modes.includes("full") ? "full" : modes.includes("none") ? "none" : modes.includes("redacted") ? "redacted" : null;
    const texts = {
      redacted:
        "Originals are stored with secrets redacted (MONITOR_STORE_ORIGINALS=redacted): a key, token or private key the secret-redaction detectors recognise shows as [MONITOR-REDACTED:<kind>]. Finals are stored as they went on the wire.",
      full: "Originals are stored in full, secrets included (MONITOR_STORE_ORIGINALS=full).",
      none: "Original bodies are not stored (MONITOR_STORE_ORIGINALS=none): only the final versions are shown.",
    };
    if (mode === null) {
      note.textContent = `Originals of this call are not stored (yet). This monitor stores them: ${storeOriginals} (MONITOR_STORE_ORIGINALS).`;
      note.className = "originals-note";
    } else {
      note.textContent = texts[mode];
      note.className = "originals-note " + mode;
    }
    note.hidden = false;
  }

  // ---------------------------------------------------------------- a stream in flight

  // The text of a streamed call so far, original and final, from its chunk events (ACTIVITY_CHUNKS=on): rebuilt
  // from the stored ones on every render, then grown by each live one not seen yet.
  const live = { callId: null, seen: new Set(), text: { "chunk.received": "", "chunk.sent": "" } };

  /** The text (answer, tool call names and arguments) one stream event adds, in any of the three formats. */
  function deltaText(data) {
    let j;
    try {
      j = typeof data === "string" ? JSON.parse(data) : data;
    } catch {
      return "";
    }
    if (j === null || typeof j !== "object") return "";
    if (Array.isArray(j.choices)) {
      return j.choices
        .map((c) => {
          const d = c.delta || {};
          const tools = (d.tool_calls || []).map((t) => (t.function && t.function.name ? `\n[tool call ${t.function.name}] ` : "") + ((t.function && t.function.arguments) || "")).join("");
          return (typeof d.content === "string" ? d.content : "") + tools;
        })
        .join("");
    }
    switch (j.type) {
      case "content_block_start":
        return j.content_block && j.content_block.type === "tool_use" ? `\n[tool call ${j.content_block.name}] ` : "";
      case "content_block_delta":
        return (j.delta && (j.delta.text ?? j.delta.partial_json ?? j.delta.thinking)) || "";
      case "response.output_text.delta":
      case "response.function_call_arguments.delta":
        return typeof j.delta === "string" ? j.delta : "";
      case "response.output_item.added":
        return j.item && j.item.type === "function_call" ? `\n[tool call ${j.item.name}] ` : "";
      default:
        return "";
    }
  }

  function renderLive(c, events) {
    const card = $("live-card");
    const streaming = !c.endedAt && c.stream === true;
    card.hidden = !streaming;
    if (!streaming) return;
    live.callId = c.callId;
    live.seen = new Set();
    live.text = { "chunk.received": "", "chunk.sent": "" };
    for (const e of events) liveChunk(e, false);
    $("live-note").textContent =
      live.seen.size > 0
        ? "as the gateway relays it; policy events appear below as they happen"
        : "no stream chunks are published (the gateway's ACTIVITY_CHUNKS is off): the response shows when the call ends";
    paintLive();
  }

  function liveChunk(ev, paint = true) {
    if (ev.type !== "chunk.received" && ev.type !== "chunk.sent") return;
    if (ev.callId !== live.callId || live.seen.has(ev.id)) return;
    live.seen.add(ev.id);
    live.text[ev.type] += deltaText(ev.data && ev.data.data);
    if (paint) paintLive();
  }

  function paintLive() {
    $("live-original").textContent = live.text["chunk.received"];
    $("live-final").textContent = live.text["chunk.sent"];
    if (live.seen.size > 0) $("live-note").textContent = "as the gateway relays it; policy events appear below as they happen";
  }

  // ---------------------------------------------------------------- labels

  const LABEL_TEXT = { should_block: "should have been blocked", fine: "fine" };

  function renderLabel(label) {
    const current = $("label-current");
    current.textContent = label ? LABEL_TEXT[label.label] + (label.note ? ": " + label.note : "") : "none";
    current.className = "label-current" + (label ? " label-" + label.label : "");
    $("label-clear").hidden = !label;
  }

  async function labelCall(label) {
    const id = currentCall;
    if (!id) return;
    $("label-error").hidden = true;
    try {
      if (label === null) await send("DELETE", "/api/calls/" + encodeURIComponent(id) + "/label");
      else await send("PUT", "/api/calls/" + encodeURIComponent(id) + "/label", { label, note: $("label-note").value.trim() });
      $("label-note").value = "";
      await renderCall(id);
    } catch (err) {
      if (err instanceof Unauthorized) return boot();
      $("label-error").textContent = "Could not save the label: " + err.message;
      $("label-error").hidden = false;
    }
  }
  $("label-block").addEventListener("click", () => labelCall("should_block"));
  $("label-fine").addEventListener("click", () => labelCall("fine"));
  $("label-clear").addEventListener("click", () => labelCall(null));
  $("label-form").addEventListener("submit", (e) => e.preventDefault());

  // ---------------------------------------------------------------- approvals

  /** `1m 05s` */
  function duration(msLeft) {
    const s = Math.max(0, Math.round(msLeft / 1000));
    return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
  }

  /** Every countdown on the page, updated once a second. */
  function tickCountdowns() {
    for (const e of document.querySelectorAll("[data-expires]")) {
      const left = Date.parse(e.dataset.expires) - Date.now();
      e.textContent = left > 0 ? "expires in " + duration(left) : "expired";
      e.classList.toggle("soon", left < 30_000);
    }
  }
  setInterval(tickCountdowns, 1000);
  // An engine that dies says nothing: its approvals turn lost at their expiry, seen by asking again.
  setInterval(() => {
    if (authed && !views.approvals.hidden) void loadApprovals();
  }, 10_000);

  /** Key, owner, session, model and call of an approval, as facts. */
  function approvalFacts(a) {
    const r = a.requested;
    const dl = el("dl", "facts compact");
    for (const [k, v] of [
      ["Key", r.keyId],
      ["Owner", r.owner],
      ["Session", r.sessionId],
      ["Model", r.model],
      ["User", r.userId],
    ]) {
      if (v === undefined || v === null || v === "") continue;
      const div = el("div", "fact");
      div.append(el("dt", "", k), el("dd", "", v));
      dl.append(div);
    }
    const div = el("div", "fact");
    const link = el("a", "mono", shortId(a.callId));
    link.href = "#/calls/" + encodeURIComponent(a.callId);
    link.title = a.callId;
    const dd = el("dd");
    dd.append(link);
    div.append(el("dt", "", "Call"), dd);
    dl.append(div);
    return dl;
  }

  function approvalHead(a) {
    const head = el("div", "approval-head");
    head.append(el("code", "tool", a.requested.tool));
    head.append(el("span", "muted", "held by " + a.requested.policy));
    head.append(el("time", "at", fmtTime(a.requestedAt)));
    return head;
  }

  function argumentsView(input) {
    let text;
    try {
      text = JSON.stringify(input, null, 2);
    } catch {
      text = String(input);
    }
    return el("pre", "json arguments", text === undefined ? "(no arguments)" : text);
  }

  // Pending items are kept across refreshes, so a note being typed survives new activity.
  const pendingItems = new Map();

  function pendingItem(a) {
    const li = el("li", "approval pending");
    li.dataset.approvalId = a.approvalId;
    const head = approvalHead(a);
    const countdown = el("span", "countdown");
    countdown.dataset.expires = a.expiresAt;
    head.append(countdown);
    li.append(head);
    if (a.requested.reason) li.append(el("p", "reason", a.requested.reason));
    li.append(approvalFacts(a), argumentsView(a.requested.input));
    const form = el("form", "decide");
    form.autocomplete = "off";
    const note = el("input", "wide note");
    note.placeholder = "note (shown to the client with a denial)";
    note.setAttribute("aria-label", "Decision note");
    note.maxLength = 2000;
    const result = el("p", "decide-result");
    result.hidden = true;
    const button = (text, cls, decision, scope) => {
      const b = el("button", cls, text);
      b.type = "button";
      b.addEventListener("click", async () => {
        for (const x of form.querySelectorAll("button")) x.disabled = true;
        result.hidden = true;
        const body = { note: note.value.trim(), ...(scope ? { scope } : {}) };
        try {
          const r = await send("POST", `/api/approvals/${encodeURIComponent(a.approvalId)}/${decision}`, body);
          result.textContent = r.state;
          result.className = "decide-result ok";
        } catch (err) {
          if (err instanceof Unauthorized) return boot();
          // A refused decision (late, already decided, no engine holds it) is said as such, and stays in the list.
          result.textContent = (err.type ? "refused: " + err.type.replace(/_/g, " ") + " — " : "") + err.message;
          result.className = "decide-result error";
          for (const x of form.querySelectorAll("button")) x.disabled = false;
        }
        result.hidden = false;
        loadApprovalsSoon();
      });
      return b;
    };
    form.append(note, button("Approve", "primary approve", "approve"), button("Approve for this session", "approve-session", "approve", "session"), button("Deny", "danger deny", "deny"));
    form.addEventListener("submit", (e) => e.preventDefault());
    li.append(form, result);
    return li;
  }

  function refusalLine(r) {
    const li = el("li", "refusal");
    li.append(el("span", "badge warn", "refused: " + String(r.reason).replace(/_/g, " ")));
    li.append(el("span", "", ` ${r.decision || "decision"}${r.by ? " by " + r.by : ""} at ${fmtTime(r.at)}`));
    if (r.message) li.append(el("span", "muted", " — " + r.message));
    return li;
  }

  function decidedItem(a) {
    const li = el("li", "approval decided state-" + a.state);
    li.dataset.approvalId = a.approvalId;
    const head = approvalHead(a);
    head.append(el("span", "pill state s-" + a.state, a.lost ? "lost" : a.state));
    li.append(head);
    const d = a.decided;
    const what = el("p", "outcome");
    if (d) {
      const parts = [d.state];
      if (d.by) parts.push("by " + d.by);
      if (d.scope === "session") parts.push("for the session" + (d.pattern ? " (arguments matching " + d.pattern + ")" : ""));
      parts.push("after " + ms(d.waitedMs));
      what.textContent = parts.join(" · ");
      if (d.note) what.append(el("span", "note-text", " — " + d.note));
    } else if (a.lost) {
      what.textContent = "Never decided: its policy engine stopped without a word, and the call was refused.";
    }
    li.append(what);
    if (a.requested.reason) li.append(el("p", "reason", a.requested.reason));
    li.append(approvalFacts(a));
    const args = el("details");
    args.append(el("summary", "", "arguments"), argumentsView(a.requested.input));
    li.append(args);
    if (a.refused.length) {
      const list = el("ul", "refusals");
      list.append(...a.refused.map(refusalLine));
      li.append(list);
    }
    return li;
  }

  async function loadApprovals() {
    try {
      const [{ approvals: pending }, { approvals: decided }] = await Promise.all([api("/api/approvals?state=pending&limit=200"), api("/api/approvals?state=decided&limit=50")]);
      const ids = new Set(pending.map((a) => a.approvalId));
      for (const id of pendingItems.keys()) if (!ids.has(id)) pendingItems.delete(id);
      $("approvals-pending").replaceChildren(
        ...pending.map((a) => {
          let li = pendingItems.get(a.approvalId);
          if (!li) {
            li = pendingItem(a);
            pendingItems.set(a.approvalId, li);
          }
          return li;
        }),
      );
      $("approvals-pending-empty").textContent = "Nothing is waiting.";
      $("approvals-pending-empty").hidden = pending.length !== 0;
      $("approvals-decided").replaceChildren(...decided.map(decidedItem));
      $("approvals-decided-empty").hidden = decided.length !== 0;
      $("approvals-count").textContent = String(pending.length);
      $("approvals-count").hidden = pending.length === 0;
      tickCountdowns();
    } catch (err) {
      void loadFailed(err, "approvals-pending-empty", "approvals");
    }
  }

  let approvalsTimer = null;
  function loadApprovalsSoon() {
    if (approvalsTimer) return;
    approvalsTimer = setTimeout(() => {
      approvalsTimer = null;
      void loadApprovals();
    }, 250);
  }

  // ---------------------------------------------------------------- replays

  const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(0) + "%");

  async function renderReplays() {
    try {
      const { replays } = await api("/api/replays?limit=200");
      $("replays-body").replaceChildren(
        ...replays.map((r) =>
          row(
            [
              fmtTime(r.createdAt),
              fmtTime(r.since),
              fmtTime(r.until),
              r.calls,
              r.labelled,
              r.policies.map((p) => `${p.policy}: ${p.changed ?? 0} changed, precision ${pct(p.precision)}, recall ${pct(p.recall)}`).join("; "),
            ],
            "#/replays/" + encodeURIComponent(r.id),
          ),
        ),
      );
      $("replays-empty").textContent = "No replay reports yet.";
      $("replays-empty").hidden = replays.length !== 0;
    } catch (err) {
      void loadFailed(err, "replays-empty", "replay reports");
    }
  }

  async function renderReplay(id) {
    $("replay-id").textContent = id;
    let r;
    try {
      r = await api("/api/replays/" + encodeURIComponent(id));
      $("replay-error").hidden = true;
    } catch (err) {
      if (err instanceof Unauthorized) return boot();
      $("replay-error").textContent = "Could not load the report: " + err.message;
      $("replay-error").hidden = false;
      return;
    }
    const report = r.report || {};
    const policies = Array.isArray(report.policies) ? report.policies : [];
    const failed = Array.isArray(report.failed) ? report.failed.length : null;
    $("replay-facts").replaceChildren(
      ...[
        ["Made", fmtTime(r.createdAt)],
        ["Calls from", fmtTime(report.since)],
        ["to", fmtTime(report.until)],
        ["Calls", report.calls],
        ["Labelled", report.labelled],
        ["Could not replay", failed],
      ]
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => {
          const div = el("div", "fact");
          div.append(el("dt", "", k), el("dd", "", v));
          return div;
        }),
    );
    const n = (v) => (typeof v === "number" ? v : "—");
    $("replay-policies").replaceChildren(
      ...policies.map((p) =>
        row([
          String(p.policy),
          n(p.changed),
          n(p.blocked),
          n(p.redacted),
          n(p.held),
          n(p.rewritten),
          n(p.denied),
          `${pct(p.precision)} (${n(p.tp)}/${n(p.fp)})`,
          `${pct(p.recall)} (${n(p.tp)}/${n(p.fn)})`,
        ]),
      ),
    );
    $("replay-config").textContent = typeof report.config === "string" ? report.config : JSON.stringify(report.config ?? null, null, 2);
    const examples = $("replay-examples");
    examples.replaceChildren();
    let count = 0;
    for (const p of policies) {
      for (const ex of Array.isArray(p.examples) ? p.examples : []) {
        count++;
        const box = el("div", "example");
        const head = el("div", "example-head");
        head.append(el("span", "type", String(p.policy)));
        const link = el("a", "mono", shortId(String(ex.callId)));
        link.href = "#/calls/" + encodeURIComponent(String(ex.callId));
        link.title = String(ex.callId);
        head.append(link);
        for (const a of Array.isArray(ex.actions) ? ex.actions : []) head.append(actionBadge(String(a)));
        const sides = el("div", "before-after");
        for (const [label, text] of [
          ["before (what the client got)", ex.before],
          ["after (with this configuration)", ex.after],
        ]) {
          const col = el("div", "side");
          col.append(el("div", "muted small", label), el("pre", "json", typeof text === "string" ? text : JSON.stringify(text ?? null, null, 2)));
          sides.append(col);
        }
        box.append(head, sides);
        examples.append(box);
      }
    }
    $("replay-examples-empty").hidden = count !== 0;
  }

  // ---------------------------------------------------------------- dashboard

  const charts = [];
  let dashParams = new URLSearchParams();

  /** The dashboard's range: `since` (a preset, relative to now) or `from`/`to`; 24 h when none is given. */
  function dashRange(params) {
    const s = params.get("since");
    const to = params.get("to") ? new Date(params.get("to")) : new Date();
    if (!params.get("from") || s) return { since: SINCE[s] ? s : "24h", from: new Date(to.getTime() - (SINCE[s] ?? SINCE["24h"])), to };
    return { since: "", from: new Date(params.get("from")), to };
  }

  /** A link to the call list over a range, with more filters. */
  const callsLink = (from, to, extra) => "#/?" + new URLSearchParams({ ...extra, from: from.toISOString(), to: to.toISOString() });

  function chart(id, series, data, onPick) {
    const box = $(id);
    box.replaceChildren();
    if (typeof uPlot === "undefined") return void box.append(el("p", "error", "The chart library did not load."));
    const width = Math.max(320, box.clientWidth || 560);
    const u = new uPlot(
      {
        width,
        height: 220,
        // Points too: a range with one busy bucket is one point, which a line alone would not show.
        series: [
          {},
          ...series.map((s) => ({ label: s.label, stroke: s.color, fill: s.fill, width: 2, points: { show: true, size: 5 }, ...(s.value !== undefined ? { value: s.value } : {}) })),
        ],
        axes: [{}, series[0].axis !== undefined ? { size: 76, values: series[0].axis } : { size: 76 }],
        scales: { x: { time: true } },
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      box,
    );
    // Every point is its bucket's calls: a click opens them.
    u.over.addEventListener("click", () => {
      if (u.cursor.idx !== null && u.cursor.idx !== undefined) onPick(u.cursor.idx);
    });
    u.over.title = "click for the calls of this time";
    charts.push(u);
  }

  async function renderDashboard(params) {
    dashParams = params;
    const range = dashRange(params);
    for (const b of document.querySelectorAll("#dash-presets button")) b.classList.toggle("on", b.dataset.since === range.since);
    $("dash-from").value = localInput(range.from.toISOString());
    $("dash-to").value = localInput(range.to.toISOString());
    let d;
    try {
      d = await api(`/api/dashboard?from=${encodeURIComponent(range.from.toISOString())}&to=${encodeURIComponent(range.to.toISOString())}`);
      $("dash-error").hidden = true;
    } catch (err) {
      if (err instanceof Unauthorized) return boot();
      $("dash-error").textContent = "Could not load the dashboard: " + err.message;
      $("dash-error").hidden = false;
      return;
    }
    if (views.dashboard.hidden) return;
    const from = new Date(d.from);
    const to = new Date(d.to);
    $("dash-range-note").textContent =
      `${fmtTime(d.from)} – ${fmtTime(d.to)}, ${Math.round(d.bucketMs / 60000) >= 1 ? Math.round(d.bucketMs / 60000) + " min" : d.bucketMs / 1000 + " s"} buckets`;
    const t = d.totals;
    const total = (label, value, link) => {
      const a = el("a", "total");
      a.href = link;
      a.append(el("span", "total-value", value), el("span", "total-label", label));
      return a;
    };
    $("dash-totals").replaceChildren(
      total("requests", t.requests, callsLink(from, to, {})),
      total("failed", t.errors, callsLink(from, to, { verdict: "failed" })),
      total("interventions", t.interventions, callsLink(from, to, { verdict: "blocked,denied,modified,held" })),
      total("latency p50 / p95", `${ms(t.latencyP50)} / ${ms(t.latencyP95)}`, callsLink(from, to, { sort: "latency" })),
      total("TTFT p50 / p95", `${ms(t.ttftP50)} / ${ms(t.ttftP95)}`, callsLink(from, to, { sort: "ttft" })),
      total("tokens in / out", tokens(t.inputTokens, t.outputTokens), callsLink(from, to, {})),
      total("spend", usd(t.costUsd), callsLink(from, to, { sort: "cost" })),
    );
    $("dash-verdicts").replaceChildren(
      ...d.verdicts.map((v) => {
        const a = el("a", "verdict-count");
        a.href = callsLink(from, to, { verdict: v.value });
        a.append(verdictBadge({ verdict: v.value }), el("span", "count", v.count));
        return a;
      }),
    );
    if (d.verdicts.length === 0) $("dash-verdicts").append(el("span", "muted", "No calls in this range."));

    while (charts.length) charts.pop().destroy();
    const xs = d.series.map((b) => Date.parse(b.t) / 1000);
    const pick = (extra) => (i) => {
      const start = new Date(d.series[i].t);
      location.hash = callsLink(start, new Date(start.getTime() + d.bucketMs), extra);
    };
    const col = (k) => d.series.map((b) => b[k]);
    chart(
      "chart-requests",
      [
        { label: "requests", color: "#4f46e5", fill: "rgba(79,70,229,.08)" },
        { label: "failed", color: "#b42318" },
        { label: "interventions", color: "#7c3aed" },
      ],
      [xs, col("requests"), col("errors"), col("interventions")],
      pick({}),
    );
    chart(
      "chart-latency",
      [
        { label: "latency p50", color: "#12805c", axis: (_, ticks) => ticks.map((v) => v + " ms") },
        { label: "latency p95", color: "#a15c00" },
        { label: "TTFT p50", color: "#4f46e5" },
        { label: "TTFT p95", color: "#9aa3b5" },
      ],
      [xs, col("latencyP50"), col("latencyP95"), col("ttftP50"), col("ttftP95")],
      pick({ sort: "latency" }),
    );
    chart(
      "chart-tokens",
      [
        { label: "input tokens", color: "#4f46e5", fill: "rgba(79,70,229,.08)" },
        { label: "output tokens", color: "#12805c" },
      ],
      [xs, col("inputTokens"), col("outputTokens")],
      pick({}),
    );
    chart(
      "chart-cost",
      [{ label: "USD", color: "#a15c00", fill: "rgba(161,92,0,.08)", value: (_, v) => (v === null ? "—" : usd(v)), axis: (_, ticks) => ticks.map((v) => (v === 0 ? "0" : usd(v))) }],
      [xs, col("costUsd")],
      pick({ sort: "cost" }),
    );

    $("dash-interventions").replaceChildren(
      ...d.interventions.map((i) => {
        const tr = el("tr");
        const a = el("a", "", i.policy);
        a.href = callsLink(from, to, { policy: i.policy });
        const b = el("a", "", i.action);
        b.href = callsLink(from, to, { action: `${i.policy}.${i.action}` });
        const tdA = el("td");
        tdA.append(a);
        const tdB = el("td");
        tdB.append(b);
        tr.append(tdA, tdB, el("td", "num", i.count));
        return tr;
      }),
    );
    $("dash-interventions-empty").hidden = d.interventions.length !== 0;
    const top = (id, groups, param) => {
      const table = el("table", "calls top");
      const head = el("tr");
      for (const h of ["", "calls", "interventions", "tokens in/out", "spend"]) head.append(el("th", h === "" ? "" : "num", h));
      const thead = el("thead");
      thead.append(head);
      const tbody = el("tbody");
      for (const g of groups) {
        const tr = el("tr");
        const td = el("td", "mono");
        const a = el("a", "", g.value);
        a.href = callsLink(from, to, { [param]: g.value });
        td.append(a);
        tr.append(td, el("td", "num", g.calls), el("td", "num", g.interventions), el("td", "num", tokens(g.inputTokens, g.outputTokens)), el("td", "num", usd(g.costUsd)));
        tbody.append(tr);
      }
      table.append(thead, tbody);
      $(id).replaceChildren(groups.length ? table : el("p", "muted", "None in this range."));
    };
    top("dash-top-keys", d.top.keys, "keyId");
    top("dash-top-owners", d.top.owners, "owner");
    top("dash-top-models", d.top.models, "model");
    top("dash-top-sessions", d.top.sessions, "sessionId");
  }

  let dashTimer = null;
  function refreshDashboardSoon() {
    if (dashTimer) return;
    dashTimer = setTimeout(() => {
      dashTimer = null;
      // A fixed range does not move; a preset follows now.
      if (!views.dashboard.hidden && dashRange(dashParams).since) void renderDashboard(dashParams);
    }, 10_000);
  }

  for (const b of document.querySelectorAll("#dash-presets button")) {
    b.addEventListener("click", () => (location.hash = "#/dashboard?since=" + b.dataset.since));
  }
  $("dash-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const from = $("dash-from").value;
    const to = $("dash-to").value;
    if (!from) return;
    location.hash = "#/dashboard?" + new URLSearchParams({ from: new Date(from).toISOString(), ...(to ? { to: new Date(to).toISOString() } : {}) });
  });

  // ---------------------------------------------------------------- line diff

  const MONITOR_MARKER = /\[MONITOR-REDACTED:[a-z_]+\]/g;
  /**
   * Whether the line `original` (with secrets the monitor hid) may be the unchanged line `final`: equal, except
   * that where a marker stands `final` has a key-like token (the secret itself, sent on as it came).
   */
  function sameButHidden(original, final) {
    if (original === null || final === null || !MONITOR_MARKER.test(original)) return false;
    MONITOR_MARKER.lastIndex = 0;
    const pattern = original
      .split(MONITOR_MARKER)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      // A hidden key or token is one run of these characters; a policy's own "[REDACTED:<kind>]" is not.
      .join("[A-Za-z0-9_.\\-]+");
    return new RegExp("^" + pattern + "$", "s").test(final);
  }

  /**
   * JSON laid out one value per line, like JSON.stringify(v, null, 2), except that a string with line breaks spans
   * several lines (each break shown as ↵), so a policy's edit inside a long answer marks the lines it touched, not
   * the whole message.
   */
  function prettyLines(value) {
    const out = [];
    const walk = (v, depth, prefix, suffix) => {
      const pad = "  ".repeat(depth);
      if (Array.isArray(v)) {
        if (v.length === 0) return void out.push(pad + prefix + "[]" + suffix);
        out.push(pad + prefix + "[");
        v.forEach((x, i) => walk(x, depth + 1, "", i < v.length - 1 ? "," : ""));
        out.push(pad + "]" + suffix);
      } else if (v !== null && typeof v === "object") {
        const keys = Object.keys(v);
        if (keys.length === 0) return void out.push(pad + prefix + "{}" + suffix);
        out.push(pad + prefix + "{");
        keys.forEach((k, i) => walk(v[k], depth + 1, JSON.stringify(k) + ": ", i < keys.length - 1 ? "," : ""));
        out.push(pad + "}" + suffix);
      } else if (typeof v === "string" && v.includes("\n")) {
        const parts = v.split("\n").map((p) => JSON.stringify(p).slice(1, -1));
        parts.forEach((p, i) => {
          const first = i === 0;
          const last = i === parts.length - 1;
          out.push((first ? pad + prefix + '"' : pad + "  ") + p + (last ? '"' + suffix : "↵"));
        });
      } else {
        out.push(pad + prefix + JSON.stringify(v === undefined ? null : v) + suffix);
      }
    };
    walk(value, 0, "", "");
    return out;
  }

  /** Line diff by longest common subsequence; too large inputs fall back to common prefix and suffix. */
  function diffLines(a, b) {
    let start = 0;
    while (start < a.length && start < b.length && a[start] === b[start]) start++;
    let endA = a.length;
    let endB = b.length;
    while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
      endA--;
      endB--;
    }
    const ops = [];
    for (let i = 0; i < start; i++) ops.push(["=", a[i], b[i]]);
    const ma = a.slice(start, endA);
    const mb = b.slice(start, endB);
    if (ma.length * mb.length <= 4_000_000) {
      const n = ma.length;
      const m = mb.length;
      const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
      for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = ma[i] === mb[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
      let i = 0;
      let j = 0;
      while (i < n && j < m) {
        if (ma[i] === mb[j]) {
          ops.push(["=", ma[i++], mb[j++]]);
        } else if (dp[i + 1][j] >= dp[i][j + 1]) ops.push(["-", ma[i++], null]);
        else ops.push(["+", null, mb[j++]]);
      }
      while (i < n) ops.push(["-", ma[i++], null]);
      while (j < m) ops.push(["+", null, mb[j++]]);
    } else {
      for (const l of ma) ops.push(["-", l, null]);
      for (const l of mb) ops.push(["+", null, l]);
    }
    for (let i = endA; i < a.length; i++) ops.push(["=", a[i], b[i - endA + endB]]);
    return ops;
  }

  /** Pairs runs of removed and added lines so a changed line shows left and right on one row. */
  function sideBySide(ops) {
    const rows = [];
    let k = 0;
    while (k < ops.length) {
      if (ops[k][0] === "=") {
        rows.push({ kind: "same", left: ops[k][1], right: ops[k][2] });
        k++;
        continue;
      }
      const dels = [];
      const adds = [];
      while (k < ops.length && ops[k][0] !== "=") {
        if (ops[k][0] === "-") dels.push(ops[k][1]);
        else adds.push(ops[k][2]);
        k++;
      }
      for (let i = 0; i < Math.max(dels.length, adds.length); i++) {
        rows.push({ kind: "changed", left: dels[i] ?? null, right: adds[i] ?? null });
      }
    }
    return rows;
  }

  /**
   * Word diff of two lines: runs of word characters, of spaces and single other characters, compared by longest
   * common subsequence (the diff of lines above, on tokens). Returns each side's nodes: text, and `<mark>` around
   * what was removed (left) or added (right). Lines too long to compare word by word are marked whole.
   */
  function diffWords(a, b) {
    const split = (t) => t.match(/[\p{L}\p{N}_]+|\s+|[^\p{L}\p{N}_\s]/gu) || [];
    const ta = split(a);
    const tb = split(b);
    const mark = (cls, text) => el("mark", cls, text);
    if (ta.length * tb.length > 250_000) return { left: [mark("word-del", a)], right: [mark("word-ins", b)] };
    const ops = diffLines(ta, tb);
    const left = [];
    const right = [];
    // Adjacent tokens of one kind become one node, so a changed phrase is one mark.
    const push = (side, cls, text) => {
      const last = side[side.length - 1];
      if (last && (cls === null ? last.nodeType === 3 : last.className === cls)) last.textContent += text;
      else side.push(cls === null ? document.createTextNode(text) : mark(cls, text));
    };
    for (const [op, x, y] of ops) {
      if (op === "=") {
        push(left, null, x);
        push(right, null, y);
      } else if (op === "-") push(left, "word-del", x);
      else push(right, "word-ins", y);
    }
    return { left, right };
  }

  function diffView(original, final, leftLabel, rightLabel) {
    const wrap = el("div", "diff-wrap");
    if ((original === null || original === undefined) && (final === null || final === undefined)) {
      wrap.append(el("p", "muted", "Not recorded (yet)."));
      return wrap;
    }
    const a = original === null || original === undefined ? [] : prettyLines(original);
    const b = final === null || final === undefined ? [] : prettyLines(final);
    const ops = diffLines(a, b);
    const changed = ops.filter((o) => o[0] !== "=").length;
    // A changed line whose only difference is a secret the monitor hid in the stored original is no policy's doing.
    const rows = sideBySide(ops).filter((r) => r.kind === "changed");
    const onlyHidden = changed > 0 && rows.every((r) => sameButHidden(r.left, r.right));
    const note = el("p", changed && !onlyHidden ? "diff-note changed" : "diff-note same");
    if (original === null || original === undefined) note.textContent = `Only the ${rightLabel} was recorded.`;
    else if (final === null || final === undefined) note.textContent = `Only the ${leftLabel} was recorded.`;
    else if (onlyHidden) note.textContent = "Unchanged by policy: the original differs only where the monitor hid secrets when storing it.";
    else note.textContent = changed ? `Changed by policy: ${changed} line${changed === 1 ? "" : "s"} differ.` : "Unchanged: the final version is identical to the original.";
    wrap.append(note);

    const table = el("table", "diff");
    const head = el("tr");
    head.append(el("th", "ln", ""), el("th", "", leftLabel), el("th", "ln", ""), el("th", "", rightLabel));
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    let ln = 0;
    let rn = 0;
    for (const r of sideBySide(ops)) {
      const tr = el("tr", "d-" + r.kind);
      const lnum = r.left !== null ? ++ln : "";
      const rnum = r.right !== null ? ++rn : "";
      const left = el("td", "code " + (r.kind === "changed" && r.left !== null ? "del" : r.left === null ? "blank" : ""));
      const right = el("td", "code " + (r.kind === "changed" && r.right !== null ? "ins" : r.right === null ? "blank" : ""));
      if (r.kind === "changed" && r.left !== null && r.right !== null) {
        // Inside a changed line, the words that changed.
        const words = diffWords(r.left, r.right);
        left.append(...words.left);
        right.append(...words.right);
      } else {
        left.textContent = r.left ?? "";
        right.textContent = r.right ?? "";
      }
      tr.append(el("td", "ln", lnum), left, el("td", "ln", rnum), right);
      tbody.append(tr);
    }
    table.append(thead, tbody);
    wrap.append(table);
    return wrap;
  }

  boot().catch((err) => {
    document.body.append(el("p", "error", "The monitor UI failed to start: " + err.message));
  });
})();

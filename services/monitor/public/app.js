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

  /** Real actions first, then shadow ones. */
  const byShadow = (actions) => [...(actions || []).filter((a) => !shadowOf(a)), ...(actions || []).filter((a) => shadowOf(a))];

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
  };
  let authed = false;
  let loopbackMode = false;
  // How this monitor stores originals now (MONITOR_STORE_ORIGINALS); each call says how its own were stored.
  let storeOriginals = "redacted";

  function show(name) {
    for (const [k, v] of Object.entries(views)) v.hidden = k !== name;
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
    } else {
      show("home");
      closeCall();
    }
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
      void loadCalls(true);
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
        return [d.file, d.trigger, Array.isArray(d.chains) ? "chains " + d.chains.join(", ") : null].filter(Boolean).join(" · ");
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
      a.href = "#/";
      a.addEventListener("click", () => $("config-card").scrollIntoView());
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

  function callQuery() {
    const q = new URLSearchParams();
    const add = (k, id) => {
      const v = $(id).value.trim();
      if (v) q.set(k, v);
    };
    add("q", "f-q");
    add("model", "f-model");
    add("keyId", "f-key");
    add("owner", "f-owner");
    add("sessionId", "f-session");
    add("status", "f-status");
    add("action", "f-action");
    add("label", "f-label");
    for (const [k, id] of [
      ["from", "f-from"],
      ["to", "f-to"],
    ]) {
      const v = $(id).value;
      if (v) q.set(k, new Date(v).toISOString());
    }
    return q;
  }

  async function loadCalls(reset) {
    const q = callQuery();
    q.set("limit", "50");
    if (!reset && nextCursor) q.set("cursor", nextCursor);
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
    const rows = [...calls.values()].sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.callId < b.callId ? 1 : -1));
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
        const pol = el("td", "policy-cell");
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
    nextCursor = null;
    void loadCalls(true);
  });
  $("f-reset").addEventListener("click", () => {
    for (const id of ["f-q", "f-model", "f-key", "f-owner", "f-session", "f-status", "f-action", "f-label", "f-from", "f-to"]) $(id).value = "";
    nextCursor = null;
    void loadCalls(true);
  });
  $("calls-more").addEventListener("click", () => loadCalls(false));

  onEvent((ev) => {
    if (isConfigEvent(ev)) return loadConfigSoon();
    if (ev.type.startsWith("approval.")) loadApprovalsSoon();
    if (ev.type.startsWith("call.") || ev.type.startsWith("policy.")) refreshGroupSoon();
    if (ev.type.startsWith("call.") || ev.type.startsWith("policy.")) refreshSoon();
    if (currentCall && ev.callId === currentCall) reloadCallSoon();
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
          li.append(el("span", "status " + statusClass(c.status, c.outcome), c.status ?? "…"));
          if (c.outcome && c.outcome !== "ok") li.append(el("span", "muted small", " " + c.outcome));
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
          const tr = row([k.keyId, k.owners.join(", "), k.calls, tokens(k.inputTokens, k.outputTokens), usd(k.costUsd), k.limited, k.budgetRefused, k.denied, fmtTime(k.lastAt)], "#/");
          tr.querySelector("a").addEventListener("click", () => {
            $("f-key").value = k.keyId;
            nextCursor = null;
            void loadCalls(true);
          });
          return tr;
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
        details.append(el("pre", "json", JSON.stringify(e.data, null, 2)));
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
      tr.append(el("td", "ln", lnum));
      tr.append(el("td", "code " + (r.kind === "changed" && r.left !== null ? "del" : r.left === null ? "blank" : ""), r.left ?? ""));
      tr.append(el("td", "ln", rnum));
      tr.append(el("td", "code " + (r.kind === "changed" && r.right !== null ? "ins" : r.right === null ? "blank" : ""), r.right ?? ""));
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

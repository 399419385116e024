/** What the `pnpm luthien` commands share: loading built packages, and the monitor's API. */
"use strict";
const path = require("node:path");

const root = path.resolve(__dirname, "..");

/** A built workspace module (`packages/events`, `services/control-plane`), or a clear exit when it is not built. */
function loadBuilt(dir) {
  try {
    return require(path.join(root, dir, "dist", "index.js"));
  } catch (err) {
    console.error(`cannot load ${dir}/dist (${err.message}); run \`pnpm build\` first`);
    process.exit(1);
  }
}

/**
 * A JSON call to the monitor's API: MONITOR_URL (default http://127.0.0.1:8001), ADMIN_API_KEY as the bearer when
 * set. @throws with the monitor's error message on a non-2xx answer
 */
async function monitorApi(pathAndQuery, init = {}) {
  const base = (process.env.MONITOR_URL || "http://127.0.0.1:8001").replace(/\/+$/, "");
  const key = process.env.ADMIN_API_KEY || "";
  let res;
  try {
    res = await fetch(base + pathAndQuery, {
      ...init,
      headers: { "content-type": "application/json", ...(key !== "" ? { authorization: `Bearer ${key}` } : {}), ...init.headers },
    });
  } catch (err) {
    throw new Error(`the monitor at ${base} cannot be reached (${err.cause?.code ?? err.message}); set MONITOR_URL`);
  }
  const text = await res.text();
  let body;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    body = { error: { message: text.slice(0, 200) } };
  }
  if (!res.ok) throw Object.assign(new Error(`monitor: ${res.status} ${body?.error?.message ?? res.statusText}`), { status: res.status, body });
  return body;
}

/** `24h`, `90m`, `7d` ago, or an ISO time / epoch ms, as a Date. */
function timeAgo(flag, text) {
  const m = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text);
  if (m !== null) return new Date(Date.now() - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]]);
  const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`${flag}: ${JSON.stringify(text)} is neither 24h/90m/7d nor an ISO time`);
  return new Date(t);
}

module.exports = { root, loadBuilt, monitorApi, timeAgo };

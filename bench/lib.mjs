// Shared helpers of the benchmark scripts: start/stop `wrangler dev` on loopback, admin setup,
// a keep-alive HTTP load generator with percentiles, and the JSON line + table output.
//
// Everything here bounds itself: every loop has a request count and a deadline, and the server a
// script started is killed (wrangler and its workerd child, as one process group) on exit, on
// error and on SIGINT/SIGTERM.
import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const PORT_MIN = 8800;
const PORT_MAX = 8849; // the inspector of a server on port P listens on P + 50 (8850–8899)

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const now = () => performance.now();

// ───────────────────────────── arguments ─────────────────────────────

/** `--name value` / `--flag` arguments over defaults; numbers stay numbers. */
export function args(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const [rawKey, inline] = a.slice(2).split("=", 2);
    const key = rawKey.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (typeof defaults[key] === "boolean" || next === undefined || next.startsWith("--")) value = "true";
      else value = argv[++i];
    }
    const d = defaults[key];
    out[key] = typeof d === "number" ? Number(value) : typeof d === "boolean" ? value !== "false" : value;
  }
  return out;
}

// ───────────────────────────── server lifecycle ─────────────────────────────

const started = new Set();

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

let cleanupInstalled = false;
function installCleanup() {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on("exit", () => {
    for (const server of started) {
      killGroup(server.child, "SIGKILL");
      if (server.ownDir) rmSync(server.dir, { recursive: true, force: true });
    }
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping servers`);
      process.exit(130);
    });
  }
  process.on("uncaughtException", (error) => {
    console.error(error);
    process.exit(1);
  });
  process.on("unhandledRejection", (error) => {
    console.error(error);
    process.exit(1);
  });
}

async function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A port pair no other bench of this machine holds: benches started within the same seconds picked
 * the same free port, one wrangler failed to bind it, and its bench measured the other's server
 * (2026-12-07). A lock file per port, made exclusively, holds it until the process that made it ends.
 */
function lockPort(port) {
  const lock = path.join(os.tmpdir(), `bench-port-${port}.lock`);
  try {
    writeFileSync(lock, String(process.pid), { flag: "wx" });
  } catch {
    const holder = Number(readFileSync(lock, "utf8"));
    if (holder && alive(holder)) return false;
    writeFileSync(lock, String(process.pid));
  }
  process.once("exit", () => rmSync(lock, { force: true }));
  return true;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function freePort() {
  const start = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
  for (let i = 0; i <= PORT_MAX - PORT_MIN; i++) {
    const port = PORT_MIN + ((start - PORT_MIN + i) % (PORT_MAX - PORT_MIN + 1));
    if ((await portFree(port)) && (await portFree(port + 50)) && lockPort(port)) return port;
  }
  throw new Error(`no free port pair in ${PORT_MIN}–${PORT_MAX} (+50)`);
}

function ensureDevVars() {
  const vars = path.join(ROOT, ".dev.vars");
  if (!existsSync(vars)) copyFileSync(path.join(ROOT, ".dev.vars.example"), vars);
  const out = {};
  for (const line of readFileSync(vars, "utf8").split("\n")) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/);
    if (m) out[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return out;
}

export const BENCH_VARS = { PASSWORD_HASH_ITERATIONS: "1000" };

/**
 * Starts `wrangler dev` on a free loopback port with a fresh (or given) `--persist-to` directory,
 * after applying the D1 migrations there. `vars` become `--var NAME:VALUE` overrides.
 */
/** Runs a wrangler command to completion against the project's config; throws with its output on failure. */
export function wranglerSync(args) {
  const result = spawnSync(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
  });
  if (result.status !== 0)
    throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/**
 * Applies the D1 migrations to the local state under `dir`: `DB`, and in a wrangler environment
 * (`env`, e.g. "sharded") every read database its `READ_DATABASES` names too.
 */
export function migrateLocalD1(dir, env) {
  const envArgs = env ? ["--env", env] : [];
  for (const binding of d1BindingsOf(env)) {
    wranglerSync(["d1", "migrations", "apply", binding, "--local", "--persist-to", dir, ...envArgs]);
  }
}

/** `DB` and the read databases of wrangler.toml's layout for `env` (the top level's when none). */
export function d1BindingsOf(env) {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  const section = env ? toml.slice(toml.indexOf(`[env.${env}.vars]`)) : toml;
  const reads = /^READ_DATABASES = "(.*)"$/m.exec(section)?.[1] ?? "DB";
  return [...new Set(["DB", ...reads.split(",").map((name) => name.trim())])];
}

/**
 * A copy of wrangler.toml under bench/results/ (ignored by git) whose entry is bench/floor/entry.ts:
 * the service plus the floor route and its Durable Object. Paths are rewritten relative to the copy.
 * `batchTimeout` is an experiment: another queue max_batch_timeout than the project's.
 */
function benchConfig({ batchTimeout }) {
  const dirOfConfig = path.join(ROOT, "bench", "results");
  mkdirSync(dirOfConfig, { recursive: true });
  let config = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = "(.*)"$/m, 'main = "../floor/entry.ts"')
    .replace(/^migrations_dir = "(.*)"$/gm, 'migrations_dir = "../../$1"')
    // The console's build step and static assets (scripts/build-console.mjs resolves its own paths).
    .replace(
      /^command = "node (scripts\/.*)"$/m,
      (_, script) => `command = "node ${JSON.stringify(path.join(ROOT, script)).slice(1, -1)}"`,
    )
    .replace(/^watch_dir = "(.*)"$/m, 'watch_dir = "../../$1"')
    .replace(/^directory = "\.\/(.*)"$/m, 'directory = "../../$1"');
  if (batchTimeout !== undefined) {
    config = config.replace(
      /^(\[\[queues\.consumers\]\]\nqueue = "user-events"\n(?:.*\n)*?)max_batch_timeout = .*$/m,
      `$1max_batch_timeout = ${batchTimeout}`,
    );
  }
  config += `
[[durable_objects.bindings]]
name = "FLOOR"
class_name = "FloorAppend"

[[migrations]]
tag = "bench-floor"
new_sqlite_classes = ["FloorAppend"]

[[queues.producers]]
queue = "bench-floor"
binding = "FLOOR_EVENTS"

[[queues.consumers]]
queue = "bench-floor"
max_batch_size = 100
max_batch_timeout = 0
`;
  const file = path.join(
    dirOfConfig,
    `wrangler.bench${batchTimeout === undefined ? "" : `-batch-timeout-${batchTimeout}`}.toml`,
  );
  writeFileSync(file, config);
  return file;
}

export async function startServer({
  vars = {},
  dir,
  port,
  quiet = true,
  timeoutMs = 120_000,
  batchTimeout,
  logLevel = "warn",
  onLine,
  env,
} = {}) {
  installCleanup();
  const devVars = ensureDevVars();
  const ownDir = !dir;
  dir ??= mkdtempSync(path.join(os.tmpdir(), "bench-state-"));
  port ??= await freePort();
  if (!existsSync(path.join(dir, "v3", "d1"))) migrateLocalD1(dir, env);
  const merged = { ...BENCH_VARS, ...vars };
  const argv = [
    WRANGLER,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(port + 50),
    "--persist-to",
    dir,
    "--log-level",
    logLevel,
    "--show-interactive-dev-session=false",
  ];
  // `env`: a wrangler environment of wrangler.toml (e.g. "sharded", docs/decisions/0026).
  if (env) argv.push("--env", env);
  for (const [name, value] of Object.entries(merged)) argv.push("--var", `${name}:${value}`);
  // The bench's own copy of wrangler.toml (bench/floor/entry.ts adds the floor route), with the
  // secrets, which wrangler reads from .dev.vars next to the config, passed as vars.
  argv.push("--config", benchConfig({ batchTimeout }));
  for (const name of ["JWT_SECRET", "ADMIN_BOOTSTRAP_TOKEN"]) argv.push("--var", `${name}:${devVars[name]}`);
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    detached: true, // its own process group: wrangler and workerd are stopped together
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
  });
  const server = {
    child,
    dir,
    ownDir,
    port,
    batchTimeout,
    env,
    inspectorPort: port + 50,
    url: `http://127.0.0.1:${port}`,
    vars: merged,
    devVars,
    log: [],
  };
  started.add(server);
  const keep = (chunk) => {
    const text = chunk.toString();
    server.lastOutputAt = Date.now();
    server.log.push(text);
    if (server.log.length > 200) server.log.shift();
    if (!quiet || /error/i.test(text)) {
      if (!/Request\.cf|workers\.cloudflare\.com|^\s+at /m.test(text)) process.stderr.write(`[wrangler] ${text}`);
    }
  };
  child.stdout.on("data", keep);
  // `onLine`: every whole line the server prints (the worker's own log lines need `logLevel: "log"`).
  if (onLine) {
    let partial = "";
    child.stdout.on("data", (chunk) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop();
      lines.forEach(onLine);
    });
  }
  child.stderr.on("data", keep);
  let exited = null;
  child.once("exit", (code, signal) => (exited = { code, signal }));
  server.exited = () => exited;

  const deadline = Date.now() + timeoutMs;
  const t0 = now();
  for (;;) {
    if (exited) throw new Error(`wrangler dev exited (${JSON.stringify(exited)}):\n${server.log.join("")}`);
    if (Date.now() > deadline) {
      await stopServer(server);
      throw new Error(`wrangler dev did not answer /ht/ within ${timeoutMs} ms:\n${server.log.join("")}`);
    }
    try {
      const r = await request(server.url, "GET", "/ht/", { timeoutMs: 2000 });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  // Offline, wrangler reloads the worker once more right after it first answers (the Request.cf
  // fetch fails); a POST caught by that reload gets a 503. Wait for the output to go quiet.
  const readyAt = Date.now();
  server.lastOutputAt ??= readyAt;
  while (Date.now() - readyAt < 10_000 && (Date.now() - readyAt < 1500 || Date.now() - server.lastOutputAt < 2000))
    await sleep(100);
  server.startMs = now() - t0;
  return server;
}

/** Stops the server's whole process group: SIGTERM, then SIGKILL after a grace period. */
export async function stopServer(server, { keepDir = false } = {}) {
  if (!server || !started.has(server)) return;
  if (!server.exited()) {
    killGroup(server.child, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (!server.exited() && Date.now() < deadline) await sleep(50);
    killGroup(server.child, "SIGKILL");
    await sleep(200);
  }
  // workerd may outlive wrangler for a moment: make sure nothing of the group is left.
  for (const pid of groupPids(server.child.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  started.delete(server);
  if (server.ownDir && !keepDir) rmSync(server.dir, { recursive: true, force: true });
  agents.delete(server.url);
}

/** Restart on the same state directory (for cold starts); returns the new server. */
export async function restartServer(server) {
  const { dir, vars, ownDir, port, batchTimeout, env } = server;
  await stopServer(server, { keepDir: true });
  const next = await startServer({
    dir,
    vars,
    batchTimeout,
    env,
    port: (await portFree(port)) && (await portFree(port + 50)) ? port : undefined,
  });
  next.ownDir = ownDir; // the first owner created it: the last one removes it
  return next;
}

export function groupPids(pgid) {
  const pids = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // raced with an exit
    }
  }
  return pids;
}

/** RSS (MB) of the workerd process(es) of a server: an approximation of the runtime's memory. */
export function workerdRssMb(server) {
  let kb = 0;
  const procs = [];
  for (const pid of groupPids(server.child.pid)) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      if (!comm.startsWith("workerd")) continue;
      const rss = Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
      kb += rss;
      procs.push({ pid, rss_mb: round(rss / 1024, 1) });
    } catch {
      // gone
    }
  }
  return { rss_mb: round(kb / 1024, 1), processes: procs };
}

// ───────────────────────────── HTTP ─────────────────────────────

const agents = new Map();
function agentFor(base, maxSockets = 256) {
  let agent = agents.get(base);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    agents.set(base, agent);
  }
  return agent;
}

/**
 * One HTTP request over a keep-alive agent. Resolves `{status, headers, body (parsed if JSON), text, ms}`;
 * rejects only on network errors and timeouts.
 */
export function request(base, method, pathname, options = {}) {
  // A keep-alive socket the server closed while idle fails the next request sent on it (ECONNRESET,
  // "socket hang up": a `bench:rebuild --rounds 4` run ended so after a 15 s idle round). That
  // request is sent again, once, on a new socket, as Node's documentation advises for
  // `request.reusedSocket`.
  return send(base, method, pathname, options).catch((error) => {
    if (error.reusedSocket && error.code === "ECONNRESET") return send(base, method, pathname, options);
    throw error;
  });
}

function send(base, method, pathname, { token, body, headers = {}, timeoutMs = 30_000 } = {}) {
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const url = new URL(pathname, base);
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (payload !== undefined) {
    h["content-type"] = "application/json";
    h["content-length"] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers: h,
        agent: agentFor(base),
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const ms = now() - t0;
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed = text;
          if ((res.headers["content-type"] ?? "").includes("json")) {
            try {
              parsed = JSON.parse(text);
            } catch {
              // leave as text
            }
          }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed, text, ms });
        });
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${pathname}`)));
    req.on("error", (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** request() that throws unless the status is the expected one. */
export async function expectOk(base, method, pathname, options = {}, expected = 200) {
  const r = await request(base, method, pathname, options);
  if (r.status !== expected) throw new Error(`${method} ${pathname} → ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

// ───────────────────────────── service setup ─────────────────────────────

/** Creates the admin through the bootstrap route, logs in, returns `{token, id, login()}`. */
export async function setupAdmin(server) {
  const { ADMIN_BOOTSTRAP_TOKEN: bootstrap } = server.devVars;
  const username = "benchadmin";
  const password = "bench-admin-password";
  const created = await request(server.url, "POST", "/admin/bootstrap/admins", {
    token: bootstrap,
    body: { username, email: "benchadmin@example.com", first_name: "Bench", last_name: "Admin", password },
  });
  if (created.status !== 200 && created.status !== 409)
    throw new Error(`bootstrap → ${created.status} ${created.text}`);
  // login(s) after a restart: the server object (and maybe its port) is new.
  const admin = { username, password, login: (s = server) => login(s, username, password) };
  Object.assign(admin, await admin.login());
  return admin;
}

export async function login(server, username, password) {
  const r = await expectOk(server.url, "POST", "/v1/auth/login/", { body: { username, password } });
  return { token: r.body.access_token, id: r.body.user.id };
}

/**
 * Creates `count` users (concurrency-bounded), returning `[{id, username, password}]`. Creation
 * hashes the password: run the server with PASSWORD_HASH_ITERATIONS low (BENCH_VARS does).
 */
export async function createUsers(server, token, count, { concurrency = 16, prefix = "u", timeoutMs = 120_000 } = {}) {
  const tag = `${prefix}${Date.now().toString(36)}`;
  const users = new Array(count);
  let next = 0;
  const deadline = Date.now() + timeoutMs;
  const worker = async () => {
    while (next < count) {
      if (Date.now() > deadline) throw new Error(`creating ${count} users took longer than ${timeoutMs} ms`);
      const i = next++;
      const username = `${tag}_${i}`;
      const password = `password-${i}-long`;
      const r = await expectOk(server.url, "POST", "/v1/users/", {
        token,
        body: { username, email: `${username}@example.com`, first_name: "F", last_name: "L", password },
      });
      users[i] = { id: r.body.user_id, username, password, revision: r.body.revision };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return users;
}

/** Waits until the read model shows every given user at its revision (bounded). */
export async function waitProjected(server, token, users, { timeoutMs = 60_000 } = {}) {
  const t0 = now();
  const deadline = Date.now() + timeoutMs;
  for (const user of users) {
    for (;;) {
      const r = await request(server.url, "GET", `/v1/users/${user.id}/`, { token });
      if (r.status === 200 && r.body.user.revision >= user.revision) break;
      if (Date.now() > deadline)
        throw new Error(`read model did not reach ${user.id}@${user.revision} in ${timeoutMs} ms`);
      await sleep(50);
    }
  }
  return now() - t0;
}

/** Waits until the outbox of every user is empty and no user is behind (admin status), bounded. */
export async function waitDrained(server, token, { timeoutMs = 60_000, limit = 10_000 } = {}) {
  const t0 = now();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The status route can answer 500 while the consumer writes (see BENCHMARKS.md): poll on.
    // On a loaded machine one status request can take longer than its own timeout: poll on.
    const r = await request(server.url, "GET", `/admin/projections/status?limit=${limit}`, { token }).catch(
      (error) => ({ status: 0, body: null, text: String(error) }),
    );
    if (r.status === 200 && r.body.users_behind === 0 && r.body.outbox.backlog === 0) return now() - t0;
    if (Date.now() > deadline) throw new Error(`projection did not drain in ${timeoutMs} ms: ${r.text}`);
    await sleep(250);
  }
}

// ───────────────────────────── load generator ─────────────────────────────

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(latencies, extra = {}) {
  const sorted = Float64Array.from(latencies).sort();
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    mean_ms: round(sorted.length ? sum / sorted.length : null),
    p50_ms: round(percentile(sorted, 50)),
    p95_ms: round(percentile(sorted, 95)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : null),
    ...extra,
  };
}

export function round(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Closed-loop load: `concurrency` workers, each sending `make(i)` → `{method, path, body, token}`
 * back to back, until `durationMs` has passed or `maxRequests` were sent. Only 2xx count as done;
 * other statuses and network errors are counted apart. Latency percentiles are over the 2xx.
 */
export async function load(
  server,
  { concurrency = 32, durationMs = 5000, maxRequests = 200_000, warmupMs = 0, make, check },
) {
  if (warmupMs > 0) await load(server, { concurrency, durationMs: warmupMs, maxRequests, make, check });
  const latencies = [];
  const statuses = {};
  let errors = 0;
  let sent = 0;
  const t0 = now();
  const stopAt = t0 + durationMs;
  const worker = async () => {
    while (sent < maxRequests && now() < stopAt) {
      const i = sent++;
      const spec = make(i);
      try {
        const r = await request(server.url, spec.method ?? "GET", spec.path, spec);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status >= 200 && r.status < 300) {
          latencies.push(r.ms);
          check?.(r, spec, i);
        }
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (now() - t0) / 1000;
  return summarize(latencies, {
    concurrency,
    seconds: round(seconds),
    rps: round(latencies.length / seconds, 1),
    statuses,
    errors,
  });
}

/**
 * Interleaves the baseline and each candidate in `rounds` rounds (baseline, a, b, baseline, a, b …)
 * so slow phases of a noisy machine hit both; `between` runs after each candidate (e.g. to let the
 * projection drain). Returns per-name merged stats and the median per-round ratio to the baseline,
 * and, for a candidate that names a `floor` candidate, the median per-round ratio to that floor.
 */
export async function compare(server, { rounds = 3, baseline, candidates, between, log = console.error }) {
  const runs = { baseline: [] };
  for (const name of Object.keys(candidates)) runs[name] = [];
  for (let r = 0; r < rounds; r++) {
    const b = await load(server, baseline);
    runs.baseline.push(b);
    log(`  round ${r + 1}/${rounds} baseline: ${b.rps} rps, p50 ${b.p50_ms} ms, p99 ${b.p99_ms} ms`);
    for (const [name, spec] of Object.entries(candidates)) {
      const c = await load(server, spec);
      runs[name].push(c);
      log(
        `  round ${r + 1}/${rounds} ${name}: ${c.rps} rps, p50 ${c.p50_ms} ms, p99 ${c.p99_ms} ms ${JSON.stringify(c.statuses)}`,
      );
      if (between) await between(name);
    }
  }
  const out = {};
  for (const [name, list] of Object.entries(runs)) {
    const ratios = list.map((run, i) => run.rps / runs.baseline[i].rps);
    out[name] = {
      rps: median(list.map((x) => x.rps)),
      p50_ms: median(list.map((x) => x.p50_ms)),
      p95_ms: median(list.map((x) => x.p95_ms)),
      p99_ms: median(list.map((x) => x.p99_ms)),
      ratio_to_baseline: round(median(ratios), 3),
      ratios: ratios.map((x) => round(x, 3)),
      requests: list.reduce((n, x) => n + x.n, 0),
      non_2xx: list.reduce(
        (n, x) =>
          n +
          Object.entries(x.statuses)
            .filter(([s]) => !s.startsWith("2"))
            .reduce((a, [, c]) => a + c, 0),
        0,
      ),
      errors: list.reduce((n, x) => n + x.errors, 0),
      concurrency: list[0]?.concurrency,
    };
    // A candidate may name another as its floor (the same work minus the service's own cost).
    const floor = candidates[name]?.floor;
    if (floor) {
      const toFloor = list.map((run, i) => run.rps / runs[floor][i].rps);
      out[name].ratio_to_floor = round(median(toFloor), 3);
      out[name].floor_ratios = toFloor.map((x) => round(x, 3));
    }
  }
  return out;
}

export function median(values) {
  const xs = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[mid] : round((xs[mid - 1] + xs[mid]) / 2, 3);
}

// ───────────────────────────── output ─────────────────────────────

export function machine() {
  const wrangler = JSON.parse(
    readFileSync(path.join(ROOT, "node_modules", "wrangler", "package.json"), "utf8"),
  ).version;
  let workerd = null;
  try {
    workerd = JSON.parse(readFileSync(path.join(ROOT, "node_modules", "workerd", "package.json"), "utf8")).version;
  } catch {
    // not hoisted
  }
  return {
    cpus: os.availableParallelism(),
    mem_gb: round(os.totalmem() / 2 ** 30, 1),
    load_avg_1m: round(os.loadavg()[0]),
    node: process.version,
    wrangler,
    workerd,
  };
}

/**
 * Prints the short table (stderr-free, to stdout) and the one machine-readable JSON line, and
 * saves the JSON under bench/results/<name>.json.
 */
export function report(name, result, rows) {
  const record = { bench: name, at: new Date().toISOString(), machine: machine(), ...result };
  console.log("");
  console.log(table(rows));
  console.log("");
  console.log(JSON.stringify(record));
  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

export function table(rows) {
  if (rows.length === 0) return "";
  const headers = Object.keys(rows[0]);
  const cells = rows.map((row) => headers.map((h) => (row[h] === null || row[h] === undefined ? "–" : String(row[h]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (values) => `| ${values.map((v, i) => v.padEnd(widths[i])).join(" | ")} |`;
  return [line(headers), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n");
}

export const verdict = (ok) => (ok === null || ok === undefined ? "n/a" : ok ? "PASS" : "MISS");

/** Runs `main(ctx)` with a global time bound; servers are stopped whatever happens. */
export async function run(name, maxMs, main) {
  installCleanup();
  const timer = setTimeout(() => {
    console.error(`${name}: exceeded its ${Math.round(maxMs / 1000)} s bound, stopping`);
    process.exit(3);
  }, maxMs);
  timer.unref();
  try {
    await main();
  } catch (error) {
    console.error(`${name} failed:`, error);
    process.exitCode = 1;
  } finally {
    for (const server of [...started]) await stopServer(server);
    clearTimeout(timer);
  }
  process.exit(process.exitCode ?? 0);
}

// ───────────────────────────── profiling ─────────────────────────────

/**
 * Samples a CPU profile of the Worker's isolate through the inspector `wrangler dev` exposes
 * (port + 50) while `during()` runs, and returns the top functions by self time (and the raw
 * profile, which Chrome DevTools opens as a .cpuprofile file).
 */
export async function cpuProfile(server, during, { top = 25, samplingUs = 200 } = {}) {
  const targets = await (await fetch(`http://127.0.0.1:${server.inspectorPort}/json`)).json();
  const results = [];
  const sockets = [];
  for (const target of targets) {
    // The inspector proxy wants a local Origin (browsers send one; Node does not).
    const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    let id = 0;
    const pending = new Map();
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.id && pending.has(msg.id)) {
        pending.get(msg.id)(msg);
        pending.delete(msg.id);
      }
    };
    const send = (method, params = {}) =>
      new Promise((resolve) => {
        const mid = ++id;
        pending.set(mid, resolve);
        ws.send(JSON.stringify({ id: mid, method, params }));
      });
    sockets.push({ ws, send, target });
  }
  for (const s of sockets) {
    await s.send("Profiler.enable");
    await s.send("Profiler.setSamplingInterval", { interval: samplingUs });
    await s.send("Profiler.start");
  }
  const value = await during();
  for (const s of sockets) {
    const stopped = await s.send("Profiler.stop");
    s.ws.close();
    const profile = stopped.result?.profile;
    if (!profile) continue;
    results.push({ target: s.target.title ?? s.target.url, profile, top: topFunctions(profile, top) });
  }
  return { value, profiles: results };
}

function topFunctions(profile, top) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const self = new Map();
  for (const [id, n] of counts) {
    const node = byId.get(id);
    const cf = node.callFrame;
    const key =
      `${cf.functionName || "(anonymous)"} ${cf.url ? `${cf.url.split("/").slice(-2).join("/")}:${cf.lineNumber + 1}` : ""}`.trim();
    self.set(key, (self.get(key) ?? 0) + n);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, n]) => ({ fn, self_pct: round((100 * n) / total, 1) }));
}

/**
 * The command most benches load the service with: request `i` renames user `i` mod n (a PUT of
 * `first_name`, one USER_UPDATED), as `token` (one token, an admin's; or an array of each user's
 * own, from `loginAll`); `userId` tells a `check` whose revision came back.
 */
export function renames(users, token) {
  return (i) => {
    const n = i % users.length;
    const user = users[n];
    return {
      method: "PUT",
      path: `/v1/users/${user.id}/`,
      token: Array.isArray(token) ? token[n] : token,
      body: { first_name: `F${i}` },
      userId: user.id,
    };
  };
}

/** Each user's own token, in the order of `users` (16 logins at a time). */
export async function loginAll(server, users) {
  const tokens = [];
  for (let i = 0; i < users.length; i += 16) {
    const chunk = users.slice(i, i + 16);
    tokens.push(...(await Promise.all(chunk.map(async (u) => (await login(server, u.username, u.password)).token))));
  }
  return tokens;
}

/**
 * The identity registry's one-off copy into its shards (docs/operations.md), as a deployment runs it
 * after the upgrade: afterwards a shard no longer asks the old per-key objects about a key it lacks.
 * A version without the route (before issue 26) answers 404: nothing to copy there.
 */
export async function copyIdentities(server, token) {
  for (let cursor = "", done = false; !done;) {
    const r = await request(server.url, "POST", `/admin/identity/migrate?cursor=${encodeURIComponent(cursor)}`, {
      token,
    });
    if (r.status === 404) return;
    if (r.status !== 200) throw new Error(`identity copy: ${r.status}`);
    ({ done } = r.body);
    cursor = r.body.next_cursor ?? "";
  }
}

/** A fresh server, an admin, and `count` users already in the read model: how most benches begin. */
export async function startWithUsers(count, serverOptions) {
  const server = await startServer(serverOptions);
  console.error(`wrangler dev up on ${server.url} in ${Math.round(server.startMs)} ms`);
  const admin = await setupAdmin(server);
  const users = await createUsers(server, admin.token, count);
  await waitProjected(server, admin.token, users);
  console.error(`${users.length} users created and projected`);
  return { server, admin, users };
}

/**
 * The table rows of a ratio benchmark; `targeted(name)` says which cases the target applies to,
 * and `measure` which ratio it is set on (to the baseline, or to the case's floor).
 */
export function ratioRows(result, target, targeted, measure = "ratio_to_baseline") {
  return Object.entries(result).map(([name, r]) => ({
    case: name,
    "req/s": r.rps,
    "p50 ms": r.p50_ms,
    "p95 ms": r.p95_ms,
    "p99 ms": r.p99_ms,
    "× baseline": r.ratio_to_baseline,
    "× floor": r.ratio_to_floor ?? "–",
    "non-2xx": r.non_2xx + r.errors,
    target: targeted(name) ? `≥ ${target}` : "–",
    verdict: targeted(name) ? verdict(r[measure] >= target) : "",
  }));
}

// ───────────────────────────── seeded read models ─────────────────────────────

/**
 * The shard of a key: FNV-1a (32 bits) of its UTF-8 bytes, modulo the count. A copy of `shardOf`
 * in src/shards.ts (the benches run on plain Node, which does not load TypeScript): a bench must put
 * each row where the service will look for it, and know which users a re-shard moves.
 */
export function shardOf(key, count) {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/** The id of seeded user `i` (1-based), as bench/list-scale.mjs numbers them. */
export const seededId = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/**
 * The statement that inserts the users numbered by column `i` of `numbers` (a table or subquery)
 * into a migrated read model, one in ten deleted and one in 25 suspended, as bench/list-scale.mjs
 * seeds them: the triggers fill the counts, the blocks and the trigram index as the projector's
 * writes would.
 */
export function seedUsersStatement(numbers) {
  return `INSERT INTO users (id, username, email, first_name, last_name, role, status, created_at, updated_at, deleted_at, revision)
SELECT printf('00000000-0000-4000-8000-%012d', i), 'seed' || i || 'x', 'seed' || i || 'x@example.com', 'F', 'L', 'user',
  CASE WHEN i % 10 = 0 THEN 'deleted' WHEN i % 25 = 0 THEN 'suspended' ELSE 'active' END,
  strftime('%Y-%m-%dT%H:%M:%fZ', '2025-01-01', '+' || i || ' seconds'),
  strftime('%Y-%m-%dT%H:%M:%fZ', '2025-01-01', '+' || i || ' seconds'),
  CASE WHEN i % 10 = 0 THEN '2025-06-01T00:00:00.000Z' END, 1
FROM ${numbers};\n`;
}

/** Seeds users 1..count into the local `DB` of the (migrated) state under `dir`, default layout. */
export function seedDefaultReadModel(dir, count) {
  const sql = path.join(dir, "seed-DB.sql");
  writeFileSync(
    sql,
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})\n${seedUsersStatement("n")}`,
  );
  wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", dir, "--file", sql]);
}

/** The SQLite files of the local state under `dir`: D1 databases, or one Durable Object class's objects. */
export function localSqliteFiles(dir, { d1 = false, objectClass } = {}) {
  const base = d1 ? path.join(dir, "v3", "d1") : path.join(dir, "v3", "do");
  if (!existsSync(base)) return [];
  const folders = readdirSync(base).filter((name) =>
    d1 ? name.startsWith("miniflare-D1DatabaseObject") : name.endsWith(`-${objectClass}`),
  );
  return folders.flatMap((folder) =>
    readdirSync(path.join(base, folder))
      .filter((file) => file.endsWith(".sqlite"))
      .map((file) => path.join(base, folder, file)),
  );
}

/** The server's workerd processes. */
export const workerdPids = (server) =>
  groupPids(server.child.pid).filter((p) => readFileSync(`/proc/${p}/comm`, "utf8").trim().startsWith("workerd"));

/**
 * What `during` cost workerd in CPU (ms, user and system, from /proc, 10 ms ticks): the wall
 * clock alone does not say whether the platform waited or worked.
 */
export async function workerdCpuOf(server, during) {
  const ticks = () =>
    workerdPids(server).reduce(
      (sum, pid) => {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return { user: sum.user + Number(fields[11]), system: sum.system + Number(fields[12]) };
      },
      { user: 0, system: 0 },
    );
  const before = ticks();
  const value = await during();
  const after = ticks();
  return { value, cpu: { user_ms: (after.user - before.user) * 10, system_ms: (after.system - before.system) * 10 } };
}

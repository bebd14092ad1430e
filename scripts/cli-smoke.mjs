#!/usr/bin/env node
// The command-line client against a running server (default: the local `npm start`), as a person
// would use it: login (token file 0600), import a file of reference rows (again: all skipped; a bad
// line: exit 2 with its line number), users get/events, export with secrets (file 0600), status, and
// an error (exit 1 with the service's message), `feed tail` following the feed, and a webhook
// subscription created (secret once), listed, paused, resumed, replayed and deleted. Run by .ci/run after scripts/smoke.mjs.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { localAdmin } from "./dev-vars.mjs";

const base = process.argv[2] ?? "http://127.0.0.1:8787";
const dir = mkdtempSync(path.join(os.tmpdir(), "cli-smoke-"));
const env = { ...process.env, XDG_CONFIG_HOME: dir, USERS_API_URL: base, USERS_API_TOKEN: "" };

function cli(...args) {
  const run = spawnSync("npm", ["run", "-s", "cli", "--", ...args], { env, encoding: "utf8" });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function expect(label, condition, detail) {
  if (!condition) {
    console.error(`cli smoke: ${label} FAILED ${JSON.stringify(detail)}`);
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }
  console.log(`cli smoke: ${label} ok`);
}

// Two users of the reference, under fresh ids and names: created, updated (nulls), deleted.
const tag = Date.now().toString(36);
const [alice, bob] = [crypto.randomUUID(), crypto.randomUUID()];
const hash = "$2b$04$XN2PVyimi/mfTMRwOHAs/.ZacDHSy.YfFATGNfUNV2mLVT/eNn./O";
const row = (aggregate_id, revision, event_type, data) =>
  JSON.stringify({
    id: crypto.randomUUID(),
    aggregate_id,
    event_type,
    timestamp: `2025-08-1${revision}T09:00:00.123456+00:00`,
    version: "1",
    revision,
    data,
    created_at: "2025-08-16T09:00:00+00:00",
    updated_at: "2025-08-16T09:00:00+00:00",
  });
const created = (name) => ({
  role: "user",
  email: `${name}@example.com`,
  username: name,
  last_name: "L",
  first_name: "F",
  password_hash: hash,
  hashing_method: "bcrypt",
});
const rows = [
  row(alice, 1, "USER_CREATED", created(`alice${tag}`)),
  row(alice, 2, "USER_UPDATED", { email: null, last_name: null, first_name: "Alicia" }),
  row(bob, 1, "USER_CREATED", created(`bob${tag}`)),
  row(bob, 2, "USER_DELETED", {}),
];
const file = path.join(dir, "reference.ndjson");
writeFileSync(file, `${rows.join("\n")}\n`);

const login = cli("login", "--username", localAdmin.username, "--password", localAdmin.password);
expect("login", login.status === 0 && login.stdout.includes("logged in"), login);
const tokenFile = path.join(dir, "event-sourced-users", "credentials.json");
expect("token file 0600", (statSync(tokenFile).mode & 0o777) === 0o600, statSync(tokenFile).mode.toString(8));

const first = cli("import", file, "--json");
const summary = JSON.parse(first.stdout || "{}");
expect("import", first.status === 0 && summary.imported === 4 && summary.rejected?.length === 0, first);
const again = JSON.parse(cli("import", file, "--json").stdout || "{}");
expect("import again: all skipped", again.imported === 0 && again.skipped === 4, again);

const bad = path.join(dir, "bad.ndjson");
writeFileSync(bad, `${rows[0]}\n{"id":\n`);
const rejected = cli("import", bad, "--json");
const report = JSON.parse(rejected.stdout || "{}");
expect(
  "a bad line: exit 2, its line number",
  rejected.status === 2 && report.skipped === 1 && report.rejected?.[0]?.line === 2,
  rejected,
);

const user = cli("users", "get", alice, "--json");
expect("users get", user.status === 0 && JSON.parse(user.stdout).user?.first_name === "Alicia", user);
const events = cli("users", "events", alice);
expect("users events (table)", events.status === 0 && /USER_UPDATED/.test(events.stdout), events);

const backup = path.join(dir, "backup.ndjson");
const exported = cli("export", "--secrets", "--output", backup);
const text = readFileSync(backup, "utf8");
expect("export with secrets", exported.status === 0 && text.includes(bob) && text.includes(hash), exported);
expect("backup file 0600", (statSync(backup).mode & 0o777) === 0o600, statSync(backup).mode.toString(8));

const status = cli("status", "--json");
expect("status", status.status === 0 && Array.isArray(JSON.parse(status.stdout).projections), status);

const subscribed = cli(
  "subscriptions",
  "create",
  "--target",
  "http://127.0.0.1:9/smoke",
  "--event-types",
  "USER_CREATED",
  "--json",
);
const hook = JSON.parse(subscribed.stdout || "{}");
expect(
  "subscriptions create: the secret once",
  subscribed.status === 0 && /^whsec_/.test(hook.secret ?? ""),
  subscribed,
);
const listed = cli("subscriptions", "list");
expect("subscriptions list", listed.status === 0 && listed.stdout.includes(hook.id), listed);
const paused = JSON.parse(cli("subscriptions", "pause", hook.id, "--json").stdout || "{}");
expect("subscriptions pause", paused.status === "paused", paused);
const resumed = JSON.parse(cli("subscriptions", "resume", hook.id, "--json").stdout || "{}");
expect("subscriptions resume", resumed.status === "active", resumed);
const replayed = cli("subscriptions", "replay", hook.id, "--from", "0", "--json");
expect("subscriptions replay", replayed.status === 0 && JSON.parse(replayed.stdout).id === hook.id, replayed);
const deleted = cli("subscriptions", "delete", hook.id);
expect("subscriptions delete", deleted.status === 0, deleted);

const missing = cli("users", "get", crypto.randomUUID());
expect("an error: exit 1 with the message", missing.status === 1 && /error: 404/.test(missing.stderr), missing);

/**
 * `feed tail` until `done(events)` holds or `ms` pass: it never ends on its own, so it runs in its
 * own process group, which is stopped as a whole (npm, its shell and node).
 */
function tailUntil(done, ms) {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "-s", "cli", "--", "feed", "tail"], { env, detached: true });
    const events = [];
    let buffered = "";
    let stderr = "";
    const finish = (ok) => {
      clearTimeout(timer);
      process.kill(-child.pid, "SIGTERM");
      resolve({ ok, events: events.length, stderr });
    };
    const timer = setTimeout(() => finish(false), ms);
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop();
      events.push(...lines.filter(Boolean).map((line) => JSON.parse(line)));
      if (done(events)) finish(true);
    });
  });
}

// The imported users' events reach the feed once projected; the tail prints them as they come.
const tail = await tailUntil((seen) => {
  const mine = seen.filter((event) => event.aggregate_id === alice || event.aggregate_id === bob);
  return mine.length >= 4 && seen.every((event, i) => i === 0 || event.position > seen[i - 1].position);
}, 30_000);
expect("feed tail", tail.ok, tail);

rmSync(dir, { recursive: true, force: true });

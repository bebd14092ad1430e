#!/usr/bin/env node
// `npm start`: the whole service on the embedded local default (Durable Object SQLite, D1 and
// Queues under .wrangler/state). Creates .dev.vars from the example, applies the D1 migrations,
// starts `wrangler dev` on 127.0.0.1:8787 and makes sure the local admin exists (see localAdmin).
// `npm start -- --env sharded`: the same with wrangler.toml's [env.sharded] (SCALING.md#running-sharded),
// the migrations applied to each of its D1 databases, its state apart under .wrangler/state-sharded.
import { spawn } from "node:child_process";
import { createAdmin } from "./create-admin.mjs";
import { applyMigrations, wranglerEnv } from "./d1-migrations.mjs";
import { ensureDevVars, localAdmin, readDevVars } from "./dev-vars.mjs";

const PORT = process.env.PORT ?? "8787";
const URL_BASE = `http://127.0.0.1:${PORT}`;

const args = process.argv.slice(2);
const environment = wranglerEnv(args);
// Its own state: locally a D1 database is found by its binding name, so [env.sharded]'s DB would
// otherwise be the default's, audit log and feed of the other layout's users included.
const persist =
  environment && !args.some((arg) => arg.startsWith("--persist-to"))
    ? ["--persist-to", `.wrangler/state-${environment}`]
    : [];
ensureDevVars();
applyMigrations(environment, ["--local", ...persist]);

const dev = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", PORT, ...persist, ...args], {
  stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

if (await ensureAdmin()) await copyIdentities();

async function ensureAdmin() {
  const vars = readDevVars();
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${URL_BASE}/ht/`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  // Offline, wrangler reloads the worker once right after it first answers; a request caught by
  // that reload fails, so the (idempotent) creation is retried a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await createAdmin({
        url: URL_BASE,
        token: vars.ADMIN_BOOTSTRAP_TOKEN,
        ...localAdmin,
      });
      console.log(`${result.created ? "created" : "found"} admin '${localAdmin.username}'; serving on ${URL_BASE}`);
      return true;
    } catch (error) {
      if (attempt >= 20) {
        console.error(`could not make sure the admin exists: ${error.message}`);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * The identity registry's one-off copy into its shards (docs/operations.md), run on every start:
 * until it has run once, a shard asks the per-key object of each name it has no row for (one more
 * object, and one more SQLite file, per name). Done already, it costs one request.
 */
async function copyIdentities() {
  try {
    const login = await fetch(`${URL_BASE}/v1/auth/login/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: localAdmin.username, password: localAdmin.password }),
    });
    if (!login.ok) throw new Error(`login as '${localAdmin.username}': ${login.status}`);
    const { access_token: token } = await login.json();
    for (let cursor = ""; ;) {
      const step = await fetch(`${URL_BASE}/admin/identity/migrate?cursor=${encodeURIComponent(cursor)}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}` },
      });
      if (!step.ok) throw new Error(`POST /admin/identity/migrate: ${step.status}`);
      const body = await step.json();
      if (body.done) return;
      cursor = body.next_cursor;
    }
  } catch (error) {
    console.error(`could not copy the identity claims into their shards (docs/operations.md): ${error.message}`);
  }
}

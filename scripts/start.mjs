#!/usr/bin/env node
// `npm start`: the whole service on the embedded local default (Durable Object SQLite, D1 and
// Queues under .wrangler/state). Creates .dev.vars from the example, applies the D1 migrations,
// starts `wrangler dev` on 127.0.0.1:8787 and makes sure the local admin exists (see localAdmin).
import { spawn, spawnSync } from "node:child_process";
import { createAdmin } from "./create-admin.mjs";
import { ensureDevVars, localAdmin, readDevVars } from "./dev-vars.mjs";

const PORT = process.env.PORT ?? "8787";
const URL_BASE = `http://127.0.0.1:${PORT}`;

ensureDevVars();
const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], { stdio: "inherit" });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", PORT, ...process.argv.slice(2)], {
  stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

await ensureAdmin();

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
      return;
    } catch (error) {
      if (attempt >= 20) {
        console.error(`could not make sure the admin exists: ${error.message}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

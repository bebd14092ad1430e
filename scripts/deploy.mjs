#!/usr/bin/env node
// `npm run deploy`: the D1 migrations applied remotely to every D1 database of the environment, then
// `wrangler deploy`. `npm run deploy -- --env sharded` deploys [env.sharded] (docs/operations.md).
import { spawnSync } from "node:child_process";
import { applyMigrations, wranglerEnv } from "./d1-migrations.mjs";

const args = process.argv.slice(2);
applyMigrations(wranglerEnv(args), ["--remote"]);
const deploy = spawnSync("wrangler", ["deploy", ...args], { stdio: "inherit" });
process.exit(deploy.status ?? 1);

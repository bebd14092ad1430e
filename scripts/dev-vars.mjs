import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { missingDevVars } from "./dev-vars-missing.mjs";

/**
 * `.dev.vars` holds local secrets; it is created from the committed example on first start, and
 * an existing one gets the example's variables it lacks (added since it was made), values kept.
 */
export function ensureDevVars() {
  if (!existsSync(".dev.vars")) {
    copyFileSync(".dev.vars.example", ".dev.vars");
    console.log("created .dev.vars from .dev.vars.example (local development secrets)");
    return;
  }
  const current = readFileSync(".dev.vars", "utf8");
  const missing = missingDevVars(current, readFileSync(".dev.vars.example", "utf8"));
  if (missing.length === 0) return;
  appendFileSync(".dev.vars", `${current.endsWith("\n") || current === "" ? "" : "\n"}${missing.join("\n")}\n`);
  console.log(`added to .dev.vars from .dev.vars.example: ${missing.map((line) => line.split("=")[0]).join(", ")}`);
}

export function readDevVars(file = ".dev.vars") {
  if (!existsSync(file)) return {};
  const vars = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const match = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/);
    if (match) vars[match[1]] = match[2].replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

/**
 * The admin `npm start` makes sure exists locally: ADMIN_USERNAME, ADMIN_PASSWORD and ADMIN_EMAIL
 * from the shell, else these defaults. They belong to the scripts, not to the Worker, whose only
 * part in it is the bootstrap token.
 */
export const localAdmin = {
  username: process.env.ADMIN_USERNAME ?? "admin",
  password: process.env.ADMIN_PASSWORD ?? "admin-password",
  email: process.env.ADMIN_EMAIL ?? "admin@example.com",
};

import { copyFileSync, existsSync, readFileSync } from "node:fs";

/** `.dev.vars` holds local secrets; it is created from the committed example on first start. */
export function ensureDevVars() {
  if (!existsSync(".dev.vars")) {
    copyFileSync(".dev.vars.example", ".dev.vars");
    console.log("created .dev.vars from .dev.vars.example (local development secrets)");
  }
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

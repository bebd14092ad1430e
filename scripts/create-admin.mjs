#!/usr/bin/env node
// Creates an admin through POST /admin/bootstrap/admins, authorised by ADMIN_BOOTSTRAP_TOKEN.
// Usage: npm run create-admin -- --url https://users.example.workers.dev \
//          --username alice --email alice@example.com --password '…' [--first-name A --last-name B]
// The token comes from the environment (ADMIN_BOOTSTRAP_TOKEN) or, locally, from .dev.vars.
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { readDevVars } from "./dev-vars.mjs";
import { conflictOf, describe } from "./admin-outcome.mjs";

export async function createAdmin({ url, token, username, email, password, firstName = "Admin", lastName = "User" }) {
  const res = await fetch(new URL("/admin/bootstrap/admins", url), {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ username, email, password, first_name: firstName, last_name: lastName }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status === 200) return { created: true, userId: body.user_id };
  if (res.status === 409) return { created: false, conflict: conflictOf(body) };
  throw new Error(`creating admin ${username} failed: ${res.status} ${JSON.stringify(body)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:8787" },
      username: { type: "string" },
      email: { type: "string" },
      password: { type: "string" },
      "first-name": { type: "string", default: "Admin" },
      "last-name": { type: "string", default: "User" },
    },
  });
  const dev = readDevVars();
  const token = process.env.ADMIN_BOOTSTRAP_TOKEN ?? dev.ADMIN_BOOTSTRAP_TOKEN;
  const args = {
    url: values.url,
    token,
    username: values.username ?? process.env.ADMIN_USERNAME,
    email: values.email ?? process.env.ADMIN_EMAIL,
    password: values.password ?? process.env.ADMIN_PASSWORD,
    firstName: values["first-name"],
    lastName: values["last-name"],
  };
  for (const [name, value] of Object.entries({
    ADMIN_BOOTSTRAP_TOKEN: token,
    username: args.username,
    email: args.email,
    password: args.password,
  })) {
    if (!value) {
      console.error(`missing ${name}`);
      process.exit(2);
    }
  }
  const result = await createAdmin(args);
  const message = describe(result, args);
  if (result.created || result.conflict === "admin") console.log(message);
  else {
    console.error(message);
    process.exit(1);
  }
}

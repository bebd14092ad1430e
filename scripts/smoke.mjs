#!/usr/bin/env node
// A short smoke test against a running server (default: the local `npm start`):
// health, admin login, create a user, read it back from its object and from the read model.
import { localAdmin } from "./dev-vars.mjs";

const base = process.argv[2] ?? "http://127.0.0.1:8787";

async function call(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers["Content-Type"] = "application/json";
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const json = await res.json().catch(() => null);
  return { status: res.status, json };
}

function expect(label, condition, detail) {
  if (!condition) {
    console.error(`smoke: ${label} FAILED ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`smoke: ${label} ok`);
}

const health = await call("GET", "/ht/");
expect("health", health.status === 200 && health.json?.status === "UP", health);

const login = await call("POST", "/v1/auth/login/", {
  body: { username: localAdmin.username, password: localAdmin.password },
});
expect("admin login", login.status === 200 && login.json?.access_token, login);
const token = login.json.access_token;

const name = `smoke${Date.now().toString(36)}`;
const created = await call("POST", "/v1/users/", {
  token,
  body: {
    username: name,
    email: `${name}@example.com`,
    first_name: "Smoke",
    last_name: "Test",
    password: "smoke-password-1",
  },
});
expect("create", created.status === 200 && created.json?.user_id && created.json?.revision === 1, created);
const id = created.json.user_id;

const strong = await call("GET", `/v1/users/${id}/?consistency=strong`, { token });
expect("read back from the object", strong.status === 200 && strong.json?.user?.username === name, strong);

const projected = await call("GET", `/v1/users/${id}/?min_revision=1`, { token });
expect("read back from the read model", projected.status === 200 && projected.json?.user?.revision === 1, projected);

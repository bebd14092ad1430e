// What every browser test shares: the service under test (its own `wrangler dev` on a free
// loopback port, fresh state), one Chromium, contexts that cannot reach past 127.0.0.1, and the
// API calls that set up a story.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT, expectOk, request, setupAdmin, startServer, stopServer } from "../../bench/lib.mjs";

export { expectOk, request };

/**
 * Where the screenshots go: committed under docs/console and shown in the README and
 * docs/console.md, rewritten only with `UPDATE_SCREENSHOTS=1`. Otherwise (ids and times differ
 * each run) they go to a temporary folder, so a run leaves the clone as it was.
 */
export const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.join(ROOT, "docs", "console")
  : mkdtempSync(path.join(os.tmpdir(), "console-shots-"));

/** Launch flags for Debian's Chromium on a closed network (no background calls to Google). */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const ctx = { server: null, admin: null, browser: null };

/**
 * The test server's webhook settings: the subscriptions scenario's receiver listens on 127.0.0.1
 * over plain http (refused as a private address unless listed), and a failing delivery is retried
 * after a second or two and dead after three attempts instead of a day and a half.
 */
export const SERVER_VARS = {
  WEBHOOK_INSECURE_HOSTS: "127.0.0.1",
  WEBHOOK_MAX_ATTEMPTS: "3",
  WEBHOOK_RETRY_BASE_SECONDS: "1",
  WEBHOOK_RETRY_MAX_SECONDS: "2",
};

export async function setUp() {
  ctx.server = await startServer({ vars: SERVER_VARS });
  ctx.admin = await setupAdmin(ctx.server);
  ctx.browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  mkdirSync(SHOTS, { recursive: true });
}

export async function tearDown() {
  await ctx.browser?.close();
  await stopServer(ctx.server);
}

const isLoopback = (url) => {
  const { protocol, hostname } = new URL(url);
  return ["data:", "blob:"].includes(protocol) || hostname === "127.0.0.1";
};

/**
 * A browser context (one "tab" with its own sessionStorage) that cannot reach anything but the
 * service on 127.0.0.1: every other request, WebSockets included, is aborted and remembered, and a
 * test fails if one was tried. Console errors (a CSP violation, an uncaught exception) fail it too.
 */
export async function openTab({ width = 1280, height = 900 } = {}) {
  const context = await ctx.browser.newContext({
    viewport: { width, height },
    baseURL: ctx.server.url,
    acceptDownloads: true,
    locale: "en-GB",
    timezoneId: "Europe/Berlin",
  });
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLoopback(url)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  await context.routeWebSocket(/.*/, (ws) => {
    if (isLoopback(ws.url().replace(/^ws/, "http"))) return ws.connectToServer();
    blocked.push(ws.url());
    return ws.close();
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    // 4xx answers the test provokes are logged by Chromium as failed resources; they are expected.
    if (message.type() === "error" && !/status of (4\d\d)/.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  const close = async () => {
    await context.close();
    assert.deepEqual(blocked, [], "requests that tried to leave 127.0.0.1");
    assert.deepEqual(problems, [], "errors in the browser console");
  };
  return { context, page, blocked, problems, close };
}

export async function signIn(page, username, password, { at = "/console" } = {}) {
  await page.goto(at);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** A full-page screenshot once nothing is loading any more (no region is `aria-busy`). */
export async function shot(page, name) {
  await page.waitForFunction(() => !document.querySelector("[aria-busy='true']"));
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Creates a user through the API as the admin; returns `{id, username, password}`. */
export async function createUser(fields) {
  const password = fields.password ?? "a-long-password-1";
  const body = { first_name: "Test", last_name: "User", password, ...fields };
  const r = await expectOk(ctx.server.url, "POST", "/v1/users/", { token: ctx.admin.token, body });
  return { id: r.body.user_id, username: fields.username, password };
}

/** A command through the API as the admin (or `token`), expecting 200. */
export async function command(method, pathname, body, token = ctx.admin.token) {
  return (await expectOk(ctx.server.url, method, pathname, { token, body })).body;
}

/** Polls until `check()` is truthy (bounded): the read model catches up asynchronously. */
export async function eventually(check, { timeoutMs = 10_000, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

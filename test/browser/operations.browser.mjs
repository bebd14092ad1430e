import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../../bench/lib.mjs";
import { createUser, ctx, eventually, expectOk, openTab, request, shot, signIn } from "./support.mjs";
import { sarahImported } from "./sarah-story.mjs";

/**
 * A message the projector can never read, as a newer writer's event type would be: the consumer
 * dead-letters it on its first delivery (no retries: no retry can fix it). It goes on the queue
 * through the test server's own harness route (bench/floor/entry.ts), which the deployed Worker
 * does not have.
 */
function poisonFor(userId) {
  return {
    id: randomUUID(),
    aggregate_id: userId,
    event_type: "USER_TELEPORTED",
    version: 1,
    timestamp: new Date().toISOString(),
    revision: 7,
    data: { to: "Mars" },
    metadata: { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null },
  };
}

describe("the operations page", () => {
  it("shows the pipeline, a dead letter with its error and history, redrives it; rebuilds and imports with progress", async () => {
    const ivan = await createUser({ username: "ivan", email: "ivan@example.com" });
    await expectOk(ctx.server.url, "POST", "/bench/queue", { body: poisonFor(ivan.id) }, 204);
    await eventually(
      async () =>
        (await request(ctx.server.url, "GET", "/admin/dead-letters", { token: ctx.admin.token })).body.results
          .length === 1,
      { what: "the poison message dead-lettered" },
    );

    const tab = await openTab();
    const { page } = tab;
    await signIn(page, ctx.admin.username, ctx.admin.password);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Operations" }).click();
    await page.getByRole("heading", { name: "Operations", level: 1 }).waitFor();
    for (const name of ["users", "audit"]) await page.locator(`tr[data-projection='${name}']`).waitFor();

    const letter = page.locator(".letter").first();
    await letter.getByText(`user ${ivan.id} at revision 7`).waitFor();
    await letter
      .getByLabel("Error")
      .getByText(/event_type/)
      .waitFor();
    assert.equal(await letter.locator("dt:text('Given up') + dd").textContent(), "1 time, 1 delivery");
    await page.locator(".metric.alert .value").getByText("1").waitFor();
    await letter.getByText("History (1)").click();
    await letter.getByText("Message body").click();
    await letter
      .locator(".body code")
      .getByText(/USER_TELEPORTED/)
      .waitFor();
    await shot(page, "operations");

    // The redrive sends it back through the projector, which cannot read it any better: a second
    // exhaustion on the same letter, in its history. The page shows it without a reload.
    await letter.getByRole("button", { name: "Redrive" }).click();
    await letter.getByRole("status").getByText("Dead letter re-driven.").waitFor();
    await letter.locator("dt:text('Given up') + dd").getByText("2 times, 2 deliveries").waitFor();
    await letter.getByText("History (2)").waitFor();
    await letter.locator("dt:text('Re-driven')").waitFor();

    // The full rebuild, followed to the end by its progress bar.
    await page.getByRole("button", { name: "Start rebuild" }).click();
    const rebuild = page.locator(".rebuild");
    await rebuild.getByText(/^Done: (\d+) of \1 users/).waitFor({ timeout: 30_000 });
    assert.equal(await rebuild.locator("progress").getAttribute("value"), "100");

    // An import from a file: the reference's rows and one line that is not JSON, reported by its line.
    const file = path.join(os.tmpdir(), `console-import-${process.pid}.ndjson`);
    const rows = readFileSync(path.join(ROOT, "test", "fixtures", "reference-rows.ndjson"), "utf8").trim();
    writeFileSync(file, `${rows}\nnot json\n`);
    await page.getByLabel("NDJSON file").setInputFiles(file);
    await page.getByRole("button", { name: "Import", exact: true }).click();
    const imported = page.locator(".import");
    await imported.getByText(/9 of 9 lines, done · 8 imported, 0 already there, 1 rejected/).waitFor();
    await imported
      .locator(".rejected")
      .getByText(/^line 9/)
      .waitFor();
    assert.equal(await imported.locator("progress").getAttribute("value"), "100");
    await shot(page, "operations-after");

    // Every admin page fits a phone (390 px) without scrolling sideways, once loaded.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [pathname, heading] of [
      ["/console/users", "Users"],
      ["/console/audit", "Audit"],
      ["/console/operations", "Operations"],
    ]) {
      await page.goto(pathname);
      await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
      await page.waitForFunction(() => !document.querySelector("[aria-busy='true']"));
      const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      assert.ok(fits, `${pathname} fits 390 px without scrolling sideways`);
    }
    await shot(page, "operations-390px");
    await tab.close();
  });

  it("the audit page: who did what, by actor, event type, time range and user name, page by page", async () => {
    // What the page shows needs Sarah's story and more than a page of entries, whichever tests ran.
    await sarahImported();
    const filler = () => `filler-${randomUUID().slice(0, 8)}`;
    await Promise.all(
      Array.from({ length: 26 }, () => {
        const username = filler();
        return createUser({ username, email: `${username}@example.com` });
      }),
    );
    // Signing in is an event too: page through a log that has stopped growing (the sign-in in it).
    const get = async (pathname) => (await request(ctx.server.url, "GET", pathname, { token: ctx.admin.token })).body;
    const logins = async () =>
      (await get(`/admin/audit/?actor=${ctx.admin.username}&event_type=USER_LOGGED_IN&limit=500`)).results.length;
    const before = await logins();
    const tab = await openTab();
    const { page } = tab;
    await signIn(page, ctx.admin.username, ctx.admin.password, { at: "/console/audit" });
    await page.getByRole("heading", { name: "Audit", level: 1 }).waitFor();
    await eventually(
      async () => {
        const status = await get("/admin/projections/status");
        return (await logins()) === before + 1 && status.outbox.backlog === 0 && status.users_behind === 0;
      },
      { what: "the audit log complete" },
    );
    // Dave's deletion of Sarah (her story's import) by actor, type, her name and Monday afternoon.
    await page.getByLabel("Actor").fill("dave");
    await page.getByLabel("Event type").selectOption("USER_DELETED");
    await page.getByLabel("User (username then)").fill("sarah");
    await page.getByLabel("From (your local time)").fill("2026-11-23T15:00:00");
    await page.getByLabel("To (your local time)").fill("2026-11-23T16:00:00");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/actor=dave&event_type=USER_DELETED&username=sarah&from=2026-11-23T14/);
    const rows = page.locator("table.audit tbody tr");
    await page.getByRole("status").getByText("Entries 1–1, newest first").waitFor();
    assert.equal(await rows.count(), 1);
    // Sarah's story came by import: the entry names dave, marked as imported, not as an act here.
    const by = rows.first().locator("td[data-label='By']");
    assert.match(await by.textContent(), /^dave/);
    assert.equal(await by.locator(".badge.imported").textContent(), "imported");
    assert.equal(await rows.first().locator("td[data-label='Why']").textContent(), "Duplicate account, ticket #4411");
    await shot(page, "audit");

    // Everything, 25 a page: older, then newer again.
    await page.goto("/console/audit");
    await page.getByRole("status").getByText("Entries 1–25, more below, newest first").waitFor();
    const newestFirst = await rows.first().getAttribute("data-event");
    await page.getByRole("button", { name: "Older" }).click();
    await page
      .getByRole("status")
      .getByText(/^Entries 26–/)
      .waitFor();
    assert.notEqual(await rows.first().getAttribute("data-event"), newestFirst);
    await page.getByRole("button", { name: "Newer" }).click();
    await page.getByRole("status").getByText("Entries 1–25, more below, newest first").waitFor();
    assert.equal(await rows.first().getAttribute("data-event"), newestFirst);
    await tab.close();
  });
});

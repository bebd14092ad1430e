import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { SHOTS, ctx, eventually, expectOk, openTab, request, shot, signIn } from "./support.mjs";

/** A bcrypt hash (cost 4) as the reference stores them; Sarah never signs in here. */
const BCRYPT = "$2b$04$XN2PVyimi/mfTMRwOHAs/.ZacDHSy.YfFATGNfUNV2mLVT/eNn./O";

/**
 * Sarah's life at known times, brought in by the import like a migration from the reference would:
 * created and renamed on Monday 23 November 2026 (two rows of the reference's `user_event_stream`),
 * then deleted by Dave at 3:52 PM Berlin time with his reason (an event of our own export, which
 * keeps its actor and reason).
 */
function sarahsLife(sarahId, dave) {
  const row = (revision, event_type, timestamp, data) => ({
    id: randomUUID(),
    aggregate_id: sarahId,
    event_type,
    timestamp,
    version: "1",
    revision,
    data,
  });
  return [
    row(1, "USER_CREATED", "2026-11-23T08:12:00.000000+00:00", {
      role: "USER",
      email: "sarah@example.com",
      username: "sarah",
      first_name: "Sarah",
      last_name: "Connor",
      password_hash: BCRYPT,
      hashing_method: "bcrypt",
    }),
    row(2, "USER_UPDATED", "2026-11-23T10:30:00.000000+00:00", { email: null, first_name: null, last_name: "Reese" }),
    {
      id: randomUUID(),
      aggregate_id: sarahId,
      event_type: "USER_DELETED",
      version: 2,
      timestamp: "2026-11-23T14:52:10.000Z",
      revision: 3,
      data: { reason: "Duplicate account, ticket #4411" },
      metadata: {
        actor_id: dave.id,
        actor_username: "dave",
        request_id: "req-dave-4411",
        idempotency_key: null,
        reason: "Duplicate account, ticket #4411",
      },
    },
  ];
}

/**
 * The talk's story: "Monday 3:47 PM, Sarah's account is missing". Support finds her by her old
 * username among deleted users, sees who deleted her and why, looks at her as she was at 3:47 PM,
 * restores her, and sees the restore arrive in the timeline as it commits.
 */
describe("the Sarah story", () => {
  it("find her among deleted users, see who deleted her and why, go back to 3:47 PM, restore her live", async () => {
    const dave = { username: "dave", password: "dave-admin-password" };
    const created = await expectOk(ctx.server.url, "POST", "/admin/bootstrap/admins", {
      token: ctx.server.devVars.ADMIN_BOOTSTRAP_TOKEN,
      body: { ...dave, email: "dave@example.com", first_name: "Dave", last_name: "Ops" },
    });
    const sarahId = randomUUID();
    const imported = await fetch(`${ctx.server.url}/admin/import`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ctx.admin.token}`, "Content-Type": "application/x-ndjson" },
      body: sarahsLife(sarahId, { id: created.body.user_id })
        .map((line) => JSON.stringify(line))
        .join("\n"),
    });
    assert.deepEqual(await imported.json(), { imported: 3, skipped: 0, rejected: [] });
    // The search reads the read model, which the queue fills: wait for her to be there, deleted.
    await eventually(
      async () => {
        const r = await request(ctx.server.url, "GET", "/v1/users/?status=deleted&username=sarah", {
          token: ctx.admin.token,
        });
        return r.body.count === 1;
      },
      { what: "Sarah deleted in the read model" },
    );

    const tab = await openTab();
    const { page } = tab;
    await signIn(page, ctx.admin.username, ctx.admin.password);
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await shot(page, "users");

    await page.getByLabel("Username contains").fill("sarah");
    await page.getByLabel("Status").selectOption("deleted");
    await page.getByRole("button", { name: "Search" }).click();
    const row = page.getByRole("row", { name: /sarah/ });
    await row.getByText("deleted").waitFor();
    await page.getByRole("status").getByText("1 user").waitFor();
    await shot(page, "users-deleted");

    await row.getByRole("link", { name: "sarah" }).click();
    await page.getByRole("heading", { name: "sarah", level: 1 }).waitFor();
    const newest = page.locator(".events .event").first();
    await newest.getByText("deleted").waitFor();
    assert.equal(await newest.locator("dt:text('Who') + dd").textContent(), "dave");
    assert.equal(await newest.locator("dt:text('Why') + dd").textContent(), "Duplicate account, ticket #4411");
    assert.match(await newest.locator(".local").textContent(), /23 Nov 2026, 15:52:10 CET/);
    await shot(page, "user");

    // The stream as a file, and as the domain test the export-to-test helper writes from it.
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Export the stream (NDJSON)" }).click();
    const file = await (await download).createReadStream();
    let ndjson = "";
    for await (const chunk of file) ndjson += chunk;
    assert.deepEqual(
      ndjson
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).event_type),
      ["USER_CREATED", "USER_UPDATED", "USER_DELETED"],
    );
    await newest.getByRole("button", { name: "Make a test from this" }).click();
    const code = page.locator(".make-test pre code");
    await code.getByText('.when({"type":"DeleteUser","reason":"Duplicate account, ticket #4411"})').waitFor();
    assert.match(await code.textContent(), /given\(\.\.\.historyFromExport\(EXPORT\)\.slice\(0, 2\)\)/);
    await page.locator(".make-test").screenshot({ path: `${SHOTS}/make-test.png` });
    await page.getByRole("button", { name: "Close" }).click();

    // Monday, 3:47 PM (the browser's local time, Berlin): she was there, under her new name.
    const travel = page.locator(".time-travel");
    await page.getByLabel("As of (your local time)").fill("2026-11-23T15:47:00.000");
    await page.getByRole("button", { name: "Go" }).click();
    await travel.locator("output").getByText("2").waitFor();
    await travel.locator("[data-field='status']").getByText("active").waitFor();
    assert.match(await travel.locator("[data-field='last_name']").getAttribute("class"), /changed/);
    assert.equal(await travel.locator("[data-field='last_name'] dd").textContent(), "Reese");
    await shot(page, "time-travel");
    // One step back on the slider, by keyboard: her creation, where nothing counts as changed.
    await page.getByRole("slider").press("ArrowLeft");
    await travel.locator("output").getByText("1").waitFor();
    await travel.locator("[data-field='last_name'] dd").getByText("Connor").waitFor();
    assert.equal(await travel.locator(".field.changed").count(), 0);

    // Restore her, with a reason; the event comes in through the live feed, not a reload.
    await page.evaluate(() => (window.sameDocument = true));
    await page.locator("[data-command='restore'] summary").click();
    await page.locator("[data-command='restore']").getByLabel("Reason").fill("Deleted by mistake, ticket #4411");
    await page.getByRole("button", { name: "Restore", exact: true }).click();
    await page.getByRole("status").getByText("User restored successfully (revision 4).").waitFor();
    const restored = page.locator(".events .event.fresh[data-revision='4']");
    await restored.getByText("restored").waitFor();
    await restored.getByText("new", { exact: true }).waitFor();
    assert.equal(await restored.locator("dt:text('Who') + dd").textContent(), ctx.admin.username);
    assert.equal(await restored.locator("dt:text('Why') + dd").textContent(), "Deleted by mistake, ticket #4411");
    await page.locator(".user-head .badge").getByText("active").waitFor();
    assert.equal(await page.evaluate(() => window.sameDocument), true, "the page was not reloaded");
    await shot(page, "restored");
    await tab.close();
  });
});

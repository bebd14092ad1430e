import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { command, createUser, ctx, eventually, expectOk, openTab, shot, signIn } from "./support.mjs";

describe("the users page as of an instant", () => {
  it("who was suspended at an instant, with the email she held then, and back to now", async () => {
    const mona = await createUser({ username: "mona", email: "mona@example.com" });
    await command("POST", `/v1/users/${mona.id}/suspend`, { reason: "chargeback" });
    const events = await expectOk(ctx.server.url, "GET", `/v1/users/${mona.id}/events`, { token: ctx.admin.token });
    // "3:47 PM on Monday": an instant while she was suspended, before her email changed.
    const suspendedAt = events.body.results[1].timestamp;
    const then = new Date(Date.parse(suspendedAt) + 1).toISOString();
    await command("PUT", `/v1/users/${mona.id}`, { email: "mona.new@example.com" });
    await command("POST", `/v1/users/${mona.id}/reactivate`, {});
    // The read model has her latest change before the page asks.
    await eventually(
      async () => {
        const r = await expectOk(
          ctx.server.url,
          "GET",
          `/admin/users/?as_of=${new Date().toISOString()}&email=mona.new@example.com`,
          {
            token: ctx.admin.token,
          },
        );
        return r.body.results.length === 1;
      },
      { what: "mona's intervals projected" },
    );

    const tab = await openTab();
    const { page } = tab;
    try {
      // Searched by name: the other scenarios' users fill the first pages of the list.
      await signIn(page, ctx.admin.username, ctx.admin.password, { at: "/console/users?username=mona" });
      await page.getByRole("cell", { name: "mona.new@example.com" }).waitFor();
      // The picker takes the browser's local time, as an operator would type it.
      const local = await page.evaluate((iso) => {
        const date = new Date(iso);
        return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().replace("Z", "");
      }, then);
      await page.getByLabel("As of (your local time; empty: now)").fill(local);
      await page.getByLabel("Status").selectOption("suspended");
      await page.getByRole("button", { name: "Search" }).click();

      await page.waitForURL((url) => url.searchParams.get("as_of") === then);
      const row = page.locator(`table.as-of tr[data-user="${mona.id}"]`);
      await row.waitFor();
      assert.equal(await row.locator('[data-label="Email then"]').textContent(), "mona@example.com");
      assert.equal(await row.locator('[data-label="Status then"]').textContent(), "suspended");
      assert.equal(await row.locator('[data-label="Revision"]').textContent(), "2");
      await shot(page, "users-as-of");

      // Who held her old email then: exactly her, in any case.
      await page.getByLabel("Status").selectOption("all");
      await page.getByLabel("Email then (exact)").fill("MONA@example.com");
      await page.getByRole("button", { name: "Search" }).click();
      await page.waitForURL((url) => url.searchParams.get("email") === "MONA@example.com");
      await page.locator("table.as-of tbody tr").first().waitFor();
      assert.equal(await page.locator("table.as-of tbody tr").count(), 1);

      // Back to now: the live list, where she is active under her new email.
      await page.getByRole("button", { name: "Now" }).click();
      await page.waitForURL((url) => !url.searchParams.has("as_of"));
      await page.getByLabel("Username contains").fill("mona");
      await page.getByRole("button", { name: "Search" }).click();
      await page.getByRole("cell", { name: "mona.new@example.com" }).waitFor();
    } finally {
      await tab.close();
    }
  });
});

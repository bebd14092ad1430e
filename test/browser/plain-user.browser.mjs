import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { command, createUser, openTab, shot, signIn } from "./support.mjs";

describe("a plain user", () => {
  it("sees their own page and nothing else; the admin pages refuse them", async () => {
    const paul = await createUser({
      username: "paul",
      email: "paul@example.com",
      first_name: "Paul",
      last_name: "Plain",
    });
    const other = await createUser({ username: "olga", email: "olga@example.com" });
    const tab = await openTab();
    const { page } = tab;
    await signIn(page, paul.username, paul.password);
    await page.waitForURL(`**/console/users/${paul.id}`);
    await page.getByRole("heading", { name: "paul", level: 1 }).waitFor();
    assert.deepEqual(await page.getByRole("navigation", { name: "Main" }).getByRole("link").allTextContents(), [
      "My account",
    ]);
    // Their own page has no admin action, and no "make a test" (the export is admin-only).
    assert.equal(await page.locator("[data-command='delete']").count(), 0);
    assert.equal(await page.getByRole("button", { name: "Make a test from this" }).count(), 0);
    await shot(page, "plain-user");

    for (const [path, what] of [
      ["/console/users", "the users page"],
      ["/console/audit", "the audit page"],
      ["/console/operations", "the operations page"],
      ["/console/subscriptions", "the subscriptions page"],
      [`/console/users/${other.id}`, "another user's page"],
    ]) {
      await page.goto(path);
      await page.getByRole("alert").getByText(`You are signed in as paul, who may not open ${what}.`).waitFor();
    }
    await shot(page, "refused");
    // The server refuses too: the console's check is a courtesy, not the protection.
    const status = await page.evaluate(async () => {
      const token = sessionStorage.getItem("console.session");
      const res = await fetch("/admin/projections/status", { headers: { Authorization: `Bearer ${token}` } });
      return [res.status, (await res.json()).message];
    });
    assert.deepEqual(status, [403, "Insufficient permissions. Admin role required."]);
    await tab.close();
  });

  it("whose token stops working returns to sign-in, then to the page they were on", async () => {
    const rita = await createUser({ username: "rita", email: "rita@example.com" });
    const tab = await openTab({ width: 390, height: 844 });
    const { page } = tab;
    await signIn(page, rita.username, rita.password);
    await page.getByRole("heading", { name: "rita", level: 1 }).waitFor();
    const noSideScroll = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(noSideScroll, "the page fits 390 px without scrolling sideways");
    await shot(page, "user-390px");

    await command("POST", `/v1/users/${rita.id}/suspend/`, { reason: "Card reported stolen" });
    await page.reload();
    await page.getByText("Your session has ended. Sign in again to return to the page you were on.").waitFor();
    await command("POST", `/v1/users/${rita.id}/reactivate/`, { reason: "Card found" });
    await page.getByLabel("Username").fill(rita.username);
    await page.getByLabel("Password").fill(rita.password);
    await page.keyboard.press("Enter");
    await page.waitForURL(`**/console/users/${rita.id}`);
    // Newest first: the sign-in itself is now an event (USER_LOGGED_IN), so the reactivation is below it.
    await page.locator(".events .event").filter({ hasText: "reactivated" }).first().waitFor();
    await tab.close();
  });
});

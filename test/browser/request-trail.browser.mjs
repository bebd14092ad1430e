import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ctx, expectOk, openTab, shot, signIn } from "./support.mjs";

describe("a request's trail", () => {
  it("from the audit page's request id to what the request caused: its event, the projections, the welcome mail", async () => {
    const requestId = `support-call-${Date.now()}`;
    const created = await expectOk(ctx.server.url, "POST", "/v1/users/", {
      token: ctx.admin.token,
      headers: { "X-Request-Id": requestId },
      body: {
        username: "trudy",
        email: "trudy@example.com",
        first_name: "Trudy",
        last_name: "Trail",
        password: "a-long-password-1",
      },
    });
    const userId = created.body.user_id;
    const tab = await openTab();
    const { page } = tab;
    try {
      await signIn(page, ctx.admin.username, ctx.admin.password, { at: "/console/audit?username=trudy" });
      const link = page.locator(`tr:has(a[href="/console/users/${userId}"]) a.request-link`);
      await link.waitFor({ timeout: 20_000 });
      assert.equal(await link.textContent(), requestId);
      await link.click();

      await page.waitForURL(`**/console/requests/${requestId}`);
      await page.getByRole("heading", { name: `Request ${requestId}`, level: 1 }).waitFor();
      const row = page.locator("table.trail-events tbody tr");
      await row.getByText("trudy").waitFor();
      // Every projection applied, the welcome sent: the page reads the trail again until then.
      await row.locator(".trail-projections .delivery-state-delivered").nth(3).waitFor({ timeout: 20_000 });
      assert.equal(await row.locator(".trail-projections li").count(), 4);
      const mail = page.locator("table.trail-mail tbody tr");
      await mail.getByText("sent").waitFor({ timeout: 20_000 });
      await mail.getByText("trudy@example.com").waitFor();
      // Earlier scenarios' subscriptions may still be there: only the section is asserted.
      await page.getByRole("heading", { name: "Webhook deliveries" }).waitFor();
      await shot(page, "request-trail");

      // The user's timeline links the same id here.
      await row.getByRole("link", { name: "trudy" }).click();
      await page.locator(".timeline a.request-link").filter({ hasText: requestId }).click();
      await page.getByRole("heading", { name: `Request ${requestId}`, level: 1 }).waitFor();

      // An id nothing carries.
      await page.goto("/console/requests/nothing-here");
      await page.getByRole("heading", { name: "Nothing found for this request" }).waitFor();
    } finally {
      await tab.close();
    }
  });
});

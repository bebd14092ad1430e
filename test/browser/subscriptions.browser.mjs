import assert from "node:assert/strict";
import http from "node:http";
import { describe, it } from "node:test";
import { createUser, ctx, eventually, openTab, shot, signIn } from "./support.mjs";

/**
 * A webhook receiver on 127.0.0.1 (the test server lists it in WEBHOOK_INSECURE_HOSTS): it records
 * every request's type and user, and answers 204, or 500 while `failing` is set.
 */
async function startReceiver() {
  const receiver = { received: [], failing: false, url: "" };
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (chunk) => (text += chunk));
    req.on("end", () => {
      let body = {};
      try {
        body = JSON.parse(text);
      } catch {
        // recorded without a type
      }
      receiver.received.push({
        id: req.headers["webhook-id"],
        type: body.type,
        user: body.data?.aggregate_id,
        signed: /^v1,/.test(String(req.headers["webhook-signature"] ?? "")),
        answered: receiver.failing ? 500 : 204,
      });
      res.writeHead(receiver.failing ? 500 : 204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${server.address().port}/hooks/users`;
  receiver.close = () => new Promise((resolve) => server.close(resolve));
  receiver.delivered = (user, type = "user.created") =>
    receiver.received.some((r) => r.user === user && r.type === type && r.answered === 204);
  return receiver;
}

describe("the subscriptions page", () => {
  it("creates a webhook, shows its deliveries, a dead one with its attempts and error, redelivers it, pauses and resumes", async () => {
    const receiver = await startReceiver();
    const tab = await openTab();
    const { page } = tab;
    try {
      await signIn(page, ctx.admin.username, ctx.admin.password);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Subscriptions" }).click();
      await page.getByRole("heading", { name: "Subscriptions", level: 1 }).waitFor();
      await page.getByText("No subscription yet.").waitFor();

      // Created from the page: the secret is shown once, then the subscription is in the table.
      await page.getByLabel(/^URL/).fill(receiver.url);
      await page.getByLabel("Description").fill("CRM sync");
      await page.getByRole("button", { name: "Create subscription" }).click();
      const secret = await page.getByLabel("Signing secret").inputValue();
      assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
      await page.getByRole("button", { name: "I have stored the secret" }).click();
      assert.equal(await page.getByLabel("Signing secret").count(), 0);
      const row = page.locator("table.subs tbody tr").filter({ hasText: "CRM sync" });
      await row.locator(".sub-active").waitFor();
      const subscriptionId = await row.getAttribute("data-subscription");

      // A new user's creation reaches the receiver, signed; the table shows the delivery.
      const wendy = await createUser({ username: "wendy", email: "wendy@example.com" });
      await eventually(() => receiver.delivered(wendy.id), { timeoutMs: 20_000, what: "wendy's creation delivered" });
      assert.ok(
        receiver.received.every((r) => r.signed),
        "every request carries a webhook-signature",
      );
      await row.locator("td[data-label='Last delivery']").getByText("HTTP 204").waitFor();
      await row.locator("td[data-label='Failing']").getByText("none").waitFor();

      // The receiver fails: the next creation is retried, then dead after WEBHOOK_MAX_ATTEMPTS (3).
      receiver.failing = true;
      const xavier = await createUser({ username: "xavier", email: "xavier@example.com" });
      await row.getByText("0 retrying, 1 dead").waitFor({ timeout: 30_000 });
      await row.locator("td[data-label='Last delivery']").getByText("HTTP 500").waitFor();
      await shot(page, "subscriptions");

      // Its page: the dead delivery with its attempts and last error.
      await row.getByRole("link", { name: "CRM sync" }).click();
      await page.waitForURL(`**/console/subscriptions/${subscriptionId}`);
      await page.getByRole("heading", { name: "CRM sync", level: 1 }).waitFor();
      const dead = page.locator("table.delivery-table tbody tr.delivery-dead");
      await dead.waitFor();
      assert.equal(await dead.locator("td[data-label='Attempts']").textContent(), "3");
      await dead.locator("td[data-label='Last error']").getByText("HTTP 500").waitFor();
      assert.equal(await dead.locator("td[data-label='User'] a").getAttribute("href"), `/console/users/${xavier.id}`);
      await page.locator(".sub-state dt:text('Failing since') + dd time").waitFor();
      await shot(page, "subscription");

      // Redelivered from the page once the receiver is back: it arrives, and the row leaves the list.
      receiver.failing = false;
      await dead.getByRole("button", { name: /^Redeliver/ }).click();
      await eventually(() => receiver.delivered(xavier.id), {
        timeoutMs: 20_000,
        what: "xavier's creation redelivered",
      });
      await page.getByText("No delivery is retrying or dead.").waitFor();

      // Paused: nothing is sent, and the lag behind the feed's end grows. Resumed: the backlog goes out.
      await page.getByRole("button", { name: "Pause" }).click();
      await page.getByRole("status").getByText("Paused: nothing is sent until it is resumed.").waitFor();
      await page.locator(".user-head .sub-paused").waitFor();
      const yolanda = await createUser({ username: "yolanda", email: "yolanda@example.com" });
      await page
        .locator(".sub-state dt:text('Lag') + dd")
        .getByText(/^\d+ events? behind/)
        .waitFor({ timeout: 20_000 });
      assert.equal(receiver.delivered(yolanda.id), false, "nothing is sent while paused");
      await page.getByRole("button", { name: "Resume" }).click();
      await page.locator(".user-head .sub-active").waitFor();
      await eventually(() => receiver.delivered(yolanda.id), {
        timeoutMs: 20_000,
        what: "yolanda's creation delivered after the resume",
      });
      await page.getByLabel("Show").selectOption("pending");
      await page.getByText("No pending delivery.").waitFor({ timeout: 20_000 });
      await page.locator(".sub-state dt:text('Lag') + dd").getByText("caught up").waitFor({ timeout: 20_000 });

      // The operations page shows its lag and links here.
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Operations" }).click();
      const lag = page.locator(`table.sub-lag tr[data-subscription='${subscriptionId}']`);
      await lag.getByRole("link", { name: "CRM sync" }).waitFor();
      await lag
        .locator("td[data-label='Lag']")
        .getByText(/caught up|behind/)
        .waitFor();

      // Both pages fit a phone (390 px) without scrolling sideways.
      await page.setViewportSize({ width: 390, height: 844 });
      for (const [pathname, heading] of [
        [`/console/subscriptions/${subscriptionId}`, "CRM sync"],
        ["/console/subscriptions", "Subscriptions"],
      ]) {
        await page.goto(pathname);
        await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
        await page.waitForFunction(() => !document.querySelector("[aria-busy='true']"));
        const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
        assert.ok(fits, `${pathname} fits 390 px without scrolling sideways`);
      }
      await shot(page, "subscriptions-390px");
      await page.setViewportSize({ width: 1280, height: 900 });

      // Deleted after a typed confirmation: gone from the list.
      await page.goto(`/console/subscriptions/${subscriptionId}`);
      await page.getByText("Delete subscription").click();
      const confirm = page.getByRole("button", { name: "Delete for good" });
      assert.equal(await confirm.isDisabled(), true);
      await page.getByLabel("Type delete to confirm").fill("delete");
      await confirm.click();
      await page.waitForURL("**/console/subscriptions");
      await page.getByText("No subscription yet.").waitFor();
    } finally {
      await tab.close();
      await receiver.close();
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createUser, ctx, eventually, openTab, request, shot, signIn } from "./support.mjs";

describe("refused attempts", () => {
  it("a refused command leaves the user's stream alone and shows on the user's page, linked to its trail", async () => {
    const rhea = await createUser({ username: "rhea", email: "rhea@example.com", first_name: "Rhea" });
    const stale = `stale-edit-${Date.now()}`;
    const anonymous = `no-token-${Date.now()}`;
    // A support agent's edit against an old revision (412), a call without a token (401), a wrong password (401).
    const refused = await request(ctx.server.url, "PUT", `/v1/users/${rhea.id}/`, {
      token: ctx.admin.token,
      headers: { "X-Request-Id": stale, "If-Match": '"9"' },
      body: { first_name: "Late" },
    });
    assert.equal(refused.status, 412);
    const unauthenticated = await request(ctx.server.url, "POST", `/v1/users/${rhea.id}/suspend/`, {
      headers: { "X-Request-Id": anonymous },
    });
    assert.equal(unauthenticated.status, 401);
    const guess = await request(ctx.server.url, "POST", "/v1/auth/login/", {
      body: { username: "rhea", password: "not-her-password" },
    });
    assert.equal(guess.status, 401);
    // The journal is written after the answer: wait for it, as the page would on a reload.
    await eventually(
      async () => {
        const r = await request(ctx.server.url, "GET", `/admin/refusals/?user_id=${rhea.id}`, {
          token: ctx.admin.token,
        });
        return JSON.parse(r.text).results.length >= 3;
      },
      { what: "the refusals to be journaled" },
    );

    const tab = await openTab();
    const { page } = tab;
    try {
      await signIn(page, ctx.admin.username, ctx.admin.password, { at: `/console/users/${rhea.id}` });
      await page.getByRole("heading", { name: "rhea", level: 1 }).waitFor();
      // The stream holds only her creation: the refusals changed nothing.
      await page.getByText("Showing the latest revision, 1.").waitFor();
      const section = page.locator("section.refused-attempts");
      await section.getByRole("heading", { name: "Refused attempts" }).waitFor();
      const staleRow = section.locator("tr", { hasText: stale });
      await staleRow.waitFor();
      assert.match(await staleRow.textContent(), /UpdateUser.*412.*RevisionMismatch/s);
      const anonymousRow = section.locator("tr", { hasText: anonymous });
      assert.match(await anonymousRow.textContent(), /anonymous.*SuspendUser.*401.*no_token/s);
      await section.locator("tr", { hasText: "incorrect_credentials" }).getByText("Login").waitFor();
      assert.doesNotMatch(await section.textContent(), /not-her-password/);
      await section.scrollIntoViewIfNeeded();
      await shot(page, "refused-attempts");

      // The request id leads to the request's trail, which shows the refusal and no event.
      await staleRow.locator("a.request-link").click();
      await page.getByRole("heading", { name: `Request ${stale}`, level: 1 }).waitFor();
      const trail = page.locator("table.refusals tbody tr");
      await trail.getByText("RevisionMismatch").waitFor();
      assert.equal(await page.locator("table.trail-events tbody tr").count(), 0);
    } finally {
      await tab.close();
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SHOTS, command, createUser, ctx, expectOk, openTab, shot, signIn } from "./support.mjs";

/**
 * The talk's story: "Monday 3:47 PM, Sarah's account is missing". Support finds her by her old
 * username among deleted users, sees who deleted her and why, looks at her as she was before.
 */
describe("the Sarah story", () => {
  it("find her among deleted users, see who deleted her and why, travel back to before", async () => {
    // Another admin, Dave, deletes Sarah by mistake after she changed her name.
    const dave = { username: "dave", password: "dave-admin-password" };
    await expectOk(ctx.server.url, "POST", "/admin/bootstrap/admins", {
      token: ctx.server.devVars.ADMIN_BOOTSTRAP_TOKEN,
      body: { ...dave, email: "dave@example.com", first_name: "Dave", last_name: "Ops" },
    });
    const daveToken = (await expectOk(ctx.server.url, "POST", "/v1/auth/login/", { body: dave })).body.access_token;
    const sarah = await createUser({
      username: "sarah",
      email: "sarah@example.com",
      first_name: "Sarah",
      last_name: "Connor",
    });
    await command("PUT", `/v1/users/${sarah.id}/`, { last_name: "Reese" });
    await command("DELETE", `/v1/users/${sarah.id}/`, { reason: "Duplicate account, ticket #4411" }, daveToken);

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

    // Back to before the deletion: the instant of her name change, typed in local time.
    const changed = page.locator(".events .event[data-revision='2'] time");
    const instant = await changed.getAttribute("datetime");
    const local = await page.evaluate((iso) => {
      const d = new Date(iso);
      return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().replace("Z", "");
    }, instant);
    await page.getByLabel("As of (your local time)").fill(local);
    await page.getByRole("button", { name: "Go" }).click();
    const travel = page.locator(".time-travel");
    await travel.locator("output").getByText("2").waitFor();
    await travel.locator("[data-field='status']").getByText("active").waitFor();
    assert.match(await travel.locator("[data-field='last_name']").getAttribute("class"), /changed/);
    assert.equal(await travel.locator("[data-field='last_name'] dd").textContent(), "Reese");
    await shot(page, "time-travel");
    await tab.close();
  });
});

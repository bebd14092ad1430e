import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SHOTS, ctx, openTab, shot, signIn } from "./support.mjs";
import { sarahImported } from "./sarah-story.mjs";

/**
 * The talk's story: "Monday 3:47 PM, Sarah's account is missing". Support finds her by her old
 * username among deleted users, sees who deleted her and why, looks at her as she was at 3:47 PM,
 * restores her, and sees the restore arrive in the timeline as it commits.
 */
describe("the Sarah story", () => {
  it("find her among deleted users, see who deleted her and why, go back to 3:47 PM, restore her live", async () => {
    await sarahImported();

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

    // Put her back as she was at her creation (issue 29): the preview names the correction it will
    // append, and the revert appends it after everything, with the reason.
    const slider = page.getByRole("slider");
    await slider.press("Home");
    await travel.locator("output").getByText("1").waitFor();
    const putBack = page.locator("[data-command='put-back']");
    await putBack.locator("summary").click();
    await putBack.getByLabel("Reason").fill("Her name was Connor, ticket #4412");
    await putBack.getByRole("button", { name: "Preview the events" }).click();
    const preview = putBack.locator(".revert-preview li");
    await preview.first().waitFor();
    assert.equal(await preview.count(), 1);
    assert.match(await preview.first().textContent(), /"last_name":"Connor"/);
    await putBack.getByRole("button", { name: "Put back as it was", exact: true }).click();
    await page.getByRole("status").getByText("User reverted successfully: USER_CORRECTED (revision 5).").waitFor();
    const reverted = page.locator(".events .event.fresh[data-revision='5']");
    await reverted.locator("dt:text('Why') + dd").getByText("Her name was Connor, ticket #4412").waitFor();
    assert.equal(await page.evaluate(() => window.sameDocument), true, "the page was not reloaded");
    await tab.close();
  });
});

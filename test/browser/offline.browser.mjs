import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ctx, openTab, shot, signIn } from "./support.mjs";

describe("offline: /docs and /console with every request off 127.0.0.1 blocked", () => {
  it("/docs renders the API from local assets under a strict CSP", async () => {
    const tab = await openTab();
    const res = await tab.page.goto("/docs");
    assert.match(res.headers()["content-security-policy"], /script-src 'self'/);
    await tab.page.getByText("Event-sourced user service").first().waitFor();
    await tab.page.locator(".opblock-tag").first().waitFor();
    await shot(tab.page, "docs");
    await tab.close();
  });

  it("/console answers deep links with the app, and signs in", async () => {
    const tab = await openTab();
    const res = await tab.page.goto("/console/users?status=deleted");
    assert.match(res.headers()["content-security-policy"], /default-src 'self'/);
    await tab.page.getByRole("heading", { name: "Sign in to the user console" }).waitFor();
    await shot(tab.page, "sign-in");
    await tab.page.getByLabel("Username").fill(ctx.admin.username);
    await tab.page.getByLabel("Password").fill("wrong password");
    await tab.page.getByRole("button", { name: "Sign in" }).click();
    await tab.page.getByRole("alert").getByText("Incorrect username or password").waitFor();
    await signIn(tab.page, ctx.admin.username, ctx.admin.password, { at: "/console/users?status=deleted" });
    // The deep link asked for before signing in is where the console lands.
    await tab.page.waitForURL(/\/console\/users\?status=deleted$/);
    await tab.close();
  });
});

import { describe, expect, it } from "vitest";
import { call } from "../support/api";

/**
 * The HTML the Worker answers for /docs and the console. Their scripts and styles are static assets,
 * which the pool does not route (platform research §3), so this checks the pages and their headers;
 * the browser tests (`npm run test:browser`) load everything in Chromium with the network cut.
 */
describe("/docs and /console pages", () => {
  it.each([
    "/docs",
    "/console",
    "/console/",
    "/console/users/8a4b7f2e-0c1d-4e5f-9a8b-7c6d5e4f3a2b",
    "/console/operations",
  ])("%s is HTML under a strict CSP that loads nothing from another origin", async (path) => {
    const res = await call<string>("GET", path);
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toContain("text/html");
    const csp = res.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    // No inline script (the CSP would block it) and no address outside this origin.
    expect(res.body).not.toMatch(/<script>(?!<)/);
    expect(res.body).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it("the console's shell points at its built assets", async () => {
    const res = await call<string>("GET", "/console/users");
    expect(res.body).toContain('<script type="module" src="/console/assets/app.js"></script>');
    expect(res.body).toContain('<link rel="stylesheet" href="/console/assets/app.css">');
  });
});

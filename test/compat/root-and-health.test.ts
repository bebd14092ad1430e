import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

/** tests/system/api/test_root.py and test_ht.py of the reference. */

describe("the root and the health check", () => {
  it("GET / redirects 307 to /docs, which answers 200 (test_root::test_root follows the redirect)", async () => {
    const res = await exports.default.fetch("http://localhost/", { redirect: "manual" });
    expect(res.status).toBe(307);
    expect(res.headers.get("Location")).toBe("/docs");
    const docs = await exports.default.fetch(new URL(res.headers.get("Location") ?? "", "http://localhost/"));
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("swagger");
  });

  it("GET /ht/ answers 200 {status: UP} (test_ht::test_read_main)", async () => {
    const res = await exports.default.fetch("http://localhost/ht/");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "UP" });
  });
});

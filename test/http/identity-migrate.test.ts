import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { identityKey } from "../../src/domain/rules";
import { identityRegistry } from "../../src/write/identity-shards";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD } from "../support/builders";
import { expectError } from "./helpers";

interface Step {
  users: number;
  adopted: number;
  next_cursor: string | null;
  done: boolean;
}

describe("POST /admin/identity/migrate", () => {
  let admin: Awaited<ReturnType<typeof adminSession>>;
  beforeAll(async () => {
    admin = await adminSession();
  });

  it("is an admin's: 401 without a token, 403 with a user's", async () => {
    expectError(await call("POST", "/admin/identity/migrate"), 401, {});
    const user = await createUser(admin.token);
    const token = await login(user.username, PASSWORD);
    expectError(await call("POST", "/admin/identity/migrate", { token }), 403, {});
  });

  it("steps through the directory until done, then every name is still held by its user", async () => {
    const user = await createUser(admin.token);
    let cursor = "";
    const steps: Step[] = [];
    for (;;) {
      const res = await call<Step>("POST", `/admin/identity/migrate?cursor=${encodeURIComponent(cursor)}`, {
        token: admin.token,
      });
      expect(res.status).toBe(200);
      steps.push(res.body);
      if (res.body.done) break;
      cursor = res.body.next_cursor!;
    }
    expect(steps.at(-1)).toEqual({ users: 0, adopted: 0, next_cursor: null, done: true });
    expect(await identityRegistry(env).holder(identityKey("username", user.username))).toBe(user.id);
  });

  it("a cursor longer than an id is bad input: 422 in the error envelope", async () => {
    const res = await call("POST", `/admin/identity/migrate?cursor=${"x".repeat(65)}`, { token: admin.token });
    expectError(res, 422, {});
  });
});

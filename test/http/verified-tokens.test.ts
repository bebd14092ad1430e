import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { VERIFIED_TOKENS_KEPT, verifiedOnce, verifiedTokensKept } from "../../src/http/verified-tokens";
import { adminSession, call, createUser } from "../support/api";
import { craftToken, expectError, nowSeconds } from "./helpers";

/**
 * A token verified once is not verified again by the same isolate, but it is still refused the
 * second its `exp` passes, under another signing key, and the isolate keeps a bounded number.
 */

afterEach(() => {
  vi.useRealTimers();
});

describe("verifiedOnce", () => {
  const key = {} as CryptoKey;
  const claims = (n: number) => async () => ({ claims: { n }, exp: nowSeconds() + 60 });

  it("verifies a token once, and answers its claims from then on", async () => {
    const verify = vi.fn(claims(1));
    expect(await verifiedOnce("t-once", key, verify)).toEqual({ n: 1 });
    expect(await verifiedOnce("t-once", key, verify)).toEqual({ n: 1 });
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it("refuses a kept token once its exp has passed", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verify = vi.fn(claims(2));
    expect(await verifiedOnce("t-exp", key, verify)).toEqual({ n: 2 });
    vi.setSystemTime(Date.now() + 59_000);
    expect(await verifiedOnce("t-exp", key, verify)).toEqual({ n: 2 });
    vi.setSystemTime(Date.now() + 1_000);
    expect(await verifiedOnce("t-exp", key, verify)).toBeNull();
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it("takes a token as verified only under the key it was verified with", async () => {
    const other = {} as CryptoKey;
    await verifiedOnce("t-key", key, claims(3));
    const refused = vi.fn(async () => null);
    expect(await verifiedOnce("t-key", other, refused)).toBeNull();
    expect(refused).toHaveBeenCalledTimes(1);
  });

  it("keeps no refusal, and at most VERIFIED_TOKENS_KEPT tokens", async () => {
    expect(await verifiedOnce("t-refused", key, async () => null)).toBeNull();
    expect(await verifiedOnce("t-refused", key, claims(4))).toEqual({ n: 4 });
    for (let i = 0; i < VERIFIED_TOKENS_KEPT + 10; i++) await verifiedOnce(`t-many-${i}`, key, claims(i));
    expect(verifiedTokensKept()).toBe(VERIFIED_TOKENS_KEPT);
    // The oldest went first: the first of the many is verified again, the last is not.
    const again = vi.fn(claims(5));
    await verifiedOnce("t-many-0", key, again);
    await verifiedOnce(`t-many-${VERIFIED_TOKENS_KEPT + 9}`, key, again);
    expect(again).toHaveBeenCalledTimes(1);
  });
});

describe("a read with a token it has seen before", () => {
  let admin: Awaited<ReturnType<typeof adminSession>>;
  beforeAll(async () => {
    admin = await adminSession();
  });

  it("is answered while the token is valid and refused with 401 from its exp on", async () => {
    const user = await createUser(admin.token);
    const token = await craftToken({
      user_id: admin.id,
      username: admin.username,
      role: "admin",
      exp: nowSeconds() + 120,
    });
    // `min_revision`: answered once the user is projected.
    expect((await call("GET", `/v1/users/${user.id}/?min_revision=1`, { token })).status).toBe(200);
    expect((await call("GET", "/v1/users/", { token })).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 121_000);
    expectError(await call("GET", `/v1/users/${user.id}/`, { token }), 401, {
      message: "Could not validate credentials",
    });
    expectError(await call("GET", "/v1/users/", { token }), 401, { message: "Could not validate credentials" });
  });

  it("signed with another secret is refused though the same claims were accepted", async () => {
    const claims = { user_id: admin.id, username: admin.username, role: "admin" as const, exp: nowSeconds() + 600 };
    expect((await call("GET", "/v1/users/", { token: await craftToken(claims) })).status).toBe(200);
    const forged = await craftToken(claims, "not-the-secret-not-the-secret-not-the-secret");
    expectError(await call("GET", "/v1/users/", { token: forged }), 401, { message: "Could not validate credentials" });
  });
});

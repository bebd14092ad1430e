import { describe, expect, it } from "vitest";
import type { Plan } from "../../src/domain/plan";
import { prepare, type Services } from "../../src/write/prepare";

/** Services that record the keys claimed and take every claim but `taken`. */
function services(taken: string | null = null) {
  const claimed: string[] = [];
  const released: string[] = [];
  const fake: Services = {
    hash: (password) => Promise.resolve(`hash(${password})`),
    verify: () => Promise.resolve(true),
    claim: (keys) => {
      claimed.push(...keys);
      return Promise.resolve(keys.map((key) => key !== taken));
    },
    release: (keys) => {
      released.push(...keys);
      return Promise.resolve();
    },
    forget: () => Promise.resolve(),
  };
  return { fake, claimed, released };
}

const plan = (claims: Plan["claims"]): Plan => ({
  input: { type: "UpdateUser", email: "ada@example.org" },
  role: "user",
  check: null,
  hash: null,
  claims,
  validWhilePasswordHash: null,
  validAtRevision: null,
});

describe("preparing a plan", () => {
  it("claims the keys the plan computed, not keys of its own", async () => {
    const { fake, claimed } = services();
    const planned = plan([{ field: "email", value: "ada@example.org", key: "key-from-the-plan" }]);
    const prepared = await prepare(planned, "owner", fake);
    expect(claimed).toEqual(["key-from-the-plan"]);
    expect(prepared).toMatchObject({ ok: true, claimed: ["key-from-the-plan"] });
  });

  it("a taken key refuses the command with the plan's field and value, and frees the keys it won", async () => {
    const { fake, released } = services("taken");
    const prepared = await prepare(
      plan([
        { field: "username", value: "ada", key: "won" },
        { field: "email", value: "ada@example.org", key: "taken" },
      ]),
      "owner",
      fake,
    );
    expect(prepared).toEqual({
      ok: false,
      rejection: { code: "IdentityTaken", field: "email", value: "ada@example.org" },
    });
    expect(released).toEqual(["won"]);
  });
});

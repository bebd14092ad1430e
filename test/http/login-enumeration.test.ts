import { describe, expect, it } from "vitest";
import { adminSession, call, createUser, uniqueName } from "../support/api";

/**
 * API.md: wrong username or password → 401 "Incorrect username or password", no hint which part was
 * wrong. If only existing users' failures were throttled, the 6th wrong login would tell whether a
 * username exists (429) or not (401).
 */
async function sixWrongLogins(username: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push((await call("POST", "/v1/auth/login/", { body: { username, password: `wrong-${i}` } })).status);
  }
  return statuses;
}

describe("login answers do not reveal which usernames exist", () => {
  it("an existing and an unknown username both answer 429 on the 6th wrong try", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token);
    const existing = await sixWrongLogins(user.username);
    const unknown = await sixWrongLogins(uniqueName("nobody"));

    expect(existing).toEqual([401, 401, 401, 401, 401, 429]);
    expect(unknown).toEqual(existing);
  });
});

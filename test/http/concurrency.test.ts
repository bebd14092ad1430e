import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { adminSession, call, createUser } from "../support/api";

describe("concurrent commands over HTTP", () => {
  it("50 concurrent updates to one user are all answered 200, with revisions 2..51 and none lost", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token);

    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { first_name: `name-${i}` } }),
      ),
    );

    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    const revisions = responses.map((r) => r.body.revision as number).sort((a, b) => a - b);
    expect(revisions).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    const stream = await env.USER_STREAM.getByName(user.id).readStream(1, 100);
    expect(stream.map((e) => e.revision)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    const names = stream
      .slice(1)
      .map((e) => e.data.first_name)
      .sort();
    expect(names).toEqual(Array.from({ length: 50 }, (_, i) => `name-${i}`).sort());
  });
});

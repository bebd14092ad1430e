import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
// @ts-expect-error: a plain script without types
import { conflictOf, describe as describeOutcome } from "../../scripts/admin-outcome.mjs";
import { adminSession, call, createUser } from "../support/api";
import { newUserBody, uniqueName } from "../support/builders";

/** `npm run create-admin` reads the bootstrap route's 409 and says what exists. */
describe("create-admin says what exists", () => {
  async function bootstrap(body: ReturnType<typeof newUserBody>) {
    const res = await call<any>("POST", "/admin/bootstrap/admins", { token: env.ADMIN_BOOTSTRAP_TOKEN, body });
    return { status: res.status, conflict: res.status === 409 ? conflictOf(res.body) : null };
  }

  it("a re-run for the same admin: the admin exists", async () => {
    const body = newUserBody(uniqueName("adm"));
    expect((await bootstrap(body)).status).toBe(200);
    const again = await bootstrap(body);
    expect(again).toEqual({ status: 409, conflict: "admin" });
    expect(describeOutcome({ created: false, conflict: "admin" }, body)).toContain("already exists");
  });

  it("the username of an ordinary user, or only the email taken: says which, not 'admin exists'", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token);
    const byName = await bootstrap({ ...newUserBody(user.username), email: `${uniqueName("e")}@example.com` });
    expect(byName).toEqual({ status: 409, conflict: "username" });
    const byEmail = await bootstrap({ ...newUserBody(uniqueName("adm")), email: user.email });
    expect(byEmail).toEqual({ status: 409, conflict: "email" });
    expect(
      describeOutcome({ created: false, conflict: "username" }, { username: user.username, email: "x" }),
    ).toContain("taken by another user");
    expect(describeOutcome({ created: false, conflict: "email" }, { username: "x", email: user.email })).toContain(
      `email '${user.email}' is taken`,
    );
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { LIMITS } from "../../src/live/protocol";
import { TOKEN_REFUSED, type SelfCaller } from "../../src/write/protocol";
import { PASSWORD } from "../support/builders";
import { createUser, expectOk, send, settleAlarms } from "../write/helpers";

/** Tickets in the user's own object; the time is the caller's argument, so a test can move it. */
const T0 = Date.parse("2026-11-30T12:00:00.000Z");
/** The user's own token, issued at its first revision (its creation). */
const OWN: SelfCaller = { issuedAt: 1, role: "user" };

const secretOf = (issued: { secret: string } | typeof TOKEN_REFUSED) =>
  issued === TOKEN_REFUSED ? "refused" : issued.secret;

afterEach(settleAlarms);

describe("tickets", () => {
  it("are single use", async () => {
    const { stub, userId } = await createUser();
    const issued = await stub.ticket(T0, OWN);
    expect(issued).toEqual({ secret: expect.stringMatching(/^[\w-]{43}$/), expiresIn: LIMITS.ticketSeconds });
    const first = await stub.redeemTicket(secretOf(issued), T0 + 1000);
    expect(first).toMatchObject({ revision: 1, user: { id: userId, status: "active" } });
    expect(await stub.redeemTicket(secretOf(issued), T0 + 2000)).toBeNull();
  });

  it(`expire after ${LIMITS.ticketSeconds} s`, async () => {
    const { stub } = await createUser();
    const lastMoment = await stub.ticket(T0, OWN);
    const late = await stub.ticket(T0, OWN);
    const expiry = T0 + LIMITS.ticketSeconds * 1000;
    expect(await stub.redeemTicket(secretOf(lastMoment), expiry - 1)).not.toBeNull();
    expect(await stub.redeemTicket(secretOf(late), expiry)).toBeNull();
  });

  it("are forgotten when the user's credentials are revoked", async () => {
    const { stub, userId } = await createUser();
    const issued = await stub.ticket(T0, OWN);
    expectOk(
      await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "another-pass-2" }),
    );
    expect(await stub.redeemTicket(secretOf(issued), T0 + 1000)).toBeNull();
  });

  it("are issued only for a token the user still accepts: not one older than a revocation, nor another role's", async () => {
    const { stub, userId } = await createUser();
    expect(await stub.ticket(T0, { ...OWN, role: "admin" })).toBe(TOKEN_REFUSED);
    expectOk(
      await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "another-pass-2" }),
    );
    expect(await stub.ticket(T0, OWN)).toBe(TOKEN_REFUSED);
    // A token from a login after the change (issued at revision 2) still gets one.
    expect(secretOf(await stub.ticket(T0, { ...OWN, issuedAt: 2 }))).toMatch(/^[\w-]{43}$/);
  });

  it("are not issued to, nor redeemed for, a user who is not active", async () => {
    const { stub, userId } = await createUser();
    const issued = await stub.ticket(T0, OWN);
    expectOk(await send(userId, { type: "SuspendUser" }));
    expect(await stub.ticket(T0, { ...OWN, issuedAt: 2 })).toBe(TOKEN_REFUSED);
    expect(await stub.redeemTicket(secretOf(issued), T0 + 1000)).toBeNull();
  });

  it(`a user holds at most ${LIMITS.maxTicketsPerUser}: a new one drops the oldest`, async () => {
    const { stub } = await createUser();
    const tickets = [];
    for (let i = 0; i <= LIMITS.maxTicketsPerUser; i++) tickets.push(secretOf(await stub.ticket(T0 + i, OWN)));
    expect(await stub.redeemTicket(tickets[0]!, T0 + 100)).toBeNull();
    expect(await stub.redeemTicket(tickets[1]!, T0 + 100)).not.toBeNull();
    expect(await stub.redeemTicket(tickets.at(-1)!, T0 + 100)).not.toBeNull();
  });
});

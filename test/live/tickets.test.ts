import { afterEach, describe, expect, it } from "vitest";
import { LIMITS } from "../../src/live/protocol";
import { PASSWORD } from "../support/builders";
import { createUser, expectOk, send, settleAlarms } from "../write/helpers";

/** Tickets in the user's own object; the time is the caller's argument, so a test can move it. */
const T0 = Date.parse("2026-11-30T12:00:00.000Z");

afterEach(settleAlarms);

describe("tickets", () => {
  it("are single use", async () => {
    const { stub, userId } = await createUser();
    const issued = await stub.ticket(T0);
    expect(issued).toEqual({ secret: expect.stringMatching(/^[\w-]{43}$/), expiresIn: LIMITS.ticketSeconds });
    const first = await stub.redeemTicket(issued?.secret ?? "", T0 + 1000);
    expect(first).toMatchObject({ revision: 1, user: { id: userId, status: "active" } });
    expect(await stub.redeemTicket(issued?.secret ?? "", T0 + 2000)).toBeNull();
  });

  it(`expire after ${LIMITS.ticketSeconds} s`, async () => {
    const { stub } = await createUser();
    const lastMoment = await stub.ticket(T0);
    const late = await stub.ticket(T0);
    const expiry = T0 + LIMITS.ticketSeconds * 1000;
    expect(await stub.redeemTicket(lastMoment?.secret ?? "", expiry - 1)).not.toBeNull();
    expect(await stub.redeemTicket(late?.secret ?? "", expiry)).toBeNull();
  });

  it("are forgotten when the user's credentials are revoked", async () => {
    const { stub, userId } = await createUser();
    const issued = await stub.ticket(T0);
    expectOk(
      await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "another-pass-2" }),
    );
    expect(await stub.redeemTicket(issued?.secret ?? "", T0 + 1000)).toBeNull();
  });

  it("are not issued to, nor redeemed for, a user who is not active", async () => {
    const { stub, userId } = await createUser();
    const issued = await stub.ticket(T0);
    expectOk(await send(userId, { type: "SuspendUser" }));
    expect(await stub.ticket(T0)).toBeNull();
    expect(await stub.redeemTicket(issued?.secret ?? "", T0 + 1000)).toBeNull();
  });

  it(`a user holds at most ${LIMITS.maxTicketsPerUser}: a new one drops the oldest`, async () => {
    const { stub } = await createUser();
    const tickets = [];
    for (let i = 0; i <= LIMITS.maxTicketsPerUser; i++) tickets.push(await stub.ticket(T0 + i));
    expect(await stub.redeemTicket(tickets[0]?.secret ?? "", T0 + 100)).toBeNull();
    expect(await stub.redeemTicket(tickets[1]?.secret ?? "", T0 + 100)).not.toBeNull();
    expect(await stub.redeemTicket(tickets.at(-1)?.secret ?? "", T0 + 100)).not.toBeNull();
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ERASED } from "../../src/domain/events";
import { mailSink } from "../../src/deliver/mail-sink";
import type { FeedEvent } from "../../src/read/feed";
import { projectBatch } from "../../src/read/consumer";
import { fakeMessage, mailsTo } from "../read/fixtures";
import { userCreated, userEvent } from "../support/builders";

/** A user's creation as the feed carries it (the sink never looks at the position). */
function created(userId = crypto.randomUUID(), metadata: Partial<FeedEvent["metadata"]> = {}) {
  const event = userCreated(userId);
  return { ...event, metadata: { ...event.metadata, ...metadata }, position: 1 } as FeedEvent & typeof event;
}

afterEach(() => vi.restoreAllMocks());

describe("the mail sink", () => {
  it("sends the welcome once through send_email and records it with the binding's message id", async () => {
    const send = vi.spyOn(env.EMAIL, "send");
    const event = created();
    const sink = mailSink(env);
    expect(sink.wants(event)).toBe(true);

    expect(await sink.deliver(event, 1)).toMatchObject({ outcome: "delivered" });
    // A repeated delivery (the subscription delivers at least once) sends nothing more.
    expect(await sink.deliver(event, 2)).toEqual({ outcome: "skipped", reason: "welcome already sent" });

    expect(send).toHaveBeenCalledOnce();
    expect(send.mock.calls[0]![0]).toMatchObject({
      from: "welcome@users.example",
      to: event.data.email,
      subject: "Welcome!",
      text: `Hello ${event.data.first_name}, your account is ready.`,
    });
    const messageId = (await send.mock.results[0]!.value) as EmailSendResult;
    expect(await mailsTo(event.aggregate_id)).toMatchObject([
      { kind: "welcome", recipient: event.data.email, eventId: event.id, messageId: messageId.messageId, attempts: 1 },
    ]);
  });

  it("does not want imported users, erased addresses or other events", () => {
    const sink = mailSink(env);
    expect(sink.wants(created(undefined, { import_request_id: "import-1" }))).toBe(false);
    const erased = created();
    expect(sink.wants({ ...erased, data: { ...erased.data, email: ERASED } })).toBe(false);
    const userId = crypto.randomUUID();
    expect(sink.wants({ ...userEvent(userId, 2, "USER_SUSPENDED"), position: 2 })).toBe(false);
  });

  it("skips a user erased before the mail went out, sending nothing", async () => {
    const send = vi.spyOn(env.EMAIL, "send");
    const event = created();
    const erasedCreation = {
      ...event,
      data: { ...event.data, username: ERASED, email: ERASED, first_name: ERASED, last_name: ERASED },
    };
    await projectBatch(
      [fakeMessage(erasedCreation), fakeMessage(userEvent(event.aggregate_id, 2, "USER_ERASED"))],
      env,
    );
    expect(await mailSink(env).deliver(event, 1)).toMatchObject({ outcome: "skipped" });
    expect(send).not.toHaveBeenCalled();
    expect(await mailsTo(event.aggregate_id)).toEqual([]);
  });

  it("a send failure is a retry whose error names no address, and records nothing", async () => {
    const event = created();
    const failure = Object.assign(new Error(`email to ${event.data.email} not allowed`), {
      code: "E_RECIPIENT_NOT_ALLOWED",
    });
    vi.spyOn(env.EMAIL, "send").mockRejectedValueOnce(failure);
    const logs = vi.spyOn(console, "log");

    const outcome = await mailSink(env).deliver(event, 3);

    expect(outcome).toMatchObject({ outcome: "retry", status: null });
    const error = (outcome as { error: string }).error;
    expect(error).toContain("E_RECIPIENT_NOT_ALLOWED");
    expect(error).not.toContain(event.data.email);
    expect(error).not.toContain("@");
    expect(logs.mock.calls.flat().join("\n")).not.toContain(event.data.email);
    expect(await mailsTo(event.aggregate_id)).toEqual([]);

    // The next attempt goes out and is recorded as that attempt.
    expect(await mailSink(env).deliver(event, 4)).toMatchObject({ outcome: "delivered" });
    expect(await mailsTo(event.aggregate_id)).toMatchObject([{ attempts: 4 }]);
  });
});

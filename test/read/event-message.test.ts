import { describe, expect, expectTypeOf, it } from "vitest";
import { EventMessage, redact, type PublicEvent, type RecordedEvent } from "../../src/domain/events";
import { parseEventMessage } from "../../src/read/event-message";
import { noMetadata, userCreated, userEvent } from "../support/builders";

const userId = "3b9d7a10-0000-4000-8000-000000000001";

/** Every field name any variant's `data` may carry. */
type DataFields<E> = E extends { data: infer D } ? keyof D : never;

describe("the queue's message contract", () => {
  it("types no secret field in any event's data, and each variant's data by its type", () => {
    expectTypeOf<Extract<DataFields<PublicEvent>, "password_hash">>().toEqualTypeOf<never>();
    expectTypeOf<Extract<PublicEvent, { event_type: "USER_CREATED" }>["data"]["email"]>().toEqualTypeOf<string>();
    expectTypeOf<Extract<PublicEvent, { event_type: "USER_RESTORED" }>["data"]["status"]>().toEqualTypeOf<
      "active" | "suspended"
    >();
  });

  it("redact leaves what the contract admits: the hash is gone, the rest parses unchanged", () => {
    const created = userCreated(userId);
    const recorded: RecordedEvent = { ...created, data: { ...created.data, password_hash: "pbkdf2-sha256$secret" } };
    const message = redact(recorded);
    expect(message.data).not.toHaveProperty("password_hash");
    expect(EventMessage.parse(message)).toEqual(message);
  });

  it("an erased user's fields read [erased] and still satisfy the contract", () => {
    const created = userCreated(userId);
    const erased = { ...created, data: { ...created.data, username: "[erased]", email: "[erased]" } };
    expect(parseEventMessage(erased)).toEqual({ event: erased });
  });

  it("a message of an older schema version is lifted by the upcasters before it is checked", () => {
    // USER_DELETED v1 (the reference's shape) had no data: its reason lived in the request's metadata.
    const v1 = { ...userEvent(userId, 2, "USER_DELETED", { reason: null }), version: 1, data: {} };
    const parsed = parseEventMessage({ ...v1, metadata: { ...noMetadata, reason: "left" } });
    expect(parsed).toMatchObject({ event: { event_type: "USER_DELETED", version: 2, data: { reason: "left" } } });
  });

  it("data that fails the current schema is an error naming the event, its version and the field", () => {
    const { email: _email, ...data } = userCreated(userId).data;
    const noEmail = { ...userCreated(userId), data: { ...data, role: "root" } };
    const parsed = parseEventMessage(noEmail);
    expect("error" in parsed && parsed.error).toMatch(/^USER_CREATED v1 \(user .+, revision 1\) does not match/);
    expect("error" in parsed && parsed.error).toMatch(/email/);
    expect("error" in parsed && parsed.error).toMatch(/role/);
  });

  it("a body that is not an event at all says so", () => {
    expect(parseEventMessage({ hello: "world" })).toMatchObject({
      error: expect.stringMatching(/^not an event message/),
    });
  });
});

import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { EventMessage, eventSchemas, UserEvent, type EventType } from "../../src/domain/events";

/** The event types a discriminated union offers, and each one's `data` schema. */
function variants(union: z.ZodDiscriminatedUnion) {
  return new Map(
    union.options.map((option) => {
      const shape = (option as z.ZodObject).shape as { event_type: z.ZodLiteral<string>; data: z.ZodObject };
      return [shape.event_type.value, shape.data];
    }),
  );
}

describe("the event catalogue", () => {
  it("is where an event type is added: UserEvent and the queue's contract are built from it", () => {
    const types = Object.keys(eventSchemas);
    const fromCatalogue = variants(UserEvent);
    expect([...fromCatalogue.keys()]).toEqual(types);
    for (const type of types as EventType[]) expect(fromCatalogue.get(type)).toBe(eventSchemas[type].data);
    expect([...variants(EventMessage).keys()]).toEqual(types);
    expectTypeOf<UserEvent["event_type"]>().toEqualTypeOf<keyof typeof eventSchemas>();
    expectTypeOf<Extract<UserEvent, { event_type: "USER_RESTORED" }>["data"]>().toEqualTypeOf<
      z.infer<typeof eventSchemas.USER_RESTORED.data>
    >();
  });

  it("parses each event type by its catalogue entry", () => {
    expect(UserEvent.parse({ event_type: "USER_LOGGED_IN", data: { method: "password" } })).toEqual({
      event_type: "USER_LOGGED_IN",
      data: { method: "password" },
    });
    expect(UserEvent.safeParse({ event_type: "USER_LOGGED_IN", data: {} }).success).toBe(false);
    expect(UserEvent.safeParse({ event_type: "USER_FROM_THE_FUTURE", data: {} }).success).toBe(false);
  });
});

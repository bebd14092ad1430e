import { z } from "zod";
import { EventMessage, eventSchemas, PublicEventSchema, type PublicEvent } from "../domain/events";
import { upcast } from "../domain/upcasters";

/**
 * One queue message holds at most 128 KB: an event larger than that can never be sent (the outbox
 * dead-letters it), nor re-driven.
 */
export const MAX_MESSAGE_BYTES = 128_000;

/**
 * Reads a queue message's body: the envelope of any schema version, lifted to the current version by
 * the domain's upcasters (a message sent before a schema change may still wait in the queue), then
 * checked against the current contract. A body that fails either step can never succeed on a retry:
 * the error says which event, which version and which field, for the dead letter.
 */
export function parseEventMessage(body: unknown): { event: PublicEvent } | { error: string } {
  // Nearly every message is of the current version: one parse. Only the others take the long way.
  const current = EventMessage.safeParse(body);
  if (current.success && current.data.version === eventSchemas[current.data.event_type].version) {
    return { event: current.data };
  }
  const envelope = PublicEventSchema.safeParse(body);
  if (!envelope.success) return { error: `not an event message: ${z.prettifyError(envelope.error)}` };
  const { event_type, version, data, metadata, aggregate_id, revision } = envelope.data;
  const where = `${event_type} v${version} (user ${aggregate_id}, revision ${revision})`;
  let lifted: { version: number; data: Record<string, unknown> };
  try {
    lifted = upcast(event_type, version, data, metadata);
  } catch (error) {
    return { error: `${where} cannot be upcast: ${String(error)}` };
  }
  const event = EventMessage.safeParse({ ...envelope.data, version: lifted.version, data: lifted.data });
  if (!event.success) return { error: `${where} does not match the current schema: ${z.prettifyError(event.error)}` };
  return { event: event.data };
}

import { eventSchemas, type EventMetadata, type EventType } from "./events";

/**
 * Events keep the schema version they were stored with; reading lifts them to the current one, so
 * deciders and projections only ever see the current shape. One function per old version.
 */
type Upcaster = (data: Record<string, unknown>, metadata: EventMetadata) => Record<string, unknown>;

const upcasters: Partial<Record<EventType, Record<number, Upcaster>>> = {
  // v1 (the reference's shape) was `{}`: the reason lived only in the request's metadata.
  USER_DELETED: { 1: (_data, metadata) => ({ reason: metadata.reason }) },
};

export function upcast(
  eventType: EventType,
  version: number,
  data: Record<string, unknown>,
  metadata: EventMetadata,
): { version: number; data: Record<string, unknown> } {
  const current = eventSchemas[eventType].version;
  let lifted = data;
  for (let v = version; v < current; v++) {
    const step = upcasters[eventType]?.[v];
    if (!step) throw new Error(`no upcaster for ${eventType} v${v}`);
    lifted = step(lifted, metadata);
  }
  return { version: Math.max(version, current), data: lifted };
}

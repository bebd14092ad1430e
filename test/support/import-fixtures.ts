import { importLine, type StoredEvent } from "../../src/domain/import";

/**
 * The fixture files of reference rows (`test/fixtures/*.ndjson`, written for these tests as the
 * reference's `row_to_json` would) as the events the import stores, grouped by user in file order.
 */
export const IMPORT_REQUEST_ID = "import-test-request";

export function storedEvents(ndjson: string): Map<string, StoredEvent[]> {
  const byUser = new Map<string, StoredEvent[]>();
  for (const line of ndjson.split("\n").filter((l) => l.trim() !== "")) {
    const result = importLine(JSON.parse(line), {
      importRequestId: IMPORT_REQUEST_ID,
      instant: (text) => new Date(Date.parse(text)).toISOString(),
    });
    if (!result.ok) throw new Error(result.error);
    const events = byUser.get(result.event.aggregate_id) ?? [];
    events.push(result.event);
    byUser.set(result.event.aggregate_id, events);
  }
  return byUser;
}

/** The fixture's users by name, with the passwords their bcrypt hashes were made from. */
export const FIXTURE = {
  alice: { id: "a11ce000-0000-4000-8000-000000000001", oldPassword: "alice-old-pass", password: "alice-new-pass" },
  bob: { id: "b0b00000-0000-4000-8000-000000000002", password: "bob-pass" },
  bob2: { id: "b0b20000-0000-4000-8000-000000000003", username: "Bob", password: "bob2-pass" },
  carol: { id: "ca201000-0000-4000-8000-000000000004", password: "carol-pass" },
  dave: { id: "da7e0000-0000-4000-8000-000000000005" },
  grace: { id: "94ace000-0000-4000-8000-000000000006" },
  heidi: { id: "4e1d1000-0000-4000-8000-000000000007", password: "heidi-pass" },
} as const;

/**
 * The same lives under new ids and names (a suffix on usernames and email local parts), so each test
 * of a file (whose storage is shared) imports users of its own.
 */
export function renamed(byUser: Map<string, StoredEvent[]>, suffix: string): Map<string, StoredEvent[]> {
  const ids = new Map<string, string>();
  const idFor = (old: string) => ids.get(old) ?? (ids.set(old, crypto.randomUUID()), ids.get(old)!);
  const result = new Map<string, StoredEvent[]>();
  for (const [userId, events] of byUser) {
    result.set(
      idFor(userId),
      events.map((event) => {
        const data = { ...event.data };
        if (typeof data.username === "string") data.username = `${data.username}-${suffix}`;
        if (typeof data.email === "string") data.email = data.email.replace("@", `-${suffix}@`);
        return { ...event, id: idFor(event.id), aggregate_id: idFor(userId), data };
      }),
    );
  }
  return result;
}

/** A line of our own export (`GET /admin/export?secrets=include`), with no actor unless `metadata` names one. */
export function exportLine(
  userId: string,
  id: string,
  revision: number,
  event_type: string,
  data: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
) {
  return {
    id,
    aggregate_id: userId,
    event_type,
    version: event_type === "USER_DELETED" ? 2 : 1,
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, revision)).toISOString(),
    revision,
    data,
    metadata: {
      actor_id: null,
      actor_username: null,
      request_id: null,
      idempotency_key: null,
      reason: null,
      ...metadata,
    },
  };
}

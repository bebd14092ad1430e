import type { EventMetadata, EventType, PublicEvent, PublicEventOf } from "../../src/domain/events";
import type { CommandInput } from "../../src/write/protocol";

/**
 * The builders every test layer shares: unique names, the test password, a new user's fields, the
 * command that creates one, and events as they leave a user's object (queue bodies, the audit trail).
 * The test secrets are not here: vitest.config.ts sets them once, tests read them from `env`.
 */

export const PASSWORD = "correct-horse-1";

let counter = 0;
/** A name no other test uses: storage is shared by every test in a file, and usernames are unique. */
export function uniqueName(prefix = "user"): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}${crypto.randomUUID().slice(0, 6)}`;
}

/** A new user's fields, as the create request's body and the CreateUser command both take them. */
export function newUserBody(username = uniqueName()) {
  return { username, email: `${username}@example.com`, first_name: "First", last_name: "Last", password: PASSWORD };
}

export type CreateInput = Extract<CommandInput, { type: "CreateUser" }>;

export function createInput(overrides: Partial<Omit<CreateInput, "type">> = {}): CreateInput {
  return { type: "CreateUser", ...newUserBody(overrides.username), ...overrides };
}

export const noMetadata: EventMetadata = {
  actor_id: null,
  actor_username: null,
  request_id: null,
  idempotency_key: null,
  reason: null,
};

let clock = Date.parse("2030-01-01T00:00:00.000Z");
/** Strictly increasing event times, so every event of a test has its own timestamp. */
export function nextTime(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

/** A USER_CREATED as it leaves the user's object: redacted, no password hash. */
export function userCreated(
  userId: string,
  name = `u${userId.slice(0, 8)}`,
  timestamp = nextTime(),
): PublicEventOf<"USER_CREATED"> {
  return {
    id: crypto.randomUUID(),
    aggregate_id: userId,
    event_type: "USER_CREATED",
    version: 1,
    timestamp,
    revision: 1,
    data: {
      username: name,
      email: `${name}@example.com`,
      first_name: "Ada",
      last_name: "Lovelace",
      hashing_method: "pbkdf2-sha256",
      role: "user",
    },
    metadata: noMetadata,
  };
}

/** The `data` of an event type as the queue's contract types it. */
export type DataOf<T extends EventType> = PublicEventOf<T>["data"];

/** Any other event as it leaves the user's object; `data` may be left out where every field is optional. */
export function userEvent<T extends Exclude<EventType, "USER_CREATED">>(
  userId: string,
  revision: number,
  event_type: T,
  ...[data, timestamp = nextTime()]: Record<never, never> extends DataOf<T>
    ? [data?: DataOf<T>, timestamp?: string]
    : [data: DataOf<T>, timestamp?: string]
): PublicEvent {
  // A generic type parameter cannot pick its variant of the union: the fields above are checked per type.
  return {
    id: crypto.randomUUID(),
    aggregate_id: userId,
    event_type,
    version: 1,
    timestamp,
    revision,
    data: data ?? {},
    metadata: noMetadata,
  } as PublicEvent;
}

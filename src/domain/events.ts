import { z } from "zod";

/** Who did it and why: the answer to "who deleted my user, when and why". */
export const EventMetadata = z.object({
  actor_id: z.string().nullable(),
  actor_username: z.string().nullable(),
  request_id: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  reason: z.string().nullable(),
  /** Only on imported events: the id of the import request that brought the event in. */
  import_request_id: z.string().optional(),
});
export type EventMetadata = z.infer<typeof EventMetadata>;

export const Role = z.enum(["admin", "user"]);
export type Role = z.infer<typeof Role>;

const UserCreatedData = z.object({
  username: z.string(),
  email: z.string(),
  first_name: z.string(),
  last_name: z.string(),
  password_hash: z.string(),
  hashing_method: z.string(),
  role: Role,
});
const UserUpdatedData = z.object({
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  email: z.string().optional(),
});
const PasswordChangedData = z.object({ password_hash: z.string(), hashing_method: z.string() });
/** The same password under the service's own hash, replacing an imported (bcrypt) one at first login. */
const PasswordRehashedData = PasswordChangedData;
/** Version 2: the reason of a deletion is part of the fact, not only of the request's metadata. */
const UserDeletedData = z.object({ reason: z.string().nullable() });
/** An admin's fix of wrong data, with the reason; projected like an update (username included). */
const UserCorrectedData = z.object({
  username: z.string().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  email: z.string().optional(),
  reason: z.string(),
});
const NoData = z.object({});
/** A deleted user made live again, with the status it had before the deletion. */
const UserRestoredData = z.object({ reason: z.string(), status: z.enum(["active", "suspended"]) });
/** A successful login: how, never from where (no address, no agent: not needed, so not kept). */
const UserLoggedInData = z.object({ method: z.string() });

/** The current schema of each event's `data`, with the schema version it is stored under. */
export const eventSchemas = {
  USER_CREATED: { version: 1, data: UserCreatedData },
  USER_UPDATED: { version: 1, data: UserUpdatedData },
  PASSWORD_CHANGED: { version: 1, data: PasswordChangedData },
  PASSWORD_REHASHED: { version: 1, data: PasswordRehashedData },
  USER_DELETED: { version: 2, data: UserDeletedData },
  USER_SUSPENDED: { version: 1, data: NoData },
  USER_REACTIVATED: { version: 1, data: NoData },
  USER_CORRECTED: { version: 1, data: UserCorrectedData },
  /** The tombstone of an erasure: no personal data, by design. */
  USER_ERASED: { version: 1, data: NoData },
  USER_RESTORED: { version: 1, data: UserRestoredData },
  USER_LOGGED_IN: { version: 1, data: UserLoggedInData },
} as const;

type Schemas = typeof eventSchemas;
export type EventType = keyof Schemas;

type UserEventVariant<K extends EventType> = z.ZodObject<{ event_type: z.ZodLiteral<K>; data: Schemas[K]["data"] }>;
type UserEventVariants = { [K in EventType]: UserEventVariant<K> }[EventType];

/**
 * One variant per entry of `eventSchemas`, discriminated on `event_type`: built from the catalogue,
 * so a new event type is one edit there and part of every union derived from it at once.
 */
export const UserEvent = z.discriminatedUnion(
  "event_type",
  (Object.keys(eventSchemas) as EventType[]).map((type) =>
    z.object({ event_type: z.literal(type), data: eventSchemas[type].data }),
  ) as [UserEventVariants, ...UserEventVariants[]],
);
/** What `decide` emits: the business fact, before the store gives it an id, time and revision. */
export type UserEvent = z.infer<typeof UserEvent>;

const Envelope = z.object({
  id: z.string(),
  aggregate_id: z.string(),
  version: z.number().int().positive(),
  timestamp: z.string(),
  revision: z.number().int().positive(),
  metadata: EventMetadata,
});

/** An event as stored in the user's stream: the envelope of the contract around a `UserEvent`. */
export const RecordedEvent = z.intersection(Envelope, UserEvent);
export type RecordedEvent = z.infer<typeof RecordedEvent>;

/**
 * Personal data: stored apart from the events (the object's personal-data vault), so an erasure can
 * destroy it while the stream itself stays append-only. What remains reads as ERASED.
 */
export const PERSONAL_FIELDS = ["username", "email", "first_name", "last_name", "password_hash"] as const;
export const ERASED = "[erased]";

/** Fields that never leave the user's object. */
const SECRET_FIELDS = ["password_hash"] as const;
type SecretField = (typeof SECRET_FIELDS)[number];

/** An event's data schema without its secret fields. */
type PublicData<S> = S extends z.ZodObject<infer Shape> ? z.ZodObject<Omit<Shape, SecretField>> : never;

function publicData<S extends z.ZodObject>(schema: S): PublicData<S> {
  const shape = Object.entries(schema.shape).filter(([field]) => !(SECRET_FIELDS as readonly string[]).includes(field));
  // The cast restates in types what the filter does at run time.
  return z.object(Object.fromEntries(shape)) as PublicData<S>;
}

type MessageVariant<K extends EventType> = z.ZodObject<
  typeof Envelope.shape & { event_type: z.ZodLiteral<K>; data: PublicData<Schemas[K]["data"]> }
>;
type MessageVariants = { [K in EventType]: MessageVariant<K> }[EventType];

/**
 * The queue's message contract, shared by the producer (the user's outbox) and the consumer: one
 * variant per event type, discriminated on `event_type`, each `data` the event's current schema
 * without its secret fields. Derived from `eventSchemas`, so a new event type is part of it at once.
 * Erased personal fields are the string `[erased]`, which every one of them admits.
 */
export const EventMessage = z.discriminatedUnion(
  "event_type",
  (Object.keys(eventSchemas) as EventType[]).map((type) =>
    Envelope.extend({ event_type: z.literal(type), data: publicData(eventSchemas[type].data) }),
  ) as [MessageVariants, ...MessageVariants[]],
);

/**
 * The event as it may be shown outside the object (queue messages, audit trail, exports): every
 * secret field removed, the data typed by its `event_type`.
 */
export type PublicEvent = z.infer<typeof EventMessage>;
/** One event type's variant of `PublicEvent`. */
export type PublicEventOf<T extends EventType> = Extract<PublicEvent, { event_type: T }>;

export function redact(event: RecordedEvent): PublicEvent {
  const data: Record<string, unknown> = { ...event.data };
  for (const field of SECRET_FIELDS) delete data[field];
  // What `EventMessage` derives from the same list, done without a parse on every publish.
  return { ...event, data } as PublicEvent;
}

/**
 * An event as it leaves the object, of any schema version: the envelope checked, `data` a flat
 * record. Older messages still in a queue are read through it, lifted by the upcasters, then checked
 * against `EventMessage` (src/read/event-message.ts); exports are read back the same way.
 */
export const PublicEventSchema = Envelope.extend({
  event_type: z.enum(Object.keys(eventSchemas) as [EventType, ...EventType[]]),
  data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});

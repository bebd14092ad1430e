import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { EventType } from "../domain/events";
import type { OpsEventType } from "../domain/alerts";

/**
 * The read model in D1. `drizzle-kit generate` turns this file into `migrations/`; never edit those.
 * Times are the events' times (ISO 8601 UTC), `revision` the last event of the user projected here.
 */
export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    username: text("username").notNull(),
    email: text("email").notNull(),
    firstName: text("first_name").notNull(),
    lastName: text("last_name").notNull(),
    role: text("role", { enum: ["admin", "user"] }).notNull(),
    status: text("status", { enum: ["active", "suspended", "deleted", "erased"] }).notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    deletedAt: text("deleted_at"),
    lastLoginAt: text("last_login_at"),
    revision: integer("revision").notNull(),
    /**
     * The revision of the user's latest password change, suspension, deletion or erasure: reads
     * refuse tokens issued before it (`confirmFromReadModel` in `src/http/auth.ts`). Null on rows
     * projected before the column existed, whose callers are checked by their object until a
     * rebuild fills it.
     */
    tokensValidFrom: integer("tokens_valid_from"),
  },
  (table) => [
    index("users_listing").on(table.status, table.createdAt, table.id),
    index("users_username").on(table.username),
    index("users_email").on(table.email),
  ],
);
/**
 * The user as D1 holds it: the domain's `UserFields` under drizzle's camelCase keys (the SQL columns
 * keep the fields' names) and the revision it reflects. A shape of its own because it is the table;
 * `projectUser` maps fields to columns through one table, and builds whole rows from the domain's
 * `newUser`, so the compiler holds the two to the same fields.
 */
export type UserRow = typeof users.$inferSelect;

/**
 * How many rows of `users` have each status, kept exact by triggers on `users` (migration
 * 0004_user_counts_triggers.sql), whichever code path writes the rows: projector, replay, rebuild.
 * An unfiltered list reads its `count` here instead of counting rows, so it costs the same at
 * 1,000,000 users as at 1,000 (`npm run bench:list-scale`).
 */
export const userCounts = sqliteTable("user_counts", {
  status: text("status").primaryKey(),
  n: integer("n").notNull(),
});

/**
 * How many rows of `users` of each status were created in each period, at four sizes of period (the
 * first `size` characters of `created_at`: month, day, hour, minute), kept exact by triggers on
 * `users` (migration 0015) as `user_counts` is. A page deep in the list finds where it starts by
 * walking down them, month to minute (`walkLevels` in `src/read/user-list.ts`), instead of skipping
 * every row before it: its cost grows with the months the service has run and the users created in
 * one minute, not with the number of users.
 */
export const userBlocks = sqliteTable(
  "user_blocks",
  {
    size: integer("size").notNull(),
    status: text("status").notNull(),
    block: text("block").notNull(),
    n: integer("n").notNull(),
  },
  (table) => [primaryKey({ columns: [table.size, table.status, table.block] })],
);

/**
 * Mails sent, one row per (user, kind), written by the mail subscription's sink after the
 * `send_email` binding took the mail: the primary key is what makes a repeated delivery (the
 * subscription delivers at least once) send no second welcome. After an erasure the row stays as
 * the marker that the mail went out, its recipient and body `[erased]`.
 */
export const sentEmails = sqliteTable(
  "sent_emails",
  {
    userId: text("user_id").notNull(),
    kind: text("kind").notNull(),
    recipient: text("recipient").notNull(),
    subject: text("subject").notNull(),
    body: text("body").notNull(),
    eventId: text("event_id").notNull(),
    sentAt: text("sent_at").notNull(),
    /** What the binding answered (`messageId`); null for mails recorded before it was kept. */
    messageId: text("message_id"),
    /** The delivery attempt that sent it; null for mails recorded before it was kept. */
    attempts: integer("attempts"),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.kind] }),
    // `GET /admin/mail` without a user: newest first, paged by (sent_at, user_id, kind).
    index("sent_emails_by_time").on(table.sentAt, table.userId, table.kind),
  ],
);
export type SentEmailRow = typeof sentEmails.$inferSelect;

/**
 * Events the projector gave up on, one row per event, kept with their history: `exhaustions` counts
 * each time the event used up its retries (a re-driven letter that fails again counts again), each
 * one also a row of `dead_letter_failures`. `error`/`failed_at` are the latest failure's.
 * State: open → redriven (sent back) → resolved (its projection got past it) or open again.
 */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    messageId: text("message_id").notNull().unique(),
    aggregateId: text("aggregate_id"),
    revision: integer("revision"),
    /** The projection whose write failed; null when it failed before any (unparseable, stream unreadable). */
    projection: text("projection"),
    body: text("body").notNull(),
    state: text("state", { enum: ["open", "redriven", "resolved"] })
      .notNull()
      .default("open"),
    exhaustions: integer("exhaustions").notNull().default(1),
    /** Deliveries over every exhaustion. */
    attempts: integer("attempts").notNull(),
    firstError: text("first_error"),
    firstFailedAt: text("first_failed_at"),
    error: text("error").notNull(),
    failedAt: text("failed_at").notNull(),
    redrivenAt: text("redriven_at"),
    resolvedAt: text("resolved_at"),
  },
  (table) => [
    index("dead_letters_by_state").on(table.state, table.id),
    index("dead_letters_by_user").on(table.aggregateId, table.state),
  ],
);
export type DeadLetterRow = typeof deadLetters.$inferSelect;

/** One row per exhaustion of a dead letter: its history. */
export const deadLetterFailures = sqliteTable(
  "dead_letter_failures",
  {
    letterId: integer("letter_id").notNull(),
    failedAt: text("failed_at").notNull(),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull(),
  },
  (table) => [index("dead_letter_failures_by_letter").on(table.letterId, table.failedAt)],
);

/**
 * What the read side must have, per user stream: the newest revision the user's object published
 * (written by the object before it sends) and the newest that every projection holds (written by
 * the consumer in the batch that projects it). The object deletes its outbox up to `confirmed` and
 * re-publishes the rest. Only owed streams are in the partial index, so the status counts them
 * without visiting every user.
 */
export const streams = sqliteTable(
  "streams",
  {
    userId: text("user_id").primaryKey(),
    published: integer("published_revision").notNull(),
    confirmed: integer("confirmed_revision").notNull(),
    /** Epoch ms from which the oldest event owed has been waiting (an upper bound after a partial confirmation). */
    owedSince: integer("owed_since").notNull(),
  },
  (table) => [
    index("streams_owed")
      .on(table.owedSince)
      .where(sql`confirmed_revision < published_revision`),
  ],
);

/**
 * Per projection (other than `users`, whose row's `revision` is its checkpoint) and user: the last
 * revision projected and the projection's state for that user after it (JSON).
 */
export const checkpoints = sqliteTable(
  "checkpoints",
  {
    projection: text("projection").notNull(),
    userId: text("user_id").notNull(),
    revision: integer("revision").notNull(),
    state: text("state").notNull(),
  },
  (table) => [primaryKey({ columns: [table.projection, table.userId] })],
);

/**
 * The audit log: one row per event of every user, with the user's username and email as of that
 * event, so "who deleted sarah" is one indexed query by a name the user no longer has. Newest first
 * by (timestamp, user_id, revision); each filter has an index in that order, and so has the request
 * id, whose events are a request's trail.
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    eventId: text("event_id").primaryKey(),
    userId: text("user_id").notNull(),
    eventType: text("event_type").$type<EventType>().notNull(),
    revision: integer("revision").notNull(),
    timestamp: text("timestamp").notNull(),
    actorId: text("actor_id"),
    actorUsername: text("actor_username"),
    reason: text("reason"),
    requestId: text("request_id"),
    username: text("username").notNull(),
    email: text("email").notNull(),
    /** The import request that brought the event, null for an event a command made here: who acted is then the source's word. */
    importRequestId: text("import_request_id"),
  },
  (table) => [
    index("audit_by_time").on(table.timestamp, table.userId, table.revision),
    index("audit_by_user").on(table.userId, table.timestamp, table.revision),
    index("audit_by_username").on(sql`lower(${table.username})`, table.timestamp, table.userId, table.revision),
    index("audit_by_email").on(sql`lower(${table.email})`, table.timestamp, table.userId, table.revision),
    index("audit_by_actor_id").on(table.actorId, table.timestamp, table.userId, table.revision),
    index("audit_by_actor_name").on(sql`lower(${table.actorUsername})`, table.timestamp, table.userId, table.revision),
    index("audit_by_type").on(table.eventType, table.timestamp, table.userId, table.revision),
    // A request's trail (`GET /admin/requests/{request_id}`): the events one request caused.
    index("audit_by_request").on(table.requestId, table.timestamp, table.userId, table.revision),
  ],
);
export type AuditRow = typeof auditLog.$inferSelect;

/** Per projection, the newest event it projected (by event time) and when: the status's "last projected". */
export const projectionHeads = sqliteTable("projection_heads", {
  projection: text("projection").primaryKey(),
  eventId: text("event_id").notNull(),
  userId: text("user_id").notNull(),
  revision: integer("revision").notNull(),
  eventAt: text("event_at").notNull(),
  projectedAt: text("projected_at").notNull(),
});

/**
 * The feed: every user's events in one order, for other services (`GET /admin/feed`, webhook
 * subscriptions, the welcome mail). `position` is an AUTOINCREMENT key assigned inside the consumer's
 * D1 transaction, and D1 runs one writer at a time, so a position is never handed out behind one a
 * reader has already seen, nor ever reused (not even after rows are deleted). `event` is the public
 * event (no secrets); an erasure rewrites the user's rows so their personal fields read `[erased]`.
 */
export const feed = sqliteTable(
  "feed",
  {
    position: integer("position").primaryKey({ autoIncrement: true }),
    eventId: text("event_id").notNull().unique(),
    userId: text("user_id").notNull(),
    revision: integer("revision").notNull(),
    eventType: text("event_type").$type<EventType | OpsEventType>().notNull(),
    timestamp: text("timestamp").notNull(),
    /** The `PublicEvent` as JSON, or an operations alert's (`user_id` `ops`, src/domain/alerts.ts). */
    event: text("event").notNull(),
  },
  (table) => [
    index("feed_by_type").on(table.eventType, table.position),
    index("feed_by_user").on(table.userId, table.revision),
  ],
);
export type FeedRow = typeof feed.$inferSelect;

/**
 * Webhook subscriptions, as the list and the projector see them: which objects to wake after a
 * batch, which to show. Each subscription's own object (`src/deliver/`) holds the truth (secret,
 * checkpoint, deliveries); it writes its row here whenever its settings or status change.
 */
export const subscriptions = sqliteTable("subscriptions", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  /** JSON array of event types or patterns (`ops.*`); empty: every user event. */
  eventTypes: text("event_types").notNull(),
  description: text("description"),
  status: text("status", { enum: ["active", "paused", "disabled"] }).notNull(),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
});
export type SubscriptionRow = typeof subscriptions.$inferSelect;

/**
 * Open operations incidents that last (a projection lagging): one row from the check that finds the
 * condition to the check that finds it gone. The alert's id carries `started_at`, so the checks in
 * between find their alert already in the feed (src/read/alerts.ts).
 */
export const opsIncidents = sqliteTable("ops_incidents", {
  key: text("key").primaryKey(),
  startedAt: text("started_at").notNull(),
});

/**
 * Each user's username, email, status and role over time, one row per validity interval
 * [`valid_from`, `valid_to`) (`valid_to` null while current): a new interval at each event that
 * sets one of them (src/read/projections/intervals.ts). `GET /admin/users/?as_of=T` answers from it
 * without folding any stream. Keyed by the revision that opened the interval, so re-applying an
 * event rewrites the same row. After an erasure every interval of the user reads `[erased]` for
 * username and email; status and role stay.
 */
export const userIntervals = sqliteTable(
  "user_intervals",
  {
    userId: text("user_id").notNull(),
    /** The revision of the event that opened the interval: the user's as of any instant in it, as far as these fields go. */
    revision: integer("revision").notNull(),
    username: text("username").notNull(),
    email: text("email").notNull(),
    status: text("status", { enum: ["active", "suspended", "deleted", "erased"] }).notNull(),
    role: text("role", { enum: ["admin", "user"] }).notNull(),
    validFrom: text("valid_from").notNull(),
    validTo: text("valid_to"),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.revision] }),
    // "Who was suspended at T": the status's intervals in user order, the time tested in the index.
    index("user_intervals_by_status").on(table.status, table.userId, table.validFrom, table.validTo),
    // "Who held this email (username) at T": the few intervals of that value, case-insensitively.
    index("user_intervals_by_email").on(sql`lower(${table.email})`, table.validFrom, table.validTo, table.userId),
    index("user_intervals_by_username").on(sql`lower(${table.username})`, table.validFrom, table.validTo, table.userId),
  ],
);
export type UserIntervalRow = typeof userIntervals.$inferSelect;

/**
 * The refusals journal (`GET /admin/refusals`, docs/decisions/0021): every refused command (401,
 * 403, 409, 412, 422, 429 on a command route), outside every user's stream. No body, no token, no
 * password: `reason` is a code the service wrote (an error's type, a rule, the fields a validation
 * named), `actor_id` the token's user or `anonymous`. Kept `REFUSALS_RETENTION_DAYS`, and at most
 * so many rows per actor and per target an hour (`refusal_windows`).
 */
export const refusals = sqliteTable(
  "refusals",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: text("at").notNull(),
    actorId: text("actor_id").notNull(),
    /** The user the command was aimed at (the path's id; a login's user), null for a create. */
    targetId: text("target_id"),
    command: text("command").notNull(),
    status: integer("status").notNull(),
    reason: text("reason").notNull(),
    requestId: text("request_id").notNull(),
  },
  (table) => [
    index("refusals_by_time").on(table.at, table.id),
    index("refusals_by_target").on(table.targetId, table.at, table.id),
    index("refusals_by_actor").on(table.actorId, table.at, table.id),
    index("refusals_by_request").on(table.requestId),
  ],
);
export type RefusalRow = typeof refusals.$inferSelect;

/**
 * How many refusals each actor and each target had in an hour (`window_start`), kept or not: the
 * journal keeps a refusal only while both its counters are within their caps, so one actor's
 * 10,000 refusals leave at most a cap of rows and this one count. `cap` is the cap when last
 * counted, so `seen - cap` is how many were only counted.
 */
export const refusalWindows = sqliteTable(
  "refusal_windows",
  {
    kind: text("kind", { enum: ["actor", "target"] }).notNull(),
    key: text("key").notNull(),
    windowStart: text("window_start").notNull(),
    seen: integer("seen").notNull(),
    cap: integer("cap").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.kind, table.key, table.windowStart] }),
    index("refusal_windows_by_time").on(table.windowStart),
  ],
);

import { z } from "@hono/zod-openapi";
import { OPS_EVENT_TYPES, OPS_USER } from "../domain/alerts";
import { EventMessage, EventMetadata, eventSchemas, type EventType } from "../domain/events";
import { RebuildProgress as Progress } from "../read/rebuild-progress";

/**
 * What the admin routes answer, as zod schemas: the routes describe their responses with them, and
 * the console's pages take their types from them (`import type`, so no Worker code and no zod reach
 * the browser bundle). Nothing here may import Worker-only modules.
 */

export const DeadLetterState = z.enum(["open", "redriven", "resolved"]);
export type DeadLetterState = z.infer<typeof DeadLetterState>;

export const DeadLetter = z
  .object({
    id: z.number().int(),
    message_id: z.string(),
    aggregate_id: z.string().nullable(),
    revision: z.number().int().nullable(),
    projection: z.string().nullable().openapi({ description: "The projection that failed; null before any wrote" }),
    state: DeadLetterState,
    exhaustions: z.number().int().openapi({ description: "Times the event used up its retries" }),
    attempts: z.number().int().openapi({ description: "Deliveries over every exhaustion" }),
    first_error: z.string().nullable(),
    first_failed_at: z.string().nullable(),
    error: z.string().openapi({ description: "The latest failure's error" }),
    failed_at: z.string().openapi({ description: "The latest failure's time" }),
    redriven_at: z.string().nullable(),
    resolved_at: z.string().nullable(),
    history: z.array(z.object({ failed_at: z.string(), error: z.string(), attempts: z.number().int() })),
    body: z.string(),
  })
  .openapi("DeadLetter");
export type DeadLetter = z.infer<typeof DeadLetter>;

export const DeadLetterPage = z.object({ results: z.array(DeadLetter), next_cursor: z.number().int().nullable() });
export type DeadLetterPage = z.infer<typeof DeadLetterPage>;

/** `GET /admin/audit/`: an event of any user, naming the user as of that event. */
export const AuditEntry = z
  .object({
    event_id: z.string(),
    user_id: z.string(),
    event_type: z.enum(Object.keys(eventSchemas) as [EventType, ...EventType[]]),
    revision: z.number().int(),
    timestamp: z.string(),
    ...EventMetadata.pick({ actor_id: true, actor_username: true, reason: true, request_id: true }).shape,
    username: z.string().openapi({ description: "The user's username as of this event" }),
    email: z.string().openapi({ description: "The user's email as of this event" }),
    import_request_id: z.string().nullable().openapi({
      description:
        "Set on an imported event: the import request that brought it. Its actor, request and reason are then the source's record, not an act in this service",
    }),
  })
  .openapi("AuditEntry");
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditPage = z
  .object({ results: z.array(AuditEntry), next_cursor: z.string().nullable() })
  .openapi("AuditPage");
export type AuditPage = z.infer<typeof AuditPage>;

const LastProjected = z
  .object({
    event_id: z.string(),
    user_id: z.string(),
    revision: z.number().int(),
    event_at: z.string(),
    projected_at: z.string(),
  })
  .nullable();

/** `GET /admin/projections/status`. */
export const ProjectionStatus = z
  .object({
    projections: z.array(
      z.object({
        name: z.string(),
        users_behind: z.number().int().openapi({ description: "Users with a published event it does not hold" }),
        oldest_owed_age_ms: z.number().nullable().openapi({ description: "How long its oldest owed event waits" }),
        last_projected: LastProjected,
        dead_letters_open: z.number().int(),
      }),
    ),
    users_behind: z.number().int().openapi({ description: "Users some projection is behind on" }),
    outbox: z.object({
      backlog: z.number().int().openapi({ description: "Events published and not yet in every projection" }),
      users: z.number().int(),
      oldest_age_ms: z.number().nullable(),
    }),
    dead_letters: z.number().int().openapi({ description: "Open dead letters, all projections" }),
  })
  .openapi("ProjectionStatus");
export type ProjectionStatus = z.infer<typeof ProjectionStatus>;

/** `GET|POST /admin/projections/rebuild`. */
export const RebuildProgress = Progress.openapi("RebuildProgress");
export type RebuildProgress = z.infer<typeof RebuildProgress>;

/** `POST /admin/import`. */
export const ImportReport = z
  .object({
    imported: z.number().int().openapi({ description: "Events appended" }),
    skipped: z.number().int().openapi({ description: "Events the streams already held (same id, same revision)" }),
    rejected: z.array(
      z.object({
        line: z.number().int().openapi({ description: "Line number in this request's body, from 1" }),
        aggregate_id: z.string().nullable(),
        error: z.string(),
      }),
    ),
    admins: z
      .array(z.object({ user_id: z.string(), username: z.string() }))
      .openapi({ description: "The admins this import created (the users whose USER_CREATED has role admin)" }),
  })
  .openapi("ImportReport");
export type ImportReport = z.infer<typeof ImportReport>;

/**
 * An operations alert as the feed and webhooks carry it (src/domain/alerts.ts): the event's envelope
 * with `aggregate_id` `ops` and `data` the incident's facts, never personal data.
 */
export const OpsAlert = z
  .object({
    id: z.string().openapi({ description: "One per incident: `ops.dead_letter:<letter id>:<exhaustion>`, …" }),
    aggregate_id: z.literal(OPS_USER),
    version: z.literal(1),
    revision: z.number().int().openapi({ description: "Grows from alert to alert (may skip)" }),
    event_type: z.enum(OPS_EVENT_TYPES),
    timestamp: z.string().openapi({ description: "When the condition was detected" }),
    data: z.record(z.string(), z.union([z.string(), z.number(), z.null()])),
    metadata: z.object({}),
  })
  .openapi("OpsAlert");

/**
 * An event of the feed: the public `Event` (or, asked for, an operations alert) and its `position`,
 * which only grows along the feed.
 */
export const FeedEvent = z
  .intersection(z.union([EventMessage, OpsAlert]), z.object({ position: z.number().int() }))
  .openapi("FeedEvent");
export type FeedEvent = z.infer<typeof FeedEvent>;

export const FeedPage = z
  .object({
    events: z.array(FeedEvent),
    next_after: z
      .number()
      .int()
      .openapi({ description: "The last position returned, or `after` when none: the next `after`" }),
  })
  .openapi("FeedPage");
export type FeedPage = z.infer<typeof FeedPage>;

/** `GET /admin/users/?as_of=T`: a user as it was at T, from its validity interval then. */
export const UserAsOf = z
  .object({
    id: z.string(),
    username: z.string().openapi({ description: "The username held at T; `[erased]` once the user is erased" }),
    email: z.string().openapi({ description: "The email held at T; `[erased]` once the user is erased" }),
    status: z.enum(["active", "suspended", "deleted", "erased"]),
    role: z.enum(["admin", "user"]),
    revision: z.number().int().openapi({
      description:
        "The revision of the event that gave the user this username, email and status: the user's revision at T as far as these fields go (later events that change none of them, such as a login, do not count)",
    }),
    valid_from: z.string().openapi({ description: "When the user took these values (inclusive)" }),
    valid_to: z.string().nullable().openapi({ description: "When they next changed (exclusive); null: still current" }),
  })
  .openapi("UserAsOf");
export type UserAsOf = z.infer<typeof UserAsOf>;

export const UsersAsOfPage = z
  .object({ results: z.array(UserAsOf), next_cursor: z.string().nullable() })
  .openapi("UsersAsOfPage");
export type UsersAsOfPage = z.infer<typeof UsersAsOfPage>;

import { z } from "@hono/zod-openapi";
import { RefusalEntry } from "./refusal-schemas";
import { AuditEntry } from "./schemas";

/**
 * `GET /admin/requests/{request_id}`: a request's trail. Apart from `schemas.ts` so the console can
 * take the types (`import type`); nothing here imports Worker-only modules.
 */
export const RequestIdParams = z.object({
  // Any string here: one that is no request id is a 422 from the route (a path id that is not a
  // UUID is a 400 elsewhere, but a request id is the caller's own `X-Request-Id`, not a UUID).
  request_id: z
    .string()
    .openapi({ param: { name: "request_id", in: "path" }, description: "`X-Request-Id` of the request" }),
});

const TrailProjection = z.object({
  name: z.string(),
  state: z.enum(["applied", "pending", "dead_letter"]).openapi({
    description:
      "`applied`: the projection's checkpoint of the user is at or past the event; `dead_letter`: an open dead letter holds it",
  }),
  checkpoint: z.number().int().nullable().openapi({ description: "The projection's revision of the user" }),
  applied_at: z.string().nullable().openapi({
    description:
      "When the projection applied it: known only while it is the projection's newest event (projections keep no time per event)",
  }),
  error: z.string().nullable(),
});

/** An audit entry (as `GET /admin/audit` answers it) with where the event went. */
export const TrailEvent = AuditEntry.extend({
  position: z.number().int().nullable().openapi({ description: "Its feed position; null until the feed has it" }),
  data: z.record(z.string(), z.unknown()).nullable().openapi({ description: "The public event's data (no secrets)" }),
  projections: z.array(TrailProjection),
}).openapi("TrailEvent");
export type TrailEvent = z.infer<typeof TrailEvent>;

export const TrailMail = z.object({
  event_id: z.string(),
  user_id: z.string(),
  kind: z.string(),
  state: z.enum(["sent", "pending", "dead"]),
  recipient: z.string().nullable(),
  subject: z.string().nullable(),
  sent_at: z.string().nullable(),
  message_id: z.string().nullable(),
  attempts: z.number().int().nullable(),
  last_error: z.string().nullable(),
});
export type TrailMail = z.infer<typeof TrailMail>;

export const TrailDelivery = z.object({
  subscription_id: z.string(),
  url: z.string(),
  subscription_status: z.string(),
  event_id: z.string(),
  position: z.number().int(),
  user_id: z.string(),
  event_type: z.string(),
  state: z.enum(["pending", "delivered", "dead"]),
  attempts: z.number().int(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: z.string().nullable(),
});
export type TrailDelivery = z.infer<typeof TrailDelivery>;

/** A refusal as the trail lists it: the journal's entry (its request id is the trail's). */
export const TrailRefusal = RefusalEntry.omit({ request_id: true });
export type TrailRefusal = z.infer<typeof TrailRefusal>;

export const RequestTrail = z
  .object({
    request_id: z.string(),
    events: z.array(TrailEvent).openapi({ description: "Oldest first, at most 100" }),
    truncated: z.boolean().openapi({ description: "More events carry this request id than are listed" }),
    mail: z.array(TrailMail),
    deliveries: z.array(TrailDelivery).openapi({ description: "Webhook deliveries of the events" }),
    subscriptions: z.object({
      checked: z.number().int().openapi({ description: "Webhook subscriptions asked, oldest first, at most 20" }),
      truncated: z.boolean(),
    }),
    refusals: z
      .array(TrailRefusal)
      .openapi({ description: "The request's refused commands (the refusals journal), newest first" }),
  })
  .openapi("RequestTrail");
export type RequestTrail = z.infer<typeof RequestTrail>;

import { z } from "@hono/zod-openapi";
import { OPS_ALL, OPS_EVENT_TYPES } from "../domain/alerts";
import { eventSchemas } from "../domain/events";

/**
 * Requests and answers of `/admin/subscriptions` (src/admin/routes/subscriptions.ts). The URL's
 * safety is checked in the route, which knows the configured `WEBHOOK_INSECURE_HOSTS`.
 */

/** Operations alerts a subscription may ask for beside the users' events (`ops.*`: all of them). */
export const OPS_TYPES = [OPS_ALL, ...OPS_EVENT_TYPES] as const;

export const SubscriptionEventType = z
  .enum([...(Object.keys(eventSchemas) as (keyof typeof eventSchemas)[]), ...OPS_TYPES])
  .openapi({ description: "An event type (`USER_CREATED`, …) or an operations alert (`ops.*`)" });

const EventTypes = z
  .array(SubscriptionEventType)
  .max(50)
  .transform((types) => [...new Set(types)])
  .openapi({ description: "Empty or absent: every user event" });

const Url = z.string().min(1).max(2048).openapi({ example: "https://hooks.example.com/users" });

export const SubscriptionIdParams = z.object({
  id: z.uuid().openapi({ param: { name: "id", in: "path" }, format: "uuid" }),
});

export const DeliveryParams = SubscriptionIdParams.extend({
  event_id: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: "event_id", in: "path" } }),
});

export const CreateSubscriptionBody = z
  .strictObject({
    url: Url,
    event_types: EventTypes.optional(),
    description: z.string().max(500).nullish(),
    from_position: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({ description: "Deliver the feed's events after this position; default: the feed's end now; 0: all" }),
  })
  .openapi("CreateSubscriptionRequest");
export type CreateSubscriptionBody = z.input<typeof CreateSubscriptionBody>;

export const UpdateSubscriptionBody = z
  .strictObject({
    status: z.enum(["active", "paused"]).optional(),
    url: Url.optional(),
    event_types: EventTypes.optional(),
  })
  .openapi("UpdateSubscriptionRequest");

export const ReplayBody = z
  .strictObject({ from_position: z.number().int().min(0) })
  .openapi("ReplaySubscriptionRequest");

export const DeliveriesQuery = z.object({
  state: z.enum(["pending", "delivered", "dead"]).optional(),
  user_id: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.coerce.number().int().min(1).optional().openapi({ description: "`next_cursor` of the previous page" }),
});

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(100).optional().openapi({ description: "`next_cursor` of the previous page" }),
});

export const SubscriptionView = z
  .object({
    id: z.string(),
    url: z.string().nullable(),
    event_types: z.array(z.string()),
    description: z.string().nullable(),
    status: z.enum(["active", "paused", "disabled"]),
    position: z.number().int().openapi({ description: "Every feed event up to here is delivered, dead or not wanted" }),
    lag: z.object({ events_behind: z.number().int(), oldest_undelivered_at: z.string().nullable() }),
    last_delivery: z.object({ at: z.string(), status_code: z.number().int().nullable(), ms: z.number() }).nullable(),
    failing_since: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("Subscription");
export type SubscriptionView = z.infer<typeof SubscriptionView>;

export const CreatedSubscription = SubscriptionView.extend({
  secret: z.string().openapi({ description: "`whsec_…`: shown only here and by rotate-secret" }),
}).openapi("CreatedSubscription");
export type CreatedSubscription = z.infer<typeof CreatedSubscription>;

export const SubscriptionPage = z
  .object({ results: z.array(SubscriptionView), next_cursor: z.string().nullable() })
  .openapi("SubscriptionPage");
export type SubscriptionPage = z.infer<typeof SubscriptionPage>;

export const Delivery = z
  .object({
    event_id: z.string(),
    position: z.number().int(),
    user_id: z.string(),
    event_type: z.string(),
    attempts: z.number().int(),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    state: z.enum(["pending", "delivered", "dead"]),
  })
  .openapi("Delivery");
export type Delivery = z.infer<typeof Delivery>;

export const DeliveryPage = z
  .object({ results: z.array(Delivery), next_cursor: z.number().int().nullable() })
  .openapi("DeliveryPage");
export type DeliveryPage = z.infer<typeof DeliveryPage>;

import { z } from "@hono/zod-openapi";
import { asc, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { webhookConfig } from "../../config";
import type { SubscriptionView as View } from "../../deliver/protocol";
import { checkWebhookUrl } from "../../deliver/url-safety";
import { httpError } from "../../http/errors";
import { invalidInput } from "../../http/request-validation";
import { createRouter } from "../../http/router";
import { errors, jsonBody, jsonResponse } from "../../http/schemas";
import { subscription } from "../../objects";
import { feedEnd } from "../../read/feed";
import { subscriptions as table } from "../../read/schema";
import { adminRoute } from "../auth";
import {
  CreateSubscriptionBody,
  CreatedSubscription,
  DeliveriesQuery,
  Delivery,
  DeliveryPage,
  DeliveryParams,
  ListQuery,
  ReplayBody,
  SubscriptionIdParams,
  SubscriptionPage,
  SubscriptionView,
  UpdateSubscriptionBody,
} from "../subscription-schemas";

const one = jsonResponse(SubscriptionView, "The subscription");

const create = adminRoute({
  method: "post",
  path: "/",
  summary: "Subscribe a URL to the feed: signed webhooks, in each user's order, retried; the secret is shown once",
  request: jsonBody(CreateSubscriptionBody),
  responses: {
    201: { description: "Created", content: { "application/json": { schema: CreatedSubscription } } },
    ...errors(400, 401, 403, 422),
  },
});
const list = adminRoute({
  method: "get",
  path: "/",
  summary: "The webhook subscriptions, with their position and lag",
  request: { query: ListQuery },
  responses: { ...jsonResponse(SubscriptionPage, "Subscriptions"), ...errors(401, 403, 422) },
});
const get = adminRoute({
  method: "get",
  path: "/{id}",
  summary: "One subscription: status, position, lag, last delivery, failing since",
  request: { params: SubscriptionIdParams },
  responses: { ...one, ...errors(400, 401, 403, 404) },
});
const update = adminRoute({
  method: "patch",
  path: "/{id}",
  summary: "Pause (`paused`), resume (`active`, also after a 410), move or re-filter a subscription",
  request: { params: SubscriptionIdParams, ...jsonBody(UpdateSubscriptionBody) },
  responses: { ...one, ...errors(400, 401, 403, 404, 422) },
});
const remove = adminRoute({
  method: "delete",
  path: "/{id}",
  summary: "Delete a subscription, its deliveries and its secret",
  request: { params: SubscriptionIdParams },
  responses: { 204: { description: "Deleted" }, ...errors(400, 401, 403, 404) },
});
const replay = adminRoute({
  method: "post",
  path: "/{id}/replay",
  summary: "Deliver again every event after `from_position` (same webhook-id as before)",
  request: { params: SubscriptionIdParams, ...jsonBody(ReplayBody) },
  responses: { ...one, ...errors(400, 401, 403, 404, 422) },
});
const rotate = adminRoute({
  method: "post",
  path: "/{id}/rotate-secret",
  summary: "A new signing secret; the old one also signs for 24 hours",
  request: { params: SubscriptionIdParams },
  responses: { ...jsonResponse(z.object({ secret: z.string() }), "The new secret"), ...errors(400, 401, 403, 404) },
});
const deliveries = adminRoute({
  method: "get",
  path: "/{id}/deliveries",
  summary: "The subscription's deliveries, newest first, by state",
  request: { params: SubscriptionIdParams, query: DeliveriesQuery },
  responses: { ...jsonResponse(DeliveryPage, "Deliveries"), ...errors(400, 401, 403, 404, 422) },
});
const redeliver = adminRoute({
  method: "post",
  path: "/{id}/deliveries/{event_id}/redeliver",
  summary: "Send one delivery again now (a dead one, say), in its user's order",
  request: { params: DeliveryParams },
  responses: { ...jsonResponse(Delivery, "The delivery, pending again"), ...errors(400, 401, 403, 404) },
});

/**
 * `/admin/subscriptions`: webhook subscriptions to the feed (docs/subscriptions.md). Ids are
 * UUIDs, so the built-in mail subscription (`mail`) is not reachable here: its route is /admin/mail.
 */
export const subscriptionRoutes = createRouter()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const url = safeUrl(c.env, body.url);
    const fromPosition = body.from_position ?? (await feedEnd(c.env.DB));
    const id = crypto.randomUUID();
    const created = await subscription(c.env, id).create({
      id,
      kind: "webhook",
      url,
      eventTypes: body.event_types ?? [],
      description: body.description ?? null,
      fromPosition,
    });
    return c.json({ ...wire(created), secret: created.secret ?? "" }, 201);
  })
  .openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await drizzle(c.env.DB)
      .select({ id: table.id })
      .from(table)
      .where(cursor ? gt(table.id, cursor) : undefined)
      .orderBy(asc(table.id))
      .limit(limit);
    const views = await Promise.all(rows.map((row) => subscription(c.env, row.id).view()));
    const results = views.flatMap((view) => (view ? [wire(view)] : []));
    const next = rows.length === limit ? (rows[rows.length - 1]?.id ?? null) : null;
    return c.json({ results, next_cursor: next }, 200);
  })
  .openapi(get, async (c) => c.json(wire(found(await subscription(c.env, c.req.valid("param").id).view())), 200))
  .openapi(update, async (c) => {
    const body = c.req.valid("json");
    const url = body.url === undefined ? undefined : safeUrl(c.env, body.url);
    const view = await subscription(c.env, c.req.valid("param").id).update({
      ...(body.status ? { status: body.status } : {}),
      ...(url ? { url } : {}),
      ...(body.event_types ? { eventTypes: body.event_types } : {}),
    });
    return c.json(wire(found(view)), 200);
  })
  .openapi(remove, async (c) => {
    if (!(await subscription(c.env, c.req.valid("param").id).remove())) throw notFound();
    return c.body(null, 204);
  })
  .openapi(replay, async (c) => {
    const view = await subscription(c.env, c.req.valid("param").id).replay(c.req.valid("json").from_position);
    return c.json(wire(found(view)), 200);
  })
  .openapi(rotate, async (c) => c.json(found(await subscription(c.env, c.req.valid("param").id).rotateSecret()), 200))
  .openapi(deliveries, async (c) => {
    const query = c.req.valid("query");
    const page = await subscription(c.env, c.req.valid("param").id).deliveries({
      state: query.state,
      userId: query.user_id,
      cursor: query.cursor,
      limit: query.limit,
    });
    return c.json(found(page), 200);
  })
  .openapi(redeliver, async (c) => {
    const { id, event_id } = c.req.valid("param");
    const delivery = await subscription(c.env, id).redeliver(event_id);
    if (!delivery) throw httpError(404, `No delivery of event ${event_id} in subscription ${id}`);
    return c.json(delivery, 200);
  });

const notFound = () => httpError(404, "Subscription not found");

function found<T>(value: T | null): T {
  if (value === null) throw notFound();
  return value;
}

function safeUrl(env: Env, text: string): string {
  const verdict = checkWebhookUrl(text, webhookConfig(env).WEBHOOK_INSECURE_HOSTS);
  if (!verdict.ok) throw invalidInput(["body", "url"], "url_refused", `Webhook URL refused: ${verdict.reason}`);
  return verdict.url;
}

/** The view without the object's own `kind` (every subscription listed here is a webhook). */
function wire(view: View) {
  const { kind: _kind, ...rest } = view;
  return rest;
}

import { z } from "@hono/zod-openapi";
import { OPS_ALL, OPS_EVENT_TYPES } from "../../domain/alerts";
import { eventSchemas, type EventType } from "../../domain/events";
import { serviceUnavailable } from "../../http/errors";
import { createRouter } from "../../http/router";
import { decimalInt } from "../../http/query-params";
import { errors, jsonResponse } from "../../http/schemas";
import { feedFilter, waitForFeed } from "../../read/feed";
import { adminRoute } from "../auth";
import { FeedPage } from "../schemas";

const EVENT_TYPES = Object.keys(eventSchemas) as [EventType, ...EventType[]];
/** Alerts are in the feed too, for those who ask: `ops.*` or one alert type. */
const TYPES = [...EVENT_TYPES, OPS_ALL, ...OPS_EVENT_TYPES] as const;

/** `GET /admin/feed`'s query: a checkpoint to read after, a page size, a filter and a bounded wait. */
const FeedQuery = z.object({
  after: decimalInt(0)
    .default(0)
    .openapi({ description: "A position: the events after it. 0 (the default): from the start" }),
  limit: decimalInt(1, 1000).default(100),
  event_types: z
    .string()
    .max(2000)
    .transform((text) => (text === "" ? [] : text.split(",").map((type) => type.trim())))
    .pipe(z.array(z.enum(TYPES)))
    .optional()
    .openapi({
      type: "string",
      description:
        `Comma-separated event types (${EVENT_TYPES.join(", ")}) and operations alerts (${OPS_ALL} for all, or ` +
        `${OPS_EVENT_TYPES.join(", ")}); without it (or empty), every user event and no alert`,
    }),
  wait: decimalInt(0, 30)
    .default(0)
    .openapi({ description: "Seconds to hold the request open while nothing newer exists" }),
});

const read = adminRoute({
  method: "get",
  path: "/",
  summary: "Every user's events in one order, after a position; optionally held open until newer ones exist",
  description:
    "Positions only grow: a reader that saw position p never later finds an event at or before p, so `next_after` is " +
    "a checkpoint. One user's events come in revision order. Erased users' personal fields read `[erased]`. " +
    "Operations alerts (`ops.*`) only when `event_types` names them. " +
    "See docs/subscriptions.md.",
  request: { query: FeedQuery },
  responses: { ...jsonResponse(FeedPage, "The events after `after`, oldest first"), ...errors(401, 403, 422, 503) },
});

/** `/admin/feed`: the feed for other services, read by position. */
export const feed = createRouter().openapi(read, async (c) => {
  const { after, limit, event_types, wait } = c.req.valid("query");
  const eventTypes = feedFilter(event_types ?? []);
  const events = await waitForFeed(c.env.DB, { after, limit, eventTypes }, wait * 1000, c.req.raw.signal);
  // A waiting place frees within 30 s: come back then, rather than polling without a wait.
  if (events === "full") throw serviceUnavailable("Too many requests are waiting on the feed", wait);
  return c.json({ events, next_after: events.at(-1)?.position ?? after }, 200);
});

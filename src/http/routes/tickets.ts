import { z } from "@hono/zod-openapi";
import { authenticated } from "../auth";
import { httpError } from "../errors";
import { createRouter, guardedRoutes } from "../router";
import { errors, jsonResponse } from "../schemas";

export const Ticket = z
  .object({
    ticket: z.string(),
    expires_in: z.number().int().openapi({ description: "Seconds; the ticket works once." }),
  })
  .openapi("Ticket");

const ticketRoute = guardedRoutes(authenticated)({
  method: "post",
  path: "/ticket",
  summary: "A single-use, 30-second ticket for `?ticket=` on the live endpoints (browsers cannot set headers)",
  responses: { ...jsonResponse(Ticket, "A ticket bound to the caller"), ...errors(401) },
});

/** `POST /v1/auth/ticket/`: kept by the caller's own object, so it works once and dies with a revocation. */
export const tickets = createRouter().openapi(ticketRoute, async (c) => {
  const actor = c.var.actor;
  const issued = await c.env.USER_STREAM.getByName(actor.id).ticket(Date.now());
  if (!issued) throw httpError(401, "User not found");
  return c.json({ ticket: `${actor.id}.${issued.secret}`, expires_in: issued.expiresIn }, 200);
});

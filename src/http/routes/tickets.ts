import { z } from "@hono/zod-openapi";
import { authenticatedInRoute, confirmedByTarget, selfCaller } from "../auth";
import { createRouter, guardedRoutes } from "../router";
import { errors, jsonResponse } from "../schemas";
import { userStream } from "../../objects";

export const Ticket = z
  .object({
    ticket: z.string(),
    expires_in: z.number().int().openapi({ description: "Seconds; the ticket works once." }),
  })
  .openapi("Ticket");

const ticketRoute = guardedRoutes(authenticatedInRoute)({
  method: "post",
  path: "/ticket",
  summary: "A single-use, 30-second ticket for `?ticket=` on the live endpoints (browsers cannot set headers)",
  responses: { ...jsonResponse(Ticket, "A ticket bound to the caller"), ...errors(401) },
});

/**
 * `POST /v1/auth/ticket/`: kept by the caller's own object, so it works once and dies with a
 * revocation. One call: that object checks the token as it issues the ticket.
 */
export const tickets = createRouter().openapi(ticketRoute, async (c) => {
  const { id } = c.get("actor");
  const caller = selfCaller(c, id)!;
  const issued = confirmedByTarget(c, await userStream(c.env, id).ticket(Date.now(), caller));
  return c.json({ ticket: `${id}.${issued.secret}`, expires_in: issued.expiresIn }, 200);
});

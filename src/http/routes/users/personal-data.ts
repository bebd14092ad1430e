import { z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import { ERASED } from "../../../domain/events";
import { deliveriesAbout } from "../../../deliver/personal-data";
import { userStream } from "../../../objects";
import { heldInReadSide, usersRowStatement } from "../../../read/personal-data";
import { confirmedByTarget, selfCaller, selfOrAdminReading } from "../../auth";
import { httpError } from "../../errors";
import type { RouterWith } from "../../router";
import { EventMessage } from "../../../domain/events";
import { UserIdParams, errors, jsonResponse } from "../../schemas";
import { targetRoute } from "./route";
import { readDatabaseOf } from "../../../shards";
import { lookBefore } from "../../../read/reshard";

const Row = z.record(z.string(), z.unknown());
const Rows = (description: string) =>
  z.object({ description: z.string(), rows: z.array(Row), truncated: z.boolean() }).openapi({ description });

/** The access report: every store, what it holds about the user. */
export const PersonalDataReport = z
  .object({
    user_id: z.uuid(),
    generated_at: z.string(),
    erased: z.boolean().openapi({ description: "Erased: what remains are tombstones reading `[erased]`" }),
    stores: z.object({
      stream: z.object({
        description: z.string(),
        revision: z.number().int(),
        events: z.array(EventMessage.openapi("Event")),
        events_truncated: z.boolean(),
        vault: z.array(z.object({ revision: z.number().int(), fields: z.record(z.string(), z.string()) })),
      }),
      identity_registry: z.object({ description: z.string(), claims: z.array(z.string()) }),
      read_model: z.object({ description: z.string(), user: Row.nullable() }),
      audit_log: Rows("The audit log's rows of the user").extend({
        as_actor: z.array(Row),
        as_actor_truncated: z.boolean(),
      }),
      feed: Rows("The feed's rows of the user: the events other services read"),
      dead_letters: Rows("Events of the user the projector gave up on"),
      pending_deliveries: z.object({
        description: z.string(),
        subscriptions: z.array(
          z.object({
            subscription_id: z.string(),
            url: z.string(),
            status: z.string(),
            pending: z.array(Row),
            delivered_any: z.boolean(),
          }),
        ),
      }),
      mail: Rows("Mails sent to the user"),
    }),
  })
  .openapi("PersonalDataReport");

const personalDataRoute = targetRoute({
  method: "get",
  path: "/{user_id}/personal-data",
  summary: "The access report: everything the service holds about the user, per store (the user itself or an admin)",
  middleware: [selfOrAdminReading],
  request: { params: UserIdParams },
  responses: { ...jsonResponse(PersonalDataReport, "The access report"), ...errors(400, 401, 403, 404) },
});

export const userPersonalData = <S extends Schema>(router: RouterWith<S>) =>
  router.openapi(personalDataRoute, async (c) => {
    const { user_id } = c.req.valid("param");
    const held = confirmedByTarget(c, await userStream(c.env, user_id).heldInStream(selfCaller(c, user_id)));
    if (!held) throw httpError(404, "User not found");
    const [read, deliveries] = await Promise.all([
      heldInReadSide(readDatabaseOf(c.env, user_id), c.env.DB, user_id),
      deliveriesAbout(c.env, user_id),
    ]);
    // During a re-shard (decision 0027) a row not moved yet is where the previous layout put it.
    read.read_model ??=
      (await lookBefore(
        c.env,
        user_id,
        async (db) => (await usersRowStatement(db, user_id).first<Record<string, unknown>>()) ?? undefined,
      )) ?? null;
    const erased =
      held.events.some((event) => event.event_type === "USER_ERASED") || read.read_model?.status === "erased";
    const report: z.infer<typeof PersonalDataReport> = {
      user_id,
      generated_at: new Date().toISOString(),
      erased,
      stores: {
        stream: {
          description: erased
            ? `The user's events: what happened stays, every personal field reads ${ERASED}; the vault is empty`
            : "The user's events (secrets never leave the object) and the vault that holds their personal fields",
          revision: held.revision,
          events: held.events,
          events_truncated: held.events_truncated,
          vault: held.vault,
        },
        identity_registry: {
          description: "The username and email keys the user holds, so no one else can take them",
          claims: held.identity_claims,
        },
        read_model: { description: "The user as lists and reads show it", user: read.read_model },
        audit_log: {
          description:
            "One row per event, with the username and email as of that event; as_actor: rows of other users' events this user caused",
          ...read.audit_log,
          as_actor: read.audit_log_as_actor.rows,
          as_actor_truncated: read.audit_log_as_actor.truncated,
        },
        feed: { description: "The events as other services read them (GET /admin/feed, webhooks)", ...read.feed },
        dead_letters: {
          description: "The user's events the projector gave up on, kept for an operator",
          ...read.dead_letters,
        },
        pending_deliveries: {
          description: "Per subscription: deliveries of the user's events not sent yet, and whether it sent any",
          subscriptions: deliveries.map((held) => ({ ...held, pending: held.pending.map((d) => ({ ...d })) })),
        },
        mail: { description: "Mails sent to the user", ...read.mail },
      },
    };
    return c.json(report, 200);
  });

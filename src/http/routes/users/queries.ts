import { z } from "@hono/zod-openapi";
import { config } from "../../../config";
import type { Context } from "hono";
import { findUserRow, findUserRowAs } from "../../../read/queries";
import { callerBefore, lookBefore } from "../../../read/reshard";
import { decodeListCursor, encodeListCursor, listUsers } from "../../../read/user-list";
import { userView } from "../../../read/user-projection";
import { confirmFromReadModel, confirmWithObject, requires, type Actor } from "../../auth";
import type { AppEnv } from "../../context";
import { httpError, serviceUnavailable } from "../../errors";
import { withReadSession, type SessionOf } from "../../read-session";
import { listedReadDatabases, previousReadDatabaseOf, readDatabaseOf, readDatabasesAskedAgain } from "../../../shards";
import {
  knownStreamRevision,
  mayJoin,
  rememberStreamRevision,
  rowAtRevision,
  retryAfterSeconds,
  takeWaitingPlace,
} from "../../../read/read-your-writes";
import type { RouterWith } from "../../router";
import type { Schema } from "hono/types";
import { readRoute } from "./route";
import { User, UserIdParams, UserList, errors, jsonResponse } from "../../schemas";
import { decimalInt, filterText } from "../../query-params";
import { ApiError } from "../../errors";
import { notACursor } from "../../request-validation";
import { userStream } from "../../../objects";

const filter = filterText(40).optional();

const ListQuery = z.object({
  page: decimalInt(1).default(1),
  page_size: decimalInt(1, 100).default(10),
  username: filter.openapi({ description: "Case-insensitive substring" }),
  email: filter.openapi({ description: "Case-insensitive substring" }),
  status: z
    .enum(["active", "suspended", "deleted", "all"])
    .optional()
    .openapi({
      description:
        "Admin only. Without it, live users (active and suspended) as the reference lists them; " +
        "`deleted` finds deleted users by their last username or email (erased ones as `[erased]` tombstones).",
    }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({
      description:
        "The `next_cursor` of the page before: this page starts right after its last user, so users created " +
        "or deleted meanwhile shift nothing (`page` is then only echoed back and used for the links).",
    }),
});

const GetQuery = z.object({
  consistency: z.enum(["eventual", "strong"]).optional().openapi({
    description: "`strong` answers from the user's own object, always current.",
  }),
  min_revision: decimalInt(1).optional().openapi({
    description: "Wait (bounded) until the read model reflects this revision; 503 if it does not in time.",
  }),
});

const listRoute = readRoute({
  method: "get",
  path: "/",
  summary: "List live users, filtered and paged",
  middleware: [requires("user:read")],
  request: { query: ListQuery },
  responses: { ...jsonResponse(UserList, "A page of users"), ...errors(401, 403, 422) },
});

const getRoute = readRoute({
  method: "get",
  path: "/{user_id}",
  summary: "Get one live user",
  middleware: [requires("user:read")],
  request: { params: UserIdParams, query: GetQuery },
  responses: { ...jsonResponse(z.object({ user: User }), "The user"), ...errors(400, 401, 403, 404, 422, 503) },
});

export const userQueries = <S extends Schema>(router: RouterWith<S>) =>
  router
    .openapi(listRoute, async (c) => {
      const query = c.req.valid("query");
      const statusFilterAllowed = (actor: Actor) => {
        if (query.status !== undefined && actor.role !== "admin") {
          throw httpError(403, "Insufficient permissions. Admin role required.");
        }
      };
      statusFilterAllowed(c.get("actor"));
      const after = query.cursor === undefined ? undefined : decodeListCursor(query.cursor);
      if (after === null) throw notACursor();
      // Every read database's part of the list, merged (docs/decisions/0026; during a re-shard the
      // previous layout's too, 0027); the caller's row from its own (or, not moved yet, its previous).
      const databases = listedReadDatabases(c.env);
      const { rows, count, caller, next } = await withReadSession(c, databases, async (sessionOf) => {
        const list = await listUsers(
          databases.map(sessionOf),
          {
            page: query.page,
            pageSize: query.page_size,
            username: query.username,
            email: query.email,
            status: query.status,
            after,
          },
          c.get("actor").id,
          sessionOf(readDatabaseOf(c.env, c.get("actor").id)),
          readDatabasesAskedAgain(c.env),
        );
        return { ...list, caller: list.caller ?? (await callerBefore(c.env, c.get("actor").id, sessionOf)) };
      });
      // Again with the role as confirmed, in case it was not the token's.
      statusFilterAllowed(await confirmFromReadModel(c, caller));
      const pages = Math.ceil(count / query.page_size);
      const link = (page: number) => pageLink(page, query.page_size, query.username, query.email, query.status);
      return c.json(
        {
          next: query.page < pages ? link(query.page + 1) : null,
          previous: query.page > 1 ? link(query.page - 1) : null,
          count,
          page: query.page,
          page_size: query.page_size,
          results: rows.map(userView),
          next_cursor: next ? encodeListCursor(next) : null,
        },
        200,
      );
    })
    .openapi(getRoute, async (c) => {
      const { user_id } = c.req.valid("param");
      const { consistency, min_revision } = c.req.valid("query");
      const database = consistency === "strong" ? null : readDatabaseOf(c.env, user_id);
      const user =
        database === null
          ? await fromObject(c, user_id)
          : await withReadSession(c, database, (sessionOf) =>
              fromReadModel(c, sessionOf, database, user_id, min_revision),
            );
      if (!user || user.status === "deleted" || user.status === "erased") throw httpError(404, "User not found");
      return c.json({ user }, 200);
    });

/** A strong read: the caller's object confirms the token, the user's object answers. */
async function fromObject(c: Context<AppEnv>, userId: string) {
  await confirmWithObject(c);
  return (await userStream(c.env, userId).getUser()).user;
}

/**
 * The user's row from its read database (`database`, asked once per request), the caller's from
 * its own (one statement when they are one); during a re-shard, either one missing there from its
 * previous database (decision 0027).
 * Read-your-writes: the row once it reaches `minRevision`, for a bounded time. Past the isolate's
 * waiting places: 503 at once, before asking the user's object anything. A revision the user's
 * stream does not have (an unknown user: 404; a revision ahead of the stream: 422) is answered at
 * once, since waiting cannot bring it.
 */
async function fromReadModel(
  c: Context<AppEnv>,
  sessionOf: SessionOf,
  database: D1Database,
  userId: string,
  minRevision: number | undefined,
) {
  const callerId = c.get("actor").id;
  // A read for a user this isolate already waits for joins those waiters, with no D1 read of its
  // own: its caller's row comes from their next shared look and confirms the token before
  // anything is answered (decision 0020, "Amendment: reads that join"). Without a free place, or when the
  // user's row is not in its database during a re-shard, it reads as below.
  const joined = minRevision !== undefined && mayJoin(userId, minRevision) ? takeWaitingPlace() : null;
  if (joined && minRevision !== undefined) {
    c.req.raw.signal.addEventListener("abort", joined, { once: true });
    try {
      const waited = await rowAtRevision(
        sessionOf(database),
        userId,
        minRevision,
        config(c.env).READ_YOUR_WRITES_WAIT_MS,
        {
          signal: c.req.raw.signal,
          database,
          joining: {
            callerId,
            callerDatabase: readDatabaseOf(c.env, callerId),
            // A caller with no row there is checked as below (its previous database, else its object).
            confirm: async (caller) => {
              await confirmFromReadModel(c, caller ?? (await callerBefore(c.env, callerId, sessionOf)));
            },
            elsewhere: previousReadDatabaseOf(c.env, userId) !== null,
          },
        },
      );
      if (waited === "timeout")
        throw serviceUnavailable(`The read model has not reached revision ${minRevision} yet`, retryAfterSeconds());
      if (waited !== "elsewhere") {
        // Only the waiting was shared: the row is read once more in this request's own session, so
        // the answer carries its bookmark (as current as the one sent, if any) as every get does.
        const own = await findUserRow(sessionOf(database), userId);
        return userView(own && own.revision >= waited.revision ? own : waited);
      }
    } finally {
      joined();
    }
  }
  const db = sessionOf(database);
  const found = await findUserRowAs(db, callerId, userId, sessionOf(readDatabaseOf(c.env, callerId)));
  // During a re-shard (0027) a row not moved yet is where the previous layout put it.
  const [caller, row] = await Promise.all([
    found.caller ?? callerBefore(c.env, callerId, sessionOf),
    found.row ?? lookBefore(c.env, userId, (other) => findUserRow(other, userId), sessionOf),
  ]);
  await confirmFromReadModel(c, caller);
  if (minRevision === undefined || (row && row.revision >= minRevision)) return row ? userView(row) : null;
  const release = takeWaitingPlace();
  if (!release) throw serviceUnavailable("Too many requests are waiting for the read model", retryAfterSeconds());
  // A hang-up cancels the request before its `finally` (the place would never come back).
  c.req.raw.signal.addEventListener("abort", release, { once: true });
  try {
    // Another waiter may already know the stream has it (a crowd waiting for one user asks once).
    if (knownStreamRevision(userId) < minRevision) {
      const { revision } = await userStream(c.env, userId).getUser();
      if (revision === 0) throw httpError(404, "User not found");
      if (revision < minRevision) {
        throw new ApiError(422, {
          error: "Validation Error",
          message: `min_revision ${minRevision} is ahead of the user's stream, which is at revision ${revision}`,
          type: "ValidationError",
          details: { field: "min_revision", current_revision: revision },
        });
      }
      rememberStreamRevision(userId, revision);
    }
    const waited = await rowAtRevision(db, userId, minRevision, config(c.env).READ_YOUR_WRITES_WAIT_MS, {
      signal: c.req.raw.signal,
      database,
    });
    if (waited !== "timeout" && waited !== "elsewhere") return userView(waited);
    throw serviceUnavailable(`The read model has not reached revision ${minRevision} yet`, retryAfterSeconds());
  } finally {
    release();
  }
}

/** The reference's relative links: `/users/?page=2&page_size=5`, filters appended unencoded. */
function pageLink(page: number, pageSize: number, username?: string, email?: string, status?: string): string {
  let link = `/users/?page=${page}&page_size=${pageSize}`;
  if (username) link += `&username=${username}`;
  if (email) link += `&email=${email}`;
  if (status) link += `&status=${status}`;
  return link;
}

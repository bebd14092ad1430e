import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ctx, eventually, expectOk, request } from "./support.mjs";

/** A bcrypt hash (cost 4) as the reference stores them; Sarah never signs in here. */
const BCRYPT = "$2b$04$XN2PVyimi/mfTMRwOHAs/.ZacDHSy.YfFATGNfUNV2mLVT/eNn./O";

/**
 * Sarah's life at known times, brought in by the import like a migration from the reference would:
 * created and renamed on Monday 23 November 2026 (two rows of the reference's `user_event_stream`),
 * then deleted by Dave at 3:52 PM Berlin time with his reason (an event of our own export, which
 * keeps its actor and reason).
 */
function sarahsLife(sarahId, dave) {
  const row = (revision, event_type, timestamp, data) => ({
    id: randomUUID(),
    aggregate_id: sarahId,
    event_type,
    timestamp,
    version: "1",
    revision,
    data,
  });
  return [
    row(1, "USER_CREATED", "2026-11-23T08:12:00.000000+00:00", {
      role: "USER",
      email: "sarah@example.com",
      username: "sarah",
      first_name: "Sarah",
      last_name: "Connor",
      password_hash: BCRYPT,
      hashing_method: "bcrypt",
    }),
    row(2, "USER_UPDATED", "2026-11-23T10:30:00.000000+00:00", { email: null, first_name: null, last_name: "Reese" }),
    {
      id: randomUUID(),
      aggregate_id: sarahId,
      event_type: "USER_DELETED",
      version: 2,
      timestamp: "2026-11-23T14:52:10.000Z",
      revision: 3,
      data: { reason: "Duplicate account, ticket #4411" },
      metadata: {
        actor_id: dave.id,
        actor_username: "dave",
        request_id: "req-dave-4411",
        idempotency_key: null,
        reason: "Duplicate account, ticket #4411",
      },
    },
  ];
}

/**
 * Sarah's story in the server, imported once whichever test needs it first (the Sarah story, the
 * audit page), so that each of them can run alone. Resolves with her id once the read model shows
 * her deleted.
 */
export function sarahImported() {
  story ??= importSarah();
  return story;
}
let story = null;

async function importSarah() {
  const dave = { username: "dave", password: "dave-admin-password" };
  const created = await expectOk(ctx.server.url, "POST", "/admin/bootstrap/admins", {
    token: ctx.server.devVars.ADMIN_BOOTSTRAP_TOKEN,
    body: { ...dave, email: "dave@example.com", first_name: "Dave", last_name: "Ops" },
  });
  const sarahId = randomUUID();
  const imported = await fetch(`${ctx.server.url}/admin/import`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ctx.admin.token}`, "Content-Type": "application/x-ndjson" },
    body: sarahsLife(sarahId, { id: created.body.user_id })
      .map((line) => JSON.stringify(line))
      .join("\n"),
  });
  // Sarah is a user, so the answer names no imported admin.
  assert.deepEqual(await imported.json(), { imported: 3, skipped: 0, rejected: [], admins: [] });
  // The search reads the read model, which the queue fills: wait for her to be there, deleted.
  await eventually(
    async () => {
      const r = await request(ctx.server.url, "GET", "/v1/users/?status=deleted&username=sarah", {
        token: ctx.admin.token,
      });
      return r.body.count === 1;
    },
    { what: "Sarah deleted in the read model" },
  );
  return { sarahId };
}

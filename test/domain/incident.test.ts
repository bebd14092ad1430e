import { describe, expect, it } from "vitest";
import { ERASED } from "../../src/domain/events";
import { changePassword, given } from "./decider-spec";
import { REDACTED_PASSWORD_HASH, eventsFromExport, historyFromExport, stateFromExport } from "./from-export";

/**
 * Incident: a mobile client kept sending profile updates for a user an admin had deleted, and support
 * asked whether any of them could have been accepted. The stream was exported with
 * `GET /admin/users/{id}/stream` and pasted here as it came (NDJSON, password hash redacted); the
 * decider answers on exactly that history.
 */
const DELETED_USER_EXPORT = `{"id":"3f0c2a4e-8d7b-4b52-9c61-0f5a7e2d9b11","aggregate_id":"9b2f6c1d-4e8a-4f3b-a2c5-7d1e0b6f8a93","event_type":"USER_CREATED","version":1,"timestamp":"2026-11-20T09:12:03.417Z","revision":1,"data":{"username":"mallory","email":"mallory@example.com","first_name":"Mallory","last_name":"Moss","hashing_method":"pbkdf2-sha256","role":"user"},"metadata":{"actor_id":"5a1e9c3b-7f2d-4c8e-b6a0-2d9f4e1c7b55","actor_username":"admin","request_id":"0e7d4c1b-2a9f-4e3c-8b5d-6f1a0c9e2d47","idempotency_key":null,"reason":null}}
{"id":"7c4e1b9a-0d3f-4a6e-8c2b-5e9f1d7a3c08","aggregate_id":"9b2f6c1d-4e8a-4f3b-a2c5-7d1e0b6f8a93","event_type":"USER_UPDATED","version":1,"timestamp":"2026-11-21T14:30:55.002Z","revision":2,"data":{"email":"mallory.moss@example.com"},"metadata":{"actor_id":"9b2f6c1d-4e8a-4f3b-a2c5-7d1e0b6f8a93","actor_username":"mallory","request_id":"b3c9e1f7-4d2a-4b8e-9f0c-1a7d5e3b6c29","idempotency_key":"e1a7c3f9-5b2d-4e8a-8c6f-0d9b4a2e7c13","reason":null}}
{"id":"a9d3f7c1-6e2b-4d8a-b0f4-3c7e9a1d5b62","aggregate_id":"9b2f6c1d-4e8a-4f3b-a2c5-7d1e0b6f8a93","event_type":"PASSWORD_CHANGED","version":1,"timestamp":"2026-11-22T08:01:17.930Z","revision":3,"data":{"hashing_method":"pbkdf2-sha256"},"metadata":{"actor_id":"9b2f6c1d-4e8a-4f3b-a2c5-7d1e0b6f8a93","actor_username":"mallory","request_id":"req-7781","idempotency_key":null,"reason":null}}
{"id":"d2b8e4a6-1c9f-4e3d-a7b5-9f0c2e6d8a14","aggregate_id":"9b2f6c1d-4e8a-4f3b-a2c5-7d1e0b6f8a93","event_type":"USER_DELETED","version":2,"timestamp":"2026-11-23T15:47:00.511Z","revision":4,"data":{"reason":"Fraud report #5521"},"metadata":{"actor_id":"5a1e9c3b-7f2d-4c8e-b6a0-2d9f4e1c7b55","actor_username":"admin","request_id":"req-9902","idempotency_key":null,"reason":"Fraud report #5521"}}
`;

describe("a production incident as a unit test", () => {
  it("the exported stream of a deleted user rejects any further update with user_update_deleted", () => {
    // The exported history, as it was: deleted at 15:47 by the admin, for the reason on record.
    expect(stateFromExport(DELETED_USER_EXPORT)).toMatchObject({
      revision: 4,
      user: {
        username: "mallory",
        email: "mallory.moss@example.com",
        status: "deleted",
        deleted_at: "2026-11-23T15:47:00.511Z",
      },
    });

    const history = historyFromExport(DELETED_USER_EXPORT);
    given(...history)
      .when({ type: "UpdateUser", first_name: "Mal" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_update_deleted" });
    given(...history)
      .when({ type: "UpdateUser", email: "new@example.com" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_update_deleted" });
    // Nor could the client have changed the password or deleted the user again.
    given(...history)
      .when(changePassword())
      .rejects({ code: "BusinessRuleViolated", rule: "password_change_deleted" });
    given(...history)
      .when({ type: "DeleteUser" })
      .rejects({ code: "BusinessRuleViolated", rule: "user_already_deleted" });
    // Up to the deletion, the same update was fine: the rejection is due to the deletion alone.
    given(...history.slice(0, 3))
      .when({ type: "UpdateUser", first_name: "Mal" })
      .then({ event_type: "USER_UPDATED", data: { first_name: "Mal" } });
  });

  it("the helper fills redacted hashes, keeps the envelopes and lifts old schema versions", () => {
    const events = eventsFromExport(DELETED_USER_EXPORT);
    expect(events.map((e) => [e.revision, e.event_type, e.version])).toEqual([
      [1, "USER_CREATED", 1],
      [2, "USER_UPDATED", 1],
      [3, "PASSWORD_CHANGED", 1],
      [4, "USER_DELETED", 2],
    ]);
    expect(events[0]).toMatchObject({
      timestamp: "2026-11-20T09:12:03.417Z",
      data: { password_hash: REDACTED_PASSWORD_HASH },
    });
    expect(events[2]).toMatchObject({
      data: { password_hash: REDACTED_PASSWORD_HASH, hashing_method: "pbkdf2-sha256" },
    });
    expect(events[3]?.metadata).toMatchObject({ actor_username: "admin", reason: "Fraud report #5521" });

    // An export taken before USER_DELETED v2 (data `{}`, the reason only in metadata) reads the same.
    const v1 = DELETED_USER_EXPORT.replace(
      '"version":2,"timestamp":"2026-11-23T15:47:00.511Z","revision":4,"data":{"reason":"Fraud report #5521"}',
      '"version":1,"timestamp":"2026-11-23T15:47:00.511Z","revision":4,"data":{}',
    );
    expect(v1).not.toBe(DELETED_USER_EXPORT);
    expect(eventsFromExport(v1)[3]).toMatchObject({ version: 2, data: { reason: "Fraud report #5521" } });

    // An export of an erased user folds to the tombstone; a truncated export is refused.
    expect(stateFromExport(DELETED_USER_EXPORT.replaceAll('"mallory"', `"${ERASED}"`)).user?.username).toBe(ERASED);
    expect(() => eventsFromExport(DELETED_USER_EXPORT.split("\n").slice(1).join("\n"))).toThrow(/not a whole stream/);
  });
});

import { describe, expect, it } from "vitest";
import { given } from "./decider-spec";
import { historyFromExport, stateFromExport } from "./from-export";

// Written by "make a test from this" (test/domain/write-test.ts) from the stream of user
// 5d6c2b1a-0f9e-4d8c-b7a6-958473625140 as GET /admin/users/{id}/stream exported it, revisions 1 to 6.
const EXPORT = `{"id":"00000000-0000-4000-8000-000000000001","aggregate_id":"5d6c2b1a-0f9e-4d8c-b7a6-958473625140","event_type":"USER_CREATED","version":1,"timestamp":"2026-11-23T15:40:00.500Z","revision":1,"data":{"username":"sarah","email":"sarah@example.com","first_name":"Sarah","last_name":"Connor","hashing_method":"pbkdf2-sha256","role":"user"},"metadata":{"actor_id":"1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9","actor_username":"admin","request_id":"req-1","idempotency_key":null,"reason":null}}
{"id":"00000000-0000-4000-8000-000000000002","aggregate_id":"5d6c2b1a-0f9e-4d8c-b7a6-958473625140","event_type":"USER_UPDATED","version":1,"timestamp":"2026-11-23T15:41:00.500Z","revision":2,"data":{"last_name":"O'Connor"},"metadata":{"actor_id":"5d6c2b1a-0f9e-4d8c-b7a6-958473625140","actor_username":"sarah","request_id":"req-2","idempotency_key":null,"reason":null}}
{"id":"00000000-0000-4000-8000-000000000003","aggregate_id":"5d6c2b1a-0f9e-4d8c-b7a6-958473625140","event_type":"USER_SUSPENDED","version":1,"timestamp":"2026-11-23T15:42:00.500Z","revision":3,"data":{},"metadata":{"actor_id":"1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9","actor_username":"admin","request_id":"req-3","idempotency_key":null,"reason":"Chargeback \`#77\` on \${card}"}}
{"id":"00000000-0000-4000-8000-000000000004","aggregate_id":"5d6c2b1a-0f9e-4d8c-b7a6-958473625140","event_type":"USER_REACTIVATED","version":1,"timestamp":"2026-11-23T15:43:00.500Z","revision":4,"data":{},"metadata":{"actor_id":"1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9","actor_username":"admin","request_id":"req-4","idempotency_key":null,"reason":"Chargeback withdrawn"}}
{"id":"00000000-0000-4000-8000-000000000005","aggregate_id":"5d6c2b1a-0f9e-4d8c-b7a6-958473625140","event_type":"USER_CORRECTED","version":1,"timestamp":"2026-11-23T15:44:00.500Z","revision":5,"data":{"email":"sarah.connor@example.com","reason":"Typo in the address"},"metadata":{"actor_id":"1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9","actor_username":"admin","request_id":"req-5","idempotency_key":null,"reason":"Typo in the address"}}
{"id":"00000000-0000-4000-8000-000000000006","aggregate_id":"5d6c2b1a-0f9e-4d8c-b7a6-958473625140","event_type":"USER_DELETED","version":2,"timestamp":"2026-11-23T15:45:00.500Z","revision":6,"data":{"reason":"Asked to close the account"},"metadata":{"actor_id":"1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9","actor_username":"admin","request_id":"req-6","idempotency_key":null,"reason":"Asked to close the account"}}
`;

describe("user sarah at revision 6", () => {
  it("the export folds to the user as it was then", () => {
    expect(stateFromExport(EXPORT)).toMatchObject({"revision":6,"user":{"username":"sarah","email":"sarah.connor@example.com","first_name":"Sarah","last_name":"O'Connor","role":"user","status":"deleted","deleted_at":"2026-11-23T15:45:00.500Z"}});
  });

  it("USER_DELETED by admin follows from the history before it", () => {
    given(...historyFromExport(EXPORT).slice(0, 5))
      .when({"type":"DeleteUser","reason":"Asked to close the account"})
      .then({"event_type":"USER_DELETED","data":{"reason":"Asked to close the account"}});
  });
});

/** A stream as `GET /admin/users/{id}/stream` exports it: every kind of event a command decides. */
const meta = (actor: string, request: string, reason: string | null = null) => ({
  actor_id: actor === "sarah" ? "5d6c2b1a-0f9e-4d8c-b7a6-958473625140" : "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
  actor_username: actor,
  request_id: request,
  idempotency_key: null,
  reason,
});
const id = "5d6c2b1a-0f9e-4d8c-b7a6-958473625140";
const events = [
  [
    "USER_CREATED",
    1,
    {
      username: "sarah",
      email: "sarah@example.com",
      first_name: "Sarah",
      last_name: "Connor",
      hashing_method: "pbkdf2-sha256",
      role: "user",
    },
    meta("admin", "req-1"),
  ],
  ["USER_UPDATED", 1, { last_name: "O'Connor" }, meta("sarah", "req-2")],
  ["USER_SUSPENDED", 1, {}, meta("admin", "req-3", "Chargeback `#77` on ${card}")],
  ["USER_REACTIVATED", 1, {}, meta("admin", "req-4", "Chargeback withdrawn")],
  [
    "USER_CORRECTED",
    1,
    { email: "sarah.connor@example.com", reason: "Typo in the address" },
    meta("admin", "req-5", "Typo in the address"),
  ],
  ["USER_DELETED", 2, { reason: "Asked to close the account" }, meta("admin", "req-6", "Asked to close the account")],
] as const;

export const SARAH_EXPORT = events
  .map(([event_type, version, data, metadata], index) =>
    JSON.stringify({
      id: `00000000-0000-4000-8000-00000000000${index + 1}`,
      aggregate_id: id,
      event_type,
      version,
      timestamp: new Date(Date.UTC(2026, 10, 23, 15, 40 + index, 0, 500)).toISOString(),
      revision: index + 1,
      data,
      metadata,
    }),
  )
  .map((line) => `${line}\n`)
  .join("");

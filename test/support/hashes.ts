import type { StoredEvent } from "../../src/domain/import";

/**
 * Stored password hashes that must never be run (issue 24), and a user who holds one: the object's
 * and the HTTP tests of the hash bounds share them.
 */

/** A 16-byte salt and a 32-byte digest in our PBKDF2 format; 53 characters of a bcrypt hash. */
export const SALT = "c2FsdHNhbHRzYWx0c2FsdA==";
export const DIGEST = `${"A".repeat(43)}=`;
export const BCRYPT_REST = "abcdefghijklmnopqrstuuFZ2EvgDKSEHZQ7uXrbpgLVD6t8N1zWy";

export const UNUSABLE_HASHES: [string, string][] = [
  ["PBKDF2 with 999,999,999 iterations", `pbkdf2-sha256$999999999$${SALT}$${DIGEST}`],
  ["PBKDF2 with 0 iterations", `pbkdf2-sha256$0$${SALT}$${DIGEST}`],
  ["PBKDF2 with a salt that is not base64", `pbkdf2-sha256$1000$not base64!$${DIGEST}`],
  ["bcrypt cost 16", `$2b$16$${BCRYPT_REST}`],
  ["bcrypt cost 3", `$2b$03$${BCRYPT_REST}`],
  ["bcrypt with a bad salt", `$2b$10$!!${BCRYPT_REST.slice(2)}`],
];

/** A user whose USER_CREATED carries `passwordHash`, stored through the object's import. */
export function userWithHash(passwordHash: string): StoredEvent[] {
  const id = crypto.randomUUID();
  const name = `h${id.slice(0, 8)}`;
  return [
    {
      id: crypto.randomUUID(),
      aggregate_id: id,
      event_type: "USER_CREATED",
      version: 1,
      timestamp: new Date().toISOString(),
      revision: 1,
      data: {
        username: name,
        email: `${name}@example.com`,
        first_name: "H",
        last_name: "B",
        password_hash: passwordHash,
        hashing_method: "imported",
        role: "user",
      },
      metadata: { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null },
    },
  ];
}

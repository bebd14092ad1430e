import { redact, type PublicEvent } from "../domain/events";
import { heldBy } from "../domain/plan";
import { readEvents } from "./event-store";
import { TOKEN_REFUSED, type SelfCaller, type TokenRefused } from "./protocol";
import type { StreamContext } from "./stream-context";

/** Events in one access report at most: a stream longer than this is reported as truncated. */
export const REPORT_EVENTS_MAX = 1000;

/** One vault row as an access report shows it: the personal fields one event carried, secrets left out. */
export interface VaultEntry {
  revision: number;
  fields: Record<string, string>;
}

/** What a user's object holds about its user, for the access report (`GET /v1/users/{id}/personal-data/`). */
export interface HeldInStream {
  user_id: string;
  revision: number;
  /** The stream as it may leave the object (secrets redacted); erased fields read `[erased]`. */
  events: PublicEvent[];
  events_truncated: boolean;
  /** The personal-data vault: what an erasure deletes. Empty once erased. */
  vault: VaultEntry[];
  /** The username and email keys the user holds in the identity registry (none once deleted or erased). */
  identity_claims: string[];
}

/** The vault's name for the actor's username (`src/write/event-store.ts`). */
const ACTOR = "$actor_username";
const SECRET = new Set(["password_hash"]);

/**
 * Everything this object holds about its user, read only: the redacted stream, the vault's personal
 * fields (never a password hash) and the identity claims. Null for a user that never existed.
 */
export function heldInStream(stream: StreamContext, caller?: SelfCaller): HeldInStream | null | TokenRefused {
  if (caller && !stream.acceptsSelf(stream.userId, caller)) return TOKEN_REFUSED;
  if (!stream.userId) return null;
  const events = readEvents(stream.sql, stream.userId, 1, REPORT_EVENTS_MAX + 1).map(redact);
  const vault = stream.sql
    .exec<{ revision: number; data: string }>("SELECT revision, data FROM personal_data ORDER BY revision")
    .toArray()
    .map(({ revision, data }) => {
      const fields: Record<string, string> = {};
      for (const [field, value] of Object.entries(JSON.parse(data) as Record<string, unknown>)) {
        if (SECRET.has(field) || typeof value !== "string") continue;
        fields[field === ACTOR ? "actor_username" : field] = value;
      }
      return { revision, fields };
    })
    .filter((entry) => Object.keys(entry.fields).length > 0);
  return {
    user_id: stream.userId,
    revision: stream.current.revision,
    events: events.slice(0, REPORT_EVENTS_MAX),
    events_truncated: events.length > REPORT_EVENTS_MAX,
    vault,
    identity_claims: heldBy(stream.current),
  };
}

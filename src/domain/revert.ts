import type { Rejection, UserCommand } from "./commands";
import { isStorableText } from "./rules";
import type { User, UserState } from "./user";

/**
 * A revert: "put her back the way she was at 3:47 PM". History is never rewritten: the user is
 * made again what it was `then` by the commands an admin would have had to type, in order, each
 * decided by `decide` on the state the previous one left (src/domain/decide.ts), so every event a
 * revert appends is one a command could produce (an export of the stream passes the import gate):
 *
 * 1. USER_RESTORED, when the user is deleted now and was not then, or was but with other fields
 *    (a deleted user cannot be corrected) or another status to come back to;
 * 2. USER_CORRECTED with the fields (username, email, first and last name) that differ from then;
 * 3. USER_SUSPENDED or USER_REACTIVATED, to the status of then (for a deleted `then`, the status it
 *    had when it was deleted, so a later restore brings back what it would have then);
 * 4. USER_DELETED, when it was deleted then and is not now.
 *
 * What it does not put back: the password (a secret, and the user's own to change), the role (no
 * event changes it), the times (`updated_at`, `deleted_at`, `last_login_at` say when, and a revert
 * happens now). Nothing to change is no event at all. Refused: an erased user (nothing is left to
 * put back), a point before the user existed, a revert without a reason.
 */
export type RevertSteps = { ok: true; steps: UserCommand[] } | { ok: false; rejection: Rejection };

const IDENTITY_AND_NAMES = ["username", "email", "first_name", "last_name"] as const;
type Changes = Partial<Pick<User, (typeof IDENTITY_AND_NAMES)[number]>>;

export function revertSteps(now: UserState, then: UserState, rawReason: string): RevertSteps {
  const user = now.user;
  if (!user) return refuse({ code: "UserNotFound", message: "User not found" });
  if (user.status === "erased" || then.user?.status === "erased") {
    return businessRule("revert_erased", "An erased user cannot be reverted: nothing is left to put back");
  }
  const past = then.user;
  if (!past) {
    return businessRule("revert_before_creation", "The user did not exist yet at that point: nothing to go back to");
  }
  const reason = rawReason.trim();
  if (!reason) return invalidReason("reason_required", "A revert needs a reason");
  if (!isStorableText(reason)) {
    return invalidReason("unstorable_text", "reason must not contain control characters or unpaired surrogates");
  }

  const changes: Changes = {};
  for (const field of IDENTITY_AND_NAMES) if (user[field] !== past[field]) changes[field] = past[field];
  const changed = Object.keys(changes).length > 0;
  // The live status to end on: then's, or for a deleted then the one its deletion kept.
  const liveTarget = past.status === "deleted" ? (past.status_before_delete ?? "active") : past.status;

  const steps: UserCommand[] = [];
  let status = user.status;
  if (status === "deleted") {
    const sameDeletion =
      past.status === "deleted" && !changed && (user.status_before_delete ?? "active") === liveTarget;
    if (sameDeletion) return { ok: true, steps };
    steps.push({ type: "RestoreUser", reason });
    status = user.status_before_delete ?? "active";
  }
  if (changed) steps.push({ type: "CorrectUser", changes, reason });
  if (status === "active" && liveTarget === "suspended") steps.push({ type: "SuspendUser" });
  if (status === "suspended" && liveTarget === "active") steps.push({ type: "ReactivateUser" });
  if (past.status === "deleted") steps.push({ type: "DeleteUser", reason });
  return { ok: true, steps };
}

/**
 * The username and email a revert makes the user hold again: then's, when the user is live after
 * it. They are claimed in the registries like any command's (null: it holds none after the revert).
 */
export function identitiesAfterRevert(then: UserState): { username: string; email: string } | null {
  const past = then.user;
  if (!past || past.status === "deleted" || past.status === "erased") return null;
  return { username: past.username, email: past.email };
}

const refuse = (rejection: Rejection): RevertSteps => ({ ok: false, rejection });

function businessRule(rule: string, message: string): RevertSteps {
  return refuse({ code: "BusinessRuleViolated", rule, message });
}

function invalidReason(rule: string, message: string): RevertSteps {
  return refuse({ code: "ValidationFailed", field: "reason", rule, message, details: {} });
}

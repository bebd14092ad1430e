import type { Policy, Rejection, UserCommand } from "./commands";
import type { UserEvent } from "./events";
import { isStorableText, isValidEmail, normalizeEmail, normalizeUsername, usernameProblem } from "./rules";
import { revertSteps } from "./revert";
import { evolve, isGone, type User, type UserState } from "./user";

export type Decision = { ok: true; events: UserEvent[] } | Rejected;
type Rejected = { ok: false; rejection: Rejection };

const accept = (...events: UserEvent[]): Decision => ({ ok: true, events });
const reject = (rejection: Rejection): Rejected => ({ ok: false, rejection });

export function decide(state: UserState, command: UserCommand, policy: Policy): Decision {
  if (command.type === "CreateUser") return createUser(state, command, policy);
  const user = state.user;
  if (!user) return reject({ code: "UserNotFound", message: "User not found" });
  switch (command.type) {
    case "UpdateUser":
      return updateUser(user, command);
    case "ChangePassword":
      return changePassword(user, command, policy);
    case "RehashPassword":
      return rehashPassword(user, command, policy);
    case "DeleteUser":
      if (command.reason !== undefined && !isStorableText(command.reason)) return unstorable("reason");
      return whenNotDeleted(user, "user_already_deleted", `User ${user.id} is already deleted`, () =>
        accept({ event_type: "USER_DELETED", data: { reason: command.reason ?? null } }),
      );
    case "CorrectUser":
      return correctUser(user, command);
    case "EraseUser":
      return user.status === "erased"
        ? businessRule("user_already_erased", "User is already erased")
        : accept({ event_type: "USER_ERASED", data: {} });
    case "SuspendUser":
      return whenNotDeleted(user, "suspend_deleted", "Cannot suspend a deleted user", () =>
        user.status === "suspended"
          ? businessRule("user_already_suspended", "User is already suspended")
          : accept({ event_type: "USER_SUSPENDED", data: {} }),
      );
    case "ReactivateUser":
      return whenNotDeleted(user, "reactivate_deleted", "Cannot reactivate a deleted user", () =>
        user.status !== "suspended"
          ? businessRule("user_not_suspended", "User is not suspended")
          : accept({ event_type: "USER_REACTIVATED", data: {} }),
      );
    case "RestoreUser":
      return restoreUser(user, command);
    case "RevertUser":
      return revertUser(state, command, policy);
    case "RecordLogin":
      // The object checks the password and status first; this is the rule, in case it did not.
      return user.status === "active"
        ? accept({ event_type: "USER_LOGGED_IN", data: { method: command.method } })
        : businessRule("login_inactive", "Only an active user can log in");
  }
}

function createUser(state: UserState, command: Extract<UserCommand, { type: "CreateUser" }>, policy: Policy): Decision {
  const checked = newUserRules(state, command, policy);
  if (!checked.ok) return checked;
  const { first_name, last_name, password_hash, role } = command;
  return accept({
    event_type: "USER_CREATED",
    data: {
      username: checked.value.username,
      email: checked.value.email,
      first_name,
      last_name,
      password_hash,
      hashing_method: policy.hashingMethod,
      role,
    },
  });
}

/** A rule's answer: the value it normalised, or why the command cannot be. */
export type Checked<T> = { ok: true; value: T } | { ok: false; rejection: Rejection };

/** The rules of a new user, whatever its password's hash: the username and email as stored. */
export function newUserRules(
  state: UserState,
  fields: { username: string; email: string; first_name: string; last_name: string; password: string },
  policy: Policy,
): Checked<{ username: string; email: string }> {
  if (state.user) return reject({ code: "UserAlreadyExists", message: "User already exists" });
  const username = normalizeUsername(fields.username);
  const badName = usernameProblem(username);
  if (badName) return invalid("username", badName.rule, badName.message, badName.details);
  const email = normalizeEmail(fields.email);
  if (!isValidEmail(email)) return invalidEmail(email);
  const badText = textProblem(fields);
  if (badText) return badText;
  const weak = passwordProblem("password", fields.password, policy);
  if (weak) return weak;
  return { ok: true, value: { username, email } };
}

function updateUser(user: User, command: Extract<UserCommand, { type: "UpdateUser" }>): Decision {
  const checked = updateRules(user, command);
  return checked.ok ? accept({ event_type: "USER_UPDATED", data: checked.value }) : checked;
}

/** What an update changes, normalised. */
export function updateRules(
  user: User,
  command: Extract<UserCommand, { type: "UpdateUser" }>,
): Checked<{ first_name?: string; last_name?: string; email?: string }> {
  if (isGone(user)) return businessRule("user_update_deleted", `Cannot update deleted user: ${user.id}`);
  const badText = textProblem(command);
  if (badText) return badText;
  const data: { first_name?: string; last_name?: string; email?: string } = {};
  if (command.first_name) data.first_name = command.first_name;
  if (command.last_name) data.last_name = command.last_name;
  if (command.email) {
    data.email = normalizeEmail(command.email);
    if (!isValidEmail(data.email)) return invalidEmail(data.email);
  }
  if (Object.keys(data).length === 0) {
    return invalid("update_fields", "no_fields_to_update", "No fields provided for update", {});
  }
  return { ok: true, value: data };
}

function changePassword(
  user: User,
  command: Extract<UserCommand, { type: "ChangePassword" }>,
  policy: Policy,
): Decision {
  // The current password is checked first, as in the reference: a wrong one answers 401 even on a
  // deleted user, so the endpoint cannot be used to learn whether a user was deleted.
  if (!command.current_password_valid) {
    return reject({ code: "IncorrectPassword", message: "Password is incorrect for password change" });
  }
  const refused = newPasswordRules(user, command.new_password, policy);
  if (refused) return refused;
  if (command.new_password_same_as_current) {
    return invalid(
      "new_password",
      "password_must_be_different",
      "New password must be different from current password",
      {},
    );
  }
  return accept({
    event_type: "PASSWORD_CHANGED",
    data: { password_hash: command.new_password_hash, hashing_method: policy.hashingMethod },
  });
}

/**
 * The rules of a new password that need no check of the current one: the user is not deleted and
 * the password is long enough. They apply once the current password was found correct.
 */
export function newPasswordRules(user: User, newPassword: string, policy: Policy): Rejected | null {
  if (isGone(user)) {
    return businessRule("password_change_deleted", `Cannot change password for deleted user: ${user.id}`);
  }
  return passwordProblem("new_password", newPassword, policy);
}

function rehashPassword(
  user: User,
  command: Extract<UserCommand, { type: "RehashPassword" }>,
  policy: Policy,
): Decision {
  // The password may have changed since the login verified it: then there is nothing to upgrade.
  if (user.password_hash !== command.verified_hash) {
    return businessRule("password_rehash_stale", "The password changed since it was verified");
  }
  return whenNotDeleted(user, "password_rehash_deleted", "Cannot rehash the password of a deleted user", () =>
    accept({
      event_type: "PASSWORD_REHASHED",
      data: { password_hash: command.new_password_hash, hashing_method: policy.hashingMethod },
    }),
  );
}

function correctUser(user: User, command: Extract<UserCommand, { type: "CorrectUser" }>): Decision {
  const checked = correctionRules(user, command);
  return checked.ok ? accept({ event_type: "USER_CORRECTED", data: checked.value }) : checked;
}

type Correction = { username?: string; first_name?: string; last_name?: string; email?: string; reason: string };

/** What a correction changes, normalised, with its reason. */
export function correctionRules(
  user: User,
  command: Extract<UserCommand, { type: "CorrectUser" }>,
): Checked<Correction> {
  if (isGone(user)) return businessRule("correct_deleted", "Cannot correct a deleted user");
  const reason = command.reason.trim();
  if (!reason) return invalid("reason", "reason_required", "A correction needs a reason", {});
  if (!isStorableText(reason)) return unstorable("reason");
  const badText = textProblem(command.changes);
  if (badText) return badText;
  const changes: Omit<Correction, "reason"> = {};
  const { username, first_name, last_name, email } = command.changes;
  if (username !== undefined) {
    changes.username = normalizeUsername(username);
    const badName = usernameProblem(changes.username);
    if (badName) return invalid("username", badName.rule, badName.message, badName.details);
  }
  if (first_name !== undefined) changes.first_name = first_name;
  if (last_name !== undefined) changes.last_name = last_name;
  if (email !== undefined) {
    changes.email = normalizeEmail(email);
    if (!isValidEmail(changes.email)) return invalidEmail(changes.email);
  }
  if (Object.keys(changes).length === 0) {
    return invalid("changes", "no_changes", "A correction needs at least one change", {});
  }
  return { ok: true, value: { ...changes, reason } };
}

function restoreUser(user: User, command: Extract<UserCommand, { type: "RestoreUser" }>): Decision {
  const checked = restoreRules(user, command);
  return checked.ok ? accept({ event_type: "USER_RESTORED", data: checked.value }) : checked;
}

/** Whether a restore may be, and the status it brings back. */
export function restoreRules(
  user: User,
  command: Extract<UserCommand, { type: "RestoreUser" }>,
): Checked<{ reason: string; status: "active" | "suspended" }> {
  if (user.status === "erased") return businessRule("restore_erased", "An erased user cannot be restored");
  if (user.status !== "deleted") return businessRule("user_not_deleted", "Only a deleted user can be restored");
  const reason = command.reason.trim();
  if (!reason) return invalid("reason", "reason_required", "A restore needs a reason", {});
  if (!isStorableText(reason)) return unstorable("reason");
  return { ok: true, value: { reason, status: user.status_before_delete ?? "active" } };
}

/**
 * A revert's steps (src/domain/revert.ts), each decided on the state the one before leaves: all of
 * them accepted, or the first refusal. The steps' events are recorded only for this fold (the store
 * gives them their ids, times and revisions when it appends them).
 */
function revertUser(state: UserState, command: Extract<UserCommand, { type: "RevertUser" }>, policy: Policy): Decision {
  const planned = revertSteps(state, command.then, command.reason);
  if (!planned.ok) return planned;
  const events: UserEvent[] = [];
  let now = state;
  for (const step of planned.steps) {
    const decision = decide(now, step, policy);
    if (!decision.ok) return decision;
    for (const event of decision.events) {
      events.push(event);
      const at = now.user?.updated_at ?? "";
      now = evolve(now, {
        ...event,
        id: "",
        aggregate_id: now.user?.id ?? "",
        version: 1,
        timestamp: at,
        revision: now.revision + 1,
        metadata: { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null },
      });
    }
  }
  return accept(...events);
}

/** Names must survive storage and display as sent: no lone surrogates, no control characters. */
function textProblem(fields: { first_name?: string | null; last_name?: string | null }): Rejected | null {
  for (const field of ["first_name", "last_name"] as const) {
    const value = fields[field];
    if (value && !isStorableText(value)) return unstorable(field);
  }
  return null;
}

function unstorable(field: string): Rejected {
  return invalid(field, "unstorable_text", `${field} must not contain control characters or unpaired surrogates`, {});
}

function whenNotDeleted(user: User, rule: string, message: string, then: () => Decision): Decision {
  return isGone(user) ? businessRule(rule, message) : then();
}

function passwordProblem(field: string, password: string, policy: Policy): Rejected | null {
  if (password.length === 0) {
    return field === "password"
      ? invalid(field, "password_required", "Password is required", {})
      : invalid(field, "new_password_required", "New password is required", {});
  }
  if (password.length < policy.passwordMinLength) {
    return invalid(
      field,
      "password_too_short",
      `Password must be at least ${policy.passwordMinLength} characters long`,
      {
        min_length: policy.passwordMinLength,
      },
    );
  }
  return null;
}

function invalid(field: string, rule: string, message: string, details: Record<string, unknown>): Rejected {
  return reject({ code: "ValidationFailed", field, rule, message, details });
}

function invalidEmail(email: string): Rejected {
  return invalid("email", "invalid_email_format", `Invalid email format: ${email}`, { email });
}

function businessRule(rule: string, message: string): Rejected {
  return reject({ code: "BusinessRuleViolated", rule, message });
}

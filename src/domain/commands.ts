import type { Role } from "./events";
import type { UserState } from "./user";

/**
 * Commands carry facts the decider cannot compute itself (hashes, password checks): the write side
 * computes them first, so `decide` stays pure.
 */
export type UserCommand =
  | {
      type: "CreateUser";
      username: string;
      email: string;
      first_name: string;
      last_name: string;
      password: string;
      password_hash: string;
      role: Role;
    }
  | { type: "UpdateUser"; first_name?: string | null; last_name?: string | null; email?: string | null }
  | {
      type: "ChangePassword";
      current_password_valid: boolean;
      new_password: string;
      new_password_same_as_current: boolean;
      new_password_hash: string;
    }
  /** After a login verified the password against `verified_hash` (an imported one): store it our way. */
  | { type: "RehashPassword"; verified_hash: string; new_password_hash: string }
  | { type: "DeleteUser"; reason?: string | undefined }
  | {
      type: "CorrectUser";
      changes: { username?: string; first_name?: string; last_name?: string; email?: string };
      reason: string;
    }
  | { type: "EraseUser" }
  | { type: "SuspendUser" }
  | { type: "ReactivateUser" }
  | { type: "RestoreUser"; reason: string }
  /**
   * Make the user again what it was in `then` (its stream folded up to the target revision or
   * instant), by appending events; src/domain/revert.ts says which.
   */
  | { type: "RevertUser"; then: UserState; reason: string }
  | { type: "RecordLogin"; method: string };

/** The point a revert goes back to: a revision of the stream, or an instant (ISO, UTC). */
export type RevertTarget = { revision: number } | { timestamp: string };

/**
 * What the write side is asked. Plain data: it crosses RPC. Most commands are the domain's own;
 * create and password change carry plaintext passwords that the object turns into the facts the
 * domain needs (hashes, checks) before deciding: `planCommand` says which.
 */
export type CommandInput =
  | Extract<
      UserCommand,
      {
        type:
          | "UpdateUser"
          | "DeleteUser"
          | "CorrectUser"
          | "EraseUser"
          | "SuspendUser"
          | "ReactivateUser"
          | "RestoreUser"
          // Only the object itself sends this one, after a login with an imported hash.
          | "RehashPassword";
      }
    >
  | { type: "CreateUser"; username: string; email: string; first_name: string; last_name: string; password: string }
  | { type: "ChangePassword"; current_password: string; new_password: string }
  | { type: "RevertUser"; to: RevertTarget; reason: string };

/**
 * What a plan is made for: the input, with a revert's target already read from the stream (the
 * state it names, `then`), which the object does before planning (a read of its own storage).
 */
export type PlanInput = Exclude<CommandInput, { type: "RevertUser" }> | Extract<UserCommand, { type: "RevertUser" }>;

/** Settings the decider needs; they come from configuration, never from the environment directly. */
export interface Policy {
  passwordMinLength: number;
  hashingMethod: string;
}

/** The expected "no" answers of the domain: values, so they cross RPC intact. */
export type Rejection =
  // `rule` names the field rule broken; the reference's names where it has the rule (username_too_short …).
  | { code: "ValidationFailed"; field: string; rule: string; message: string; details: Record<string, unknown> }
  | { code: "BusinessRuleViolated"; rule: string; message: string }
  | { code: "UserNotFound"; message: string }
  | { code: "UserAlreadyExists"; message: string }
  | { code: "IncorrectPassword"; message: string };

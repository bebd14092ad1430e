import type { PublicEvent } from "../domain/events";
import { changesOf, newUser, type UserFields } from "../domain/fields";
import type { PublicUser } from "../domain/user";
import type { UserRow } from "./schema";

/**
 * The `users` read model as a pure fold over redacted events: the row after `event`, given the row
 * before it (null before USER_CREATED). What each event changes is the domain's (`newUser`,
 * `changesOf`, as `evolve` applies it); this only renames it to the row's columns. Unknown or
 * out-of-place events leave the row as it was, with its revision advanced: a projection never
 * rejects an event.
 */
export function projectUser(row: UserRow | null, event: PublicEvent): UserRow | null {
  if (event.event_type === "USER_CREATED") return { ...toRow(newUser(event)), revision: event.revision };
  if (!row) return null;
  // The row stays after an erasure, as a tombstone: its revision keeps redelivered old events from
  // resurrecting it. A row projected before `tokensValidFrom` existed keeps null until a revoking event.
  return { ...row, ...toRow(changesOf(event, row.deletedAt)), revision: event.revision };
}

/**
 * Each field of the user as the row names it: the drizzle key (the SQL column keeps the field's
 * name). The one place the two namings meet; `satisfies` checks each target is a column, and
 * `projectUser` building a whole `UserRow` from `newUser` checks no column is left out.
 */
const COLUMN = {
  id: "id",
  username: "username",
  email: "email",
  first_name: "firstName",
  last_name: "lastName",
  role: "role",
  status: "status",
  created_at: "createdAt",
  updated_at: "updatedAt",
  deleted_at: "deletedAt",
  last_login_at: "lastLoginAt",
  revision: "revision",
  tokens_valid_from: "tokensValidFrom",
} as const satisfies { [F in keyof UserFields | "revision"]: keyof UserRow };

type Field = keyof typeof COLUMN;
/** Fields under their column names, each optional where it was. */
type Columns<T> = { [F in keyof T as F extends Field ? (typeof COLUMN)[F] : never]: T[F] };

function toRow<T extends Partial<Record<Field, unknown>>>(fields: T): Columns<T> {
  const row: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(fields)) row[COLUMN[field as Field]] = value;
  return row as Columns<T>;
}

/** The contract's `User` from a row: the same `PublicUser` the user's object answers with. */
export function userView(row: UserRow): PublicUser {
  const { tokens_valid_from: _bookkeeping, ...view } = fromRow(row);
  return view;
}

function fromRow(row: UserRow): { [F in Field]: UserRow[(typeof COLUMN)[F]] } {
  const fields: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(COLUMN)) fields[field] = row[column];
  return fields as { [F in Field]: UserRow[(typeof COLUMN)[F]] };
}

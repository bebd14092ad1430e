import type { User } from "../api";
import { StatusBadge, Time } from "../components";

const FIELDS = [
  ["username", "Username"],
  ["email", "Email"],
  ["first_name", "First name"],
  ["last_name", "Last name"],
  ["role", "Role"],
  ["status", "Status"],
  ["created_at", "Created"],
  ["updated_at", "Last change"],
  ["deleted_at", "Deleted"],
] as const satisfies readonly (readonly [keyof User, string])[];

/**
 * The user's fields; with `previous`, the ones that differ from it are marked (not by colour alone).
 * A creation (`previous` null) has nothing to compare with, so nothing is marked.
 */
export function StateTable({ user, previous }: { user: User | null; previous: User | null | undefined }) {
  return (
    <dl class="state">
      {FIELDS.map(([field, label]) => {
        const value = user ? user[field] : null;
        const changed = user !== null && previous != null && previous[field] !== value;
        return (
          <div class={changed ? "field changed" : "field"} data-field={field}>
            <dt>
              {label}
              {changed && <span class="changed-tag"> changed</span>}
            </dt>
            <dd>
              {user === null ? (
                <span class="placeholder">…</span>
              ) : value === null || value === "" ? (
                <span class="none">—</span>
              ) : field === "status" ? (
                <StatusBadge status={String(value)} />
              ) : field.endsWith("_at") ? (
                <Time iso={String(value)} />
              ) : (
                String(value)
              )}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

import { STATE_SHAPE_VERSION, type UserState } from "../domain/user";

/**
 * A snapshot of the folded state every `every` events, tagged with the state's shape version. A
 * snapshot of another shape is ignored, so changing `evolve` never needs a data migration: the state
 * is rebuilt from the events and snapshotted again. Only the newest snapshot is kept.
 */
export function maybeSnapshot(sql: SqlStorage, before: number, state: UserState, every: number) {
  if (every <= 0 || Math.floor(state.revision / every) === Math.floor(before / every)) return;
  sql.exec(
    "INSERT OR REPLACE INTO snapshots (revision, shape, state) VALUES (?, ?, ?)",
    state.revision,
    STATE_SHAPE_VERSION,
    JSON.stringify(state),
  );
  sql.exec("DELETE FROM snapshots WHERE revision < ?", state.revision);
}

export function latestSnapshot(sql: SqlStorage): UserState | null {
  const row = sql
    .exec<{ state: string }>(
      "SELECT state FROM snapshots WHERE shape = ? ORDER BY revision DESC LIMIT 1",
      STATE_SHAPE_VERSION,
    )
    .toArray()[0];
  return row ? (JSON.parse(row.state) as UserState) : null;
}

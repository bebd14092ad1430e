import { acceptsToken, fold, initialState, type UserState } from "../domain/user";
import { readEvents, setMeta } from "./event-store";
import type { SelfCaller } from "./protocol";
import { createSchema, hasSchema, migrate, SCHEMA_STEPS } from "./schema";
import { latestSnapshot } from "./snapshots";

/**
 * One user's object as its modules see it: the platform's handles (state, environment), its
 * storage, whether it has any, whose stream it is, and the user's state. Every module of the object
 * takes it; they depend on each other only one way (commands, imports and logins hand their commits
 * to the publisher and the watchers; a login records itself as a command), and none on the object.
 */
export class StreamContext {
  readonly sql: SqlStorage;
  /**
   * Whether this object has storage. An object is created by its first committed event, never by a
   * read, a rejected command or a failed login: ids anyone can make up must not cost storage.
   */
  stored = false;
  userId: string | null = null;
  /** Whether the outbox held rows when the object woke: then its alarm must be there too. */
  outboxOnWake = false;
  /**
   * The user's state, folded on first use rather than on waking: a read of the stream (a rebuild, a
   * replay, an export) wakes many objects and needs none of it. Null until then.
   */
  private folded: UserState | null = initialState;

  constructor(
    readonly ctx: DurableObjectState,
    readonly env: Env,
  ) {
    this.sql = ctx.storage.sql;
  }

  /**
   * On waking: what storage holds, with its schema brought up to date. A stored object reads it in
   * one statement (`wakeState`) and writes nothing: a rebuild wakes every user's object only to read
   * its stream, and paid five statements per wake, a DDL (`CREATE TABLE IF NOT EXISTS`) among them.
   */
  load(): void {
    this.stored = hasSchema(this.sql);
    if (!this.stored) return;
    let woken = wakeState(this.sql);
    if (woken.applied < SCHEMA_STEPS) {
      migrate(this.sql);
      woken = wakeState(this.sql);
    }
    this.userId = woken.aggregate_id;
    this.outboxOnWake = woken.outbox === 1;
    if (this.userId) this.folded = null;
  }

  get current(): UserState {
    if (this.folded) return this.folded;
    const snapshot = latestSnapshot(this.sql) ?? initialState;
    this.folded = fold(readEvents(this.sql, this.userId!, snapshot.revision + 1), snapshot);
    return this.folded;
  }

  /**
   * Inside the transaction that appends the first events: the storage they create. Memory follows
   * in `committed`, once nothing in the transaction can fail any more.
   */
  prepareStorage(userId: string): void {
    if (!this.stored) createSchema(this.sql);
    if (!this.userId) setMeta(this.sql, "aggregate_id", userId);
  }

  /** The last step of a transaction that appended events: memory now matches storage. */
  committed(userId: string, next: UserState): void {
    this.stored = true;
    this.userId ??= userId;
    this.folded = next;
  }

  /**
   * Whether a caller acting on itself still holds: this very user (`actorId`), with the role its
   * token names, and not revoked since the token was issued.
   */
  acceptsSelf(actorId: string | null, caller: SelfCaller): boolean {
    const user = this.current.user;
    return !!user && user.id === actorId && user.role === caller.role && acceptsToken(user, caller.issuedAt);
  }

  get erased(): boolean {
    return this.current.user?.status === "erased";
  }
}

/**
 * A stored object's wake in one statement: the schema steps applied, whose stream it is, whether its
 * outbox holds rows. `meta` and `outbox` exist wherever `_schema_migrations` does: `migrate` creates
 * it and applies the first step, which creates them, in one synchronous call (one transaction).
 */
function wakeState(sql: SqlStorage) {
  return sql
    .exec<{ applied: number; aggregate_id: string | null; outbox: number }>(
      `SELECT (SELECT COUNT(*) FROM _schema_migrations) AS applied,
              (SELECT value FROM meta WHERE key = 'aggregate_id') AS aggregate_id,
              EXISTS (SELECT 1 FROM outbox) AS outbox`,
    )
    .one();
}

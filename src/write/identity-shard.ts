import { DurableObject } from "cloudflare:workers";
import { userStream } from "../objects";
import { PENDING_MS, type LegacyClaim } from "./identity-registry";

/** Which shard an object is, and how many there are: every call says so, so a changed count is refused. */
export interface ShardAddress {
  index: number;
  count: number;
}

/** A claim's answer: the claimed key and whether `owner` now holds it. */
export interface ClaimOutcome {
  key: string;
  won: boolean;
}

interface Row extends Record<string, SqlStorageValue> {
  owner: string;
  claimed_at: number;
}

/**
 * Many unique keys (`username:<skeleton>`, `email:<lower>`) in one object, each with the rule of the
 * per-key `IdentityRegistry` it replaces (docs/decisions/0023-sharded-identity-registry.md): a
 * claim by someone else is honoured while its owner holds the identity in its stream, or while it
 * is younger than PENDING_MS. A key lands here by `shardOf` (identity-shards.ts); the claims of one
 * command or one import call for this shard come in one call.
 *
 * Migration: until the one-off copy has set `copied`, a key this shard has no row for may still be
 * claimed in its old per-key object: that claim is adopted before the key is answered.
 */
export class IdentityShard extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  private ready: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // No `PRAGMA secure_delete`: Durable Object SQLite refuses it (SQLITE_AUTH). A forgotten key's
    // bytes may stay on a free page until SQLite reuses it (docs/decisions/0023).
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, claimed_at INTEGER NOT NULL) WITHOUT ROWID",
    );
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS shard (id INTEGER PRIMARY KEY CHECK (id = 1), shard_count INTEGER NOT NULL, copied INTEGER NOT NULL)",
    );
  }

  /**
   * Claims each key for its owner, all in this one call: whether each owner won its key, in order.
   * An import request claims for many owners at once, so one key may come twice: its claims run one
   * after the other (side by side, both would read "free" before either wrote), the others alongside.
   */
  async claimMany(at: ShardAddress, claims: { key: string; owner: string }[]): Promise<ClaimOutcome[]> {
    await this.check(at);
    const won = new Array<boolean>(claims.length);
    const byKey = new Map<string, number[]>();
    claims.forEach(({ key }, i) => byKey.set(key, [...(byKey.get(key) ?? []), i]));
    // One key's wait for its owner's stream must not hold back the others.
    await Promise.all(
      [...byKey].map(async ([key, indexes]) => {
        for (const i of indexes) won[i] = await this.claim(key, claims[i]!.owner);
      }),
    );
    return claims.map(({ key }, i) => ({ key, won: won[i]! }));
  }

  /** Who holds the key now, according to the owner's own stream; null when nobody does. */
  async holder(at: ShardAddress, key: string): Promise<string | null> {
    await this.check(at);
    const current = await this.current(key);
    if (!current) return null;
    return (await this.ownerHolds(current.owner, key)) ? current.owner : null;
  }

  /**
   * The owner no longer needs these keys. Only marked expired, not removed: whoever claims next
   * still asks the owner, so a release sent by mistake cannot hand out a key someone holds.
   */
  async releaseMany(at: ShardAddress, keys: string[], owner: string): Promise<void> {
    await this.check(at);
    for (const key of keys) this.sql.exec("UPDATE claims SET claimed_at = 0 WHERE key = ? AND owner = ?", key, owner);
  }

  /** After the owner's erasure: its rows go. Others' claims on the same keys stay. */
  async forgetMany(at: ShardAddress, keys: string[], owner: string): Promise<void> {
    await this.check(at);
    for (const key of keys) this.sql.exec("DELETE FROM claims WHERE key = ? AND owner = ?", key, owner);
  }

  /**
   * The one-off copy (src/admin/identity-migration.ts): each live user's keys, as its stream holds
   * them. A key with a row keeps it (the row's owner is asked on every contested claim anyway); one
   * without takes its old object's claim, or, when that is missing, an expired claim by the holder.
   */
  async adoptMany(at: ShardAddress, held: { key: string; owner: string }[]): Promise<number> {
    await this.check(at);
    let written = 0;
    for (const { key, owner } of held) {
      if (this.row(key)) continue;
      written++;
      // A zero claimed_at is an expired claim: the holder's stream is asked before anyone takes it.
      if (!(await this.current(key))) this.insert(key, owner, 0);
    }
    return written;
  }

  /** The copy has run: a key without a row is nobody's, the old objects are no longer asked. */
  async markCopied(at: ShardAddress): Promise<void> {
    await this.check(at);
    this.sql.exec("UPDATE shard SET copied = 1");
  }

  /** The shard count this shard's keys were placed with, recorded by the first call (shard 0 is asked by the others). */
  agreeOnCount(count: number): number {
    const recorded = this.recordedCount();
    if (recorded !== null) return recorded;
    this.sql.exec("INSERT INTO shard (id, shard_count, copied) VALUES (1, ?, 0)", count);
    return count;
  }

  private async claim(key: string, owner: string): Promise<boolean> {
    const current = await this.current(key);
    if (!current || current.owner === owner) {
      this.insert(key, owner, Date.now());
      return true;
    }
    if (Date.now() - current.claimed_at < PENDING_MS) return false;
    if (await this.ownerHolds(current.owner, key)) return false;
    // The await let other claims in: take over only if nobody did meanwhile.
    const now = this.row(key);
    if (now?.owner !== current.owner || now.claimed_at !== current.claimed_at) return now?.owner === owner;
    this.insert(key, owner, Date.now());
    return true;
  }

  /** The key's claim; before the copy, a key without a row adopts its old object's claim first. */
  private async current(key: string): Promise<Row | undefined> {
    const row = this.row(key);
    if (row || this.copied()) return row;
    const legacy: LegacyClaim | null = await this.env.IDENTITY_REGISTRY.getByName(key).claimOf();
    // The await let other calls in: one of them may have written the key (or adopted it) meanwhile.
    const now = this.row(key);
    if (now || !legacy) return now;
    this.insert(key, legacy.owner, legacy.claimed_at);
    return this.row(key);
  }

  private row(key: string): Row | undefined {
    return this.sql.exec<Row>("SELECT owner, claimed_at FROM claims WHERE key = ?", key).toArray()[0];
  }

  private insert(key: string, owner: string, claimedAt: number) {
    this.sql.exec(
      "INSERT INTO claims (key, owner, claimed_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, claimed_at = excluded.claimed_at",
      key,
      owner,
      claimedAt,
    );
  }

  private copied(): boolean {
    return this.sql.exec<{ copied: number }>("SELECT copied FROM shard").toArray()[0]?.copied === 1;
  }

  private recordedCount(): number | null {
    return this.sql.exec<{ shard_count: number }>("SELECT shard_count FROM shard").toArray()[0]?.shard_count ?? null;
  }

  /**
   * Keys are placed by the count: a different one would look for them in the wrong shard and hand
   * out taken names, so every call is refused until the configuration is put back. A shard that
   * never recorded one takes shard 0's (which records the first it is told).
   */
  private async check(at: ShardAddress): Promise<void> {
    let recorded = this.recordedCount();
    if (recorded === null) {
      this.ready ??= this.record(at).finally(() => (this.ready = null));
      await this.ready;
      recorded = this.recordedCount();
    }
    if (recorded !== at.count) {
      throw new Error(
        `IDENTITY_SHARDS is ${at.count} but the claims were placed over ${recorded} shards: put it back (docs/operations.md)`,
      );
    }
  }

  private async record(at: ShardAddress): Promise<void> {
    const count =
      at.index === 0 ? at.count : await this.env.IDENTITY_SHARDS.getByName(shardName(0)).agreeOnCount(at.count);
    if (this.recordedCount() === null) this.agreeOnCount(count);
  }

  private ownerHolds(owner: string, key: string): Promise<boolean> {
    return userStream(this.env, owner).holdsIdentity(key);
  }
}

/** The name of shard `index`; the count is not in it, so a changed count reaches the same objects and is refused. */
export const shardName = (index: number) => `identity-shard-${index}`;

import { DurableObject } from "cloudflare:workers";
import { userStream } from "../objects";

/**
 * Superseded by the sharded registry (identity-shard.ts, docs/decisions/0023): kept readable so the
 * shards adopt claims made here before the switch, and so an erasure forgets what is still here.
 *
 * One object per unique key (`username:alice`, `email:a@x.io`): exactly one user may hold it, so
 * concurrent claims are serialised here. The user's stream is the truth; a claim is only a
 * reservation. A claim by someone else is honoured while its owner holds the identity in its stream,
 * or while it is younger than PENDING_MS (the owner may be appending right now). Past that, a crash
 * between claim and append, a delete, or an email change with a lost release cannot block the key.
 */
export const PENDING_MS = 10_000;

interface Claim extends Record<string, SqlStorageValue> {
  owner: string;
  claimed_at: number;
}

/** An old object's claim, as the sharded registry adopts it (identity-shard.ts). */
export interface LegacyClaim {
  owner: string;
  claimed_at: number;
}

export class IdentityRegistry extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  /** The table exists only once a claim was made: looking up a name nobody claimed stores nothing. */
  private stored = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.stored =
      this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'claim'").one().n > 0;
  }

  async claim(key: string, owner: string): Promise<boolean> {
    const current = this.current();
    if (!current || current.owner === owner) {
      this.write(owner);
      return true;
    }
    if (Date.now() - current.claimed_at < PENDING_MS) return false;
    if (await this.ownerHolds(current.owner, key)) return false;
    // The await let other claims in: take over only if nobody did meanwhile.
    const now = this.current();
    if (now?.owner !== current.owner || now.claimed_at !== current.claimed_at) return now?.owner === owner;
    this.write(owner);
    return true;
  }

  /** Who holds the key now, according to the owner's own stream; null when nobody does. */
  async holder(key: string): Promise<string | null> {
    const current = this.current();
    if (!current) return null;
    return (await this.ownerHolds(current.owner, key)) ? current.owner : null;
  }

  /**
   * The claim as stored, for the sharded registry that replaces these objects to adopt: read only,
   * so asking an object nobody claimed still stores nothing.
   */
  claimOf(): LegacyClaim | null {
    const current = this.current();
    return current ? { owner: current.owner, claimed_at: current.claimed_at } : null;
  }

  /**
   * The owner no longer needs the key. The claim is only marked expired, not removed: whoever claims
   * next still asks the owner, so a release sent by mistake cannot hand out a key someone holds.
   */
  release(owner: string): void {
    if (this.stored) this.sql.exec("UPDATE claim SET claimed_at = 0 WHERE owner = ?", owner);
  }

  /**
   * After the owner's erasure: nothing of the claim stays (this object's name derives from the
   * erased username or email). Only the owner's own claim is forgotten.
   */
  async forget(owner: string): Promise<void> {
    if (this.current()?.owner !== owner) return;
    await this.ctx.storage.deleteAll();
    this.stored = false;
  }

  private current(): Claim | undefined {
    if (!this.stored) return undefined;
    return this.sql.exec<Claim>("SELECT owner, claimed_at FROM claim").toArray()[0];
  }

  private write(owner: string) {
    if (!this.stored) {
      this.sql.exec(
        "CREATE TABLE IF NOT EXISTS claim (id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL, claimed_at INTEGER NOT NULL)",
      );
      this.stored = true;
    }
    this.sql.exec(
      "INSERT INTO claim (id, owner, claimed_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, claimed_at = excluded.claimed_at",
      owner,
      Date.now(),
    );
  }

  private ownerHolds(owner: string, key: string): Promise<boolean> {
    return userStream(this.env, owner).holdsIdentity(key);
  }
}

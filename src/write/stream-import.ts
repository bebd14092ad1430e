import { config } from "../config";
import { createdByImport, lift, planImport, type StoredEvent } from "../domain/import";
import { heldBy, identitiesToFree } from "../domain/plan";
import { isGone, type UserState } from "../domain/user";
import { log } from "../observability";
import { PENDING_MS } from "./identity-registry";
import { append, destroyPersonalData, outboxIsEmpty, readEvents, setMeta, storedIds } from "./event-store";
import { claimAll, forgetAll, releaseAll, services, type Field, type Services } from "./prepare";
import type { ImportOptions, ImportResult } from "./protocol";
import { forgetConfirmed, republishImportsAfter } from "./outbox";
import { IMPORT_SAFETY_NET_MS, type Publisher } from "./publisher";
import type { PublicEvent } from "../domain/events";
import { readDatabaseOf } from "../shards";
import { announce } from "./ledger";
import { publicEvents } from "./stream-reads";
import { maybeSnapshot } from "./snapshots";
import type { StreamContext } from "./stream-context";
import type { StreamWatchers } from "./stream-watchers";

/**
 * A stream up to this long, and this large as JSON, comes back in the import's answer (an RPC's
 * answer holds 32 MiB; an event is about 1 KB, but the gate lets much larger ones through).
 */
export const IMPORT_RETURNS_STREAM_UP_TO = 1_000;
const IMPORT_RETURNS_STREAM_BYTES = 4_000_000;

/**
 * Imports one user's events with their ids, revisions and times. Events the stream holds are
 * skipped; a conflict or a gap rejects them all. The username and email the user ends up holding
 * are claimed in the registry (one call per shard) like any command's (a deleted user holds none), and the events
 * are appended with their outbox rows in one transaction. Nothing is sent to the queue: the import
 * request projects the users it imported itself, from the streams these calls return, and
 * announces and confirms them in the same D1 transaction (src/admin/import.ts, decision 0029). The
 * rows are written marked sent, so the alarm (minutes out) only reads the confirmation and forgets
 * them, or, if the request died before projecting, re-publishes them through the queue.
 * What the registries let go afterwards is the domain's `identitiesToFree`, as after a command: an
 * imported erasure forgets the erased user's names, it does not merely release them.
 */
export class StreamImport {
  constructor(
    private readonly stream: StreamContext,
    private readonly publisher: Publisher,
    private readonly watchers: StreamWatchers,
  ) {}

  async run(events: StoredEvent[], options: ImportOptions = { ontoExisting: false }): Promise<ImportResult> {
    const userId = events[0]?.aggregate_id;
    if (!userId || events.some((event) => event.aggregate_id !== userId)) throw new Error("one user per import call");
    const io = services(this.stream.env);
    const result = await this.importOnce(userId, events, options, io);
    // Keys the request claimed that the user does not hold after all (refused, or the stream held
    // more than the request knew) are let go, as a command's claims are when it does not commit;
    // forgotten if the user is erased (an export from before the erasure: the keys are its data).
    const claimed = options.claimed?.keys ?? [];
    if (claimed.length > 0) {
      const current = this.stream.current;
      const leftover = identitiesToFree(claimed, current, current).release;
      const erased = this.stream.erased;
      await free(io, userId, erased ? { release: [], forget: leftover } : { release: leftover, forget: [] });
    }
    return result;
  }

  private async importOnce(
    userId: string,
    events: StoredEvent[],
    options: ImportOptions,
    io: Services,
  ): Promise<ImportResult> {
    // Claims await, which lets other requests in: the transaction plans again and redoes a stale claim.
    for (let attempt = 0; attempt < 3; attempt++) {
      const plan = this.plan(events, options);
      if (!plan.ok) return { ok: false, error: plan.error, eventId: plan.event.id };
      if (plan.append.length === 0) return { ok: true, imported: 0, skipped: plan.skipped, stream: null };
      const keys = heldBy(plan.after);
      // The request's claim, if it is this plan's and young enough that no one can have taken it
      // over (a reservation lasts PENDING_MS; the commit follows in this same turn).
      const preclaimed = options.claimed;
      const usable =
        attempt === 0 &&
        preclaimed !== undefined &&
        Date.now() - preclaimed.at < PENDING_MS / 2 &&
        sameKeys(keys, preclaimed.keys);
      const claims = usable ? { ok: true as const, keys } : await claimAll(io, userId, identities(plan.after));
      if (!claims.ok) {
        const taken = claims.rejection.code === "IdentityTaken" ? claims.rejection : null;
        const by = plan.append.findLast((event) => taken && lift(event).data[taken.field as never] === taken.value);
        const error = taken ? `${taken.field} '${taken.value}' is taken by another user` : "identity not available";
        return { ok: false, error, eventId: (by ?? plan.append[0]!).id };
      }
      const before = this.stream.current;
      const outcome = this.stream.ctx.storage.transactionSync(() => {
        const now = this.plan(events, options);
        if (!now.ok || !sameKeys(heldBy(now.after), keys)) return "stale" as const;
        this.stream.prepareStorage(userId);
        const at = Date.now();
        const outboxWasEmpty = outboxIsEmpty(this.stream.sql);
        for (const event of now.append) {
          // As a command's erasure: what the stream already held of the user goes before the tombstone.
          if (event.event_type === "USER_ERASED") destroyPersonalData(this.stream.sql, userId);
          // Marked sent: the request projects them; the alarm re-publishes them if it did not.
          append(this.stream.sql, event, at, at);
        }
        this.publisher.armIfFirst(outboxWasEmpty, at, IMPORT_SAFETY_NET_MS);
        republishImportsAfter(this.stream.sql, IMPORT_SAFETY_NET_MS);
        maybeSnapshot(this.stream.sql, before.revision, now.after, config(this.stream.env).SNAPSHOT_EVERY);
        this.stream.committed(userId, now.after);
        const admin = adminBrought(now.append, now.after);
        return { ok: true as const, imported: now.append.length, skipped: now.skipped, ...(admin && { admin }) };
      });
      if (outcome === "stale") {
        await free(io, userId, identitiesToFree(claims.keys, this.stream.current, this.stream.current));
        continue;
      }
      // Onto a stream that was already there: its tokens are checked in the read model against the
      // announced revision (decision 0018), so an imported event that revokes them is announced
      // before the answer, as a command's is before its publish. A new user holds no token yet.
      // Best effort: the request's own D1 batch announces it too, right after.
      if (before.revision > 0) {
        const db = readDatabaseOf(this.stream.env, userId);
        await announce(db, userId, this.stream.current.revision, Date.now()).catch((error: unknown) =>
          log("warn", "import: announcing onto an existing stream failed", { user_id: userId, error: String(error) }),
        );
      }
      // Watchers see imported events like any others, as stored.
      this.watchers.deliver(readEvents(this.stream.sql, userId, before.revision + 1));
      // Names the user held before and no longer does (deleted, email changed) are free again; an
      // erasure's are forgotten (the keys are personal data: no registry row of them may stay).
      await free(io, userId, identitiesToFree(claims.keys, before, this.stream.current));
      return { ...outcome, stream: this.returnedStream() };
    }
    return { ok: false, error: "the user's stream kept changing during the import; retry", eventId: null };
  }

  /** The request's projection committed through `revision`: see `UserStreamRpc.importConfirmed`. */
  confirmed(revision: number): Promise<void> {
    // The request registered the user in the directory before it projected: later flushes need not.
    // (Not before this: a request that died first leaves that to the next flush or re-publication.)
    setMeta(this.stream.sql, "registered", "1");
    return forgetConfirmed(this.stream.ctx, revision);
  }

  /** The whole stream for the request to project, when short enough to come back in the answer. */
  private returnedStream(): PublicEvent[] | null {
    const head = this.stream.current.revision;
    if (head > IMPORT_RETURNS_STREAM_UP_TO) return null;
    const stream = publicEvents(this.stream, 1, head);
    // An RPC's answer is bounded (32 MiB): a stream of large events is read by the request instead.
    return JSON.stringify(stream).length <= IMPORT_RETURNS_STREAM_BYTES ? stream : null;
  }

  private plan(events: StoredEvent[], options: ImportOptions) {
    const stored = this.stream.stored;
    const { storedIdAt, revisionOfId } = stored
      ? storedIds(this.stream.sql, events)
      : { storedIdAt: new Map<number, string>(), revisionOfId: new Map<string, number>() };
    const userId = events[0]!.aggregate_id;
    const first = stored && this.stream.current.revision > 0 ? readEvents(this.stream.sql, userId, 1, 1)[0] : undefined;
    const target = { createdByImport: createdByImport(first), ontoExisting: options.ontoExisting };
    return planImport(this.stream.current, events, storedIdAt, revisionOfId, target);
  }
}

/** The user, if these events created it as an admin (by its name after them). */
function adminBrought(append: StoredEvent[], after: UserState): { user_id: string; username: string } | null {
  // No event changes a role: the user is an admin after the import exactly if it was created one.
  const created = append.some((event) => event.event_type === "USER_CREATED");
  if (!created || after.user?.role !== "admin") return null;
  return { user_id: after.user.id, username: after.user.username };
}

/** The username and email a user holds: none once deleted or erased. */
function identities(state: UserState): [Field, string][] {
  const user = state.user;
  if (!user || isGone(user)) return [];
  return [
    ["username", user.username],
    ["email", user.email],
  ];
}

async function free(io: Services, userId: string, keys: { release: string[]; forget: string[] }): Promise<void> {
  await Promise.all([releaseAll(io, userId, keys.release), forgetAll(io, userId, keys.forget)]);
}

const sameKeys = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((key) => b.includes(key));

import { config } from "../config";
import { createdByImport, lift, planImport, type StoredEvent } from "../domain/import";
import { heldBy, identitiesToFree } from "../domain/plan";
import { isGone, type UserState } from "../domain/user";
import { append, destroyPersonalData, outboxIsEmpty, readEvents, storedIds } from "./event-store";
import { claimAll, forgetAll, releaseAll, services, type Field, type Services } from "./prepare";
import type { ImportOptions, ImportResult } from "./protocol";
import { republishImportsAfter } from "./outbox";
import { IMPORT_SAFETY_NET_MS, type Publisher } from "./publisher";
import { maybeSnapshot } from "./snapshots";
import type { StreamContext } from "./stream-context";
import type { StreamWatchers } from "./stream-watchers";

/**
 * Imports one user's events with their ids, revisions and times. Events the stream holds are
 * skipped; a conflict or a gap rejects them all. The username and email the user ends up holding
 * are claimed in the registry (one call per shard) like any command's (a deleted user holds none), and the events
 * are appended with their outbox rows in one transaction, published before the answer; the import
 * request projects them right after (src/admin/import.ts), and the queue's messages only confirm.
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
    // Claims await, which lets other requests in: the transaction plans again and redoes a stale claim.
    for (let attempt = 0; attempt < 3; attempt++) {
      const plan = this.plan(events, options);
      if (!plan.ok) return { ok: false, error: plan.error, eventId: plan.event.id };
      if (plan.append.length === 0) return { ok: true, imported: 0, skipped: plan.skipped };
      const claims = await claimAll(io, userId, identities(plan.after));
      if (!claims.ok) {
        const taken = claims.rejection.code === "IdentityTaken" ? claims.rejection : null;
        const by = plan.append.findLast((event) => taken && lift(event).data[taken.field as never] === taken.value);
        const error = taken ? `${taken.field} '${taken.value}' is taken by another user` : "identity not available";
        return { ok: false, error, eventId: (by ?? plan.append[0]!).id };
      }
      const before = this.stream.current;
      const outcome = this.stream.ctx.storage.transactionSync(() => {
        const now = this.plan(events, options);
        if (!now.ok || !sameKeys(heldBy(now.after), heldBy(plan.after))) return "stale" as const;
        this.stream.prepareStorage(userId);
        const at = Date.now();
        const outboxWasEmpty = outboxIsEmpty(this.stream.sql);
        for (const event of now.append) {
          // As a command's erasure: what the stream already held of the user goes before the tombstone.
          if (event.event_type === "USER_ERASED") destroyPersonalData(this.stream.sql, userId);
          append(this.stream.sql, event, at);
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
      this.publisher.afterCommit(null);
      // Announced (and sent) before the answer: the import request projects these users itself
      // right after (src/admin/import.ts), and its confirmation needs the announce to confirm.
      await this.publisher.published();
      // Watchers see imported events like any others, as stored.
      this.watchers.deliver(readEvents(this.stream.sql, userId, before.revision + 1));
      // Names the user held before and no longer does (deleted, email changed) are free again; an
      // erasure's are forgotten (the keys are personal data: no registry row of them may stay).
      await free(io, userId, identitiesToFree(claims.keys, before, this.stream.current));
      return outcome;
    }
    return { ok: false, error: "the user's stream kept changing during the import; retry", eventId: null };
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

const sameKeys = (a: string[], b: string[]) => a.length === b.length && a.every((key) => b.includes(key));

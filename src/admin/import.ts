import { importLine, type StoredEvent } from "../domain/import";
import type { ImportReport } from "./schemas";
import { userStream } from "../objects";
import { MAX_JSON_DEPTH, tooDeepAt } from "../http/json-depth";
import { ownersOfEvents } from "../read/audit-log";
import type { ImportOptions } from "../write/protocol";
import { reapplyOnImport } from "../domain/erasure-ledger";
import { erasedAmong } from "../read/erasures";
import { projectStreams, readWholeStream } from "../read/replay";
import { PROJECTIONS } from "../read/projections";
import { leavePreviousPlaces } from "../read/reshard";
import type { PublicEvent } from "../domain/events";
import { feedGrew } from "../read/wake-subscriptions";
import { registerAll } from "../write/user-directory";
import { claimForImport } from "./import-claims";
import { log } from "../observability";

/** One request carries at most this many lines (the CLI splits bigger files) and this many bytes. */
export const IMPORT_MAX_LINES = 5_000;
export const IMPORT_MAX_BYTES = 8 * 1024 * 1024;
/**
 * Users imported at once within a request, and projected in one D1 batch: each is one call to the
 * user's own object, their names claimed for all of them first (one call per registry shard).
 * Locally the import is bound by the one workerd thread creating objects (a fresh SQLite database
 * each), so more in flight helps only while that thread waits (BENCHMARKS.md, "Import"); in
 * production the objects live on many machines and the calls overlap.
 */
const USERS_PER_STEP = 100;

export type RejectedLine = ImportReport["rejected"][number];

interface UserLines {
  lines: number[];
  events: StoredEvent[];
  /** Why the user's lines are not imported, decided before its object is asked. */
  rejectedAt: RejectedLine | null;
}

/**
 * `POST /admin/import`: each line becomes an event (or a rejection with its line number); each
 * user's events go to the user's own object in one call, which imports them all or none. A rejected
 * user never blocks another. Line numbers count from 1 within the request body. An event id is one
 * event of one user: a user whose lines carry an id another user's lines (in this request) or stream
 * (as the audit log knows it) hold is rejected. Admins the import creates are named in the answer.
 */
export async function importNdjson(
  env: Env,
  body: string,
  importRequestId: string,
  options: ImportOptions = { ontoExisting: false },
): Promise<ImportReport> {
  const lines = body.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const report: ImportReport = { imported: 0, skipped: 0, rejected: [], admins: [] };
  const users = new Map<string, UserLines>();
  const context = { importRequestId, instant };
  lines.forEach((text, index) => {
    const line = index + 1;
    if (text.trim() === "") return;
    // Parsed values are walked recursively further on (the gate, the object's RPC): bound them first.
    if (tooDeepAt(text) !== null) {
      report.rejected.push({
        line,
        aggregate_id: null,
        error: `malformed line: nested deeper than ${MAX_JSON_DEPTH} levels`,
      });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      report.rejected.push({ line, aggregate_id: null, error: "malformed line: not JSON" });
      return;
    }
    const userId = aggregateIdOf(value);
    const user = userId === null ? null : (users.get(userId) ?? { lines: [], events: [], rejectedAt: null });
    if (user && userId) users.set(userId, user);
    const result = importLine(value, context);
    if (!result.ok) {
      const rejected = { line, aggregate_id: userId, error: result.error };
      if (user) {
        user.lines.push(line);
        user.rejectedAt ??= rejected;
      } else report.rejected.push(rejected);
      return;
    }
    user!.lines.push(line);
    user!.events.push(result.event);
  });

  await rejectSharedEventIds(env, users);
  await reapplyErasures(env, users, importRequestId);

  for (const [userId, user] of users)
    if (user.rejectedAt) report.rejected.push(...rejectAll(userId, user, user.rejectedAt));
  const ready = [...users].filter(([, user]) => !user.rejectedAt);
  // A step at a time, as a rebuild step: its claims stay fresh until its objects use them, and the
  // request holds no more than one step's streams (decision 0029).
  for (let i = 0; i < ready.length; i += USERS_PER_STEP) await importStep(ready.slice(i, i + USERS_PER_STEP));
  report.rejected.sort((a, b) => a.line - b.line);
  report.admins.sort((a, b) => a.user_id.localeCompare(b.user_id));
  return report;

  async function importStep(step: [string, UserLines][]): Promise<void> {
    const claimed = await claimForImport(
      env,
      step.map(([userId, user]) => [userId, user.events] as const),
    );
    const imported: ImportedStream[] = [];
    await Promise.all(
      step.map(async ([userId, user]) => {
        const rejectedAt = await importUser(userId, user, claimed.get(userId), imported);
        if (rejectedAt) report.rejected.push(...rejectAll(userId, user, rejectedAt));
      }),
    );
    await projectImported(env, imported);
  }

  async function importUser(
    userId: string,
    user: UserLines,
    claimed: ImportOptions["claimed"],
    imported: ImportedStream[],
  ): Promise<RejectedLine | null> {
    let result;
    try {
      result = await userStream(env, userId).importEvents(user.events, { ...options, claimed });
    } catch (error) {
      // One user's failure is its own: the others of the step are still imported and projected.
      log("error", "import: a user's object failed", { user_id: userId, error: String(error) });
      const reason = `not imported: the user's object failed (${String(error)}); import the file again, it skips what is stored`;
      return { line: user.lines[0]!, aggregate_id: userId, error: reason };
    }
    if (result.ok) {
      if (result.imported > 0) imported.push({ userId, stream: result.stream });
      report.imported += result.imported;
      report.skipped += result.skipped;
      if (result.admin) report.admins.push(result.admin);
      return null;
    }
    const at = user.events.findIndex((event) => event.id === result.eventId);
    return { line: user.lines[at] ?? user.lines[0]!, aggregate_id: userId, error: result.error };
  }
}

/** A user this request imported, with its stream when its object returned it. */
interface ImportedStream {
  userId: string;
  stream: PublicEvent[] | null;
}

/**
 * The read side of one step's imported users, written by the request itself from the streams
 * their objects returned (or read now, when too long to come back), as a rebuild step writes it
 * (only forward, the erasure ledger first, no mail), with each user's head announced and confirmed
 * in the same D1 transaction: nothing of an import goes through the queue (decision 0029). The
 * users are registered in the directory first, so a user the read side holds is always one a
 * rebuild finds; once committed, each object is told, so none wakes minutes later to ask. If this
 * fails, each object's alarm finds its events unconfirmed minutes later and re-publishes them
 * (registering the user) as after a lost message.
 */
async function projectImported(env: Env, imported: ImportedStream[]): Promise<void> {
  if (imported.length === 0) return;
  try {
    await registerAll(
      env,
      imported.map((s) => s.userId),
    );
    const streams = await Promise.all(
      imported.map(async ({ userId, stream }) => ({ userId, events: stream ?? (await readWholeStream(env, userId)) })),
    );
    await projectStreams(env, streams, PROJECTIONS, { announce: true });
    // Told at once, the objects need not wake minutes later to read the confirmation.
    const told = await Promise.allSettled(
      streams.map(({ userId, events }) => userStream(env, userId).importConfirmed(events.at(-1)?.revision ?? 0)),
    );
    const untold = told.filter((outcome) => outcome.status === "rejected").length;
    if (untold > 0) log("warn", "import: objects not told their confirmation; their alarms read it", { untold });
    // What the queue's consumer does after a batch that holds these events: a user moved by a
    // re-shard leaves its old database (decision 0027), the held deliveries of erased users are
    // forgotten, the subscriptions told the feed grew (never the mail).
    await leavePreviousPlaces(
      env,
      streams.map((s) => s.userId),
    );
    await feedGrew(env, streams, { mail: false });
  } catch (error) {
    log("warn", "import: projecting in the request failed; the objects' alarms re-publish the users", {
      users: imported.length,
      error: String(error),
    });
  }
}

/**
 * An event's id names one event of one user (the audit log is keyed by it): users whose lines carry
 * an id that another user's lines carry, or that the audit log holds for another user, are rejected
 * at that line. Events imported but not yet projected are not in the audit log: two requests racing
 * with one id for two users are not caught here (docs/import-export.md).
 */
async function rejectSharedEventIds(env: Env, users: Map<string, UserLines>): Promise<void> {
  const usersOf = new Map<string, Set<string>>();
  for (const [userId, user] of users) {
    for (const event of user.events) usersOf.set(event.id, (usersOf.get(event.id) ?? new Set()).add(userId));
  }
  const owners = await ownersOfEvents(env.DB, [...usersOf.keys()]);
  for (const [userId, user] of users) {
    if (user.rejectedAt) continue;
    user.events.some((event, i) => {
      const others = [...(usersOf.get(event.id) ?? [])].filter((id) => id !== userId);
      const owner = owners.get(event.id);
      if (owner !== undefined && owner !== userId) others.push(owner);
      if (others.length === 0) return false;
      const line = user.lines[i] ?? user.lines[0]!;
      const error = `event ${event.id} is already an event of another user (${others[0]}): an event id names one event`;
      user.rejectedAt = { line, aggregate_id: userId, error };
      return true;
    });
  }
}

/**
 * Users the erasure ledger lists as erased stay erased whatever the lines bring (an export taken
 * before the erasure, a restore of the user's object from one): their lines end with the ledger's
 * erasure, or they are refused with the reason (`reapplyOnImport`). Asked for every request: an
 * import never runs without the ledger's answer (docs/decisions/0022-erasure-ledger.md).
 */
async function reapplyErasures(env: Env, users: Map<string, UserLines>, importRequestId: string): Promise<void> {
  const erased = await erasedAmong(
    env,
    [...users].filter(([, user]) => !user.rejectedAt).map(([userId]) => userId),
  );
  for (const [userId, entry] of erased) {
    const user = users.get(userId)!;
    const result = reapplyOnImport(user.events, entry, importRequestId);
    if (result.ok) {
      user.events = result.events;
      continue;
    }
    const at = user.events.findIndex((event) => event.id === result.eventId);
    user.rejectedAt = { line: user.lines[at] ?? user.lines[0]!, aggregate_id: userId, error: result.error };
  }
}

/** Every line of a rejected user: the one at fault with its reason, the others pointing at it. */
function rejectAll(userId: string, user: UserLines, at: RejectedLine): RejectedLine[] {
  return user.lines.map((line) =>
    line === at.line
      ? at
      : { line, aggregate_id: userId, error: `not imported: line ${at.line} of the same user was rejected` },
  );
}

function aggregateIdOf(value: unknown): string | null {
  const id = (value as { aggregate_id?: unknown } | null)?.aggregate_id;
  return typeof id === "string" && id.length > 0 && id.length <= 64 ? id : null;
}

function instant(text: string): string | null {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

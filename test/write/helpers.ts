import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { EventMetadata } from "../../src/domain/events";
import type { StoredEvent } from "../../src/domain/import";
import { listDirectory } from "../../src/write/user-directory";
import type {
  CommandInput,
  CommandRequest,
  CommandResult,
  ImportOptions,
  WriteRejection,
} from "../../src/write/protocol";
import type { UserStream } from "../../src/write/user-stream";
import { createInput, type CreateInput } from "../support/builders";
import { append, setMeta, type EventTableRow } from "../../src/write/event-store";
import { migrate } from "../../src/write/schema";
import { shardFor } from "../../src/write/identity-shards";

/** Helpers for the Durable Object layer: commands go straight to `UserStream`, no HTTP in between. */

export type Stub = DurableObjectStub<UserStream>;

export function stubFor(userId: string): Stub {
  return env.USER_STREAM.getByName(userId);
}

export function metadata(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return {
    actor_id: null,
    actor_username: null,
    request_id: crypto.randomUUID(),
    idempotency_key: null,
    reason: null,
    ...overrides,
  };
}

/** Every user object a test sent a command to, so `settleAlarms` can run what they left pending. */
const touched = new Set<string>();
const holds = new Set<{ release(): void }>();

export function send(
  userId: string,
  input: CommandInput,
  extra: Partial<Omit<CommandRequest, "userId" | "input">> = {},
) {
  touched.add(userId);
  return stubFor(userId).execute({ userId, input, metadata: metadata(), ...extra });
}

/**
 * Stores events in their user's object as they are, past the import's gate: a stream written before
 * the gate existed (or by a bug), which the rest of the pipeline must still survive. As an import
 * leaves it: events, outbox rows, the alarm.
 */
export async function plantEvents(events: StoredEvent[]): Promise<void> {
  const userId = events[0]!.aggregate_id;
  touched.add(userId);
  await runInDurableObject(stubFor(userId), async (instance: UserStream, state) => {
    const sql = state.storage.sql;
    migrate(sql);
    for (const event of events) append(sql, event, Date.now());
    setMeta(sql, "aggregate_id", userId);
    (instance as unknown as { stream: { load(): void } }).stream.load();
    await state.storage.setAlarm(Date.now() + 5_000);
  });
}

/** Imports events into their user's object (all of one user), as `POST /admin/import` does. */
export function importInto(events: StoredEvent[], options?: ImportOptions) {
  const userId = events[0]!.aggregate_id;
  touched.add(userId);
  return stubFor(userId).importEvents(events, options);
}

/** Creates a user in its own object; fails the test unless it worked. */
export async function createUser(overrides: Partial<Omit<CreateInput, "type">> = {}) {
  const userId = crypto.randomUUID();
  const input = createInput(overrides);
  const result = await send(userId, input);
  if (!result.ok) throw new Error(`create failed: ${JSON.stringify(result.rejection)}`);
  return { userId, stub: stubFor(userId), username: input.username, email: input.email, revision: result.revision };
}

export function update(
  userId: string,
  fields: Omit<Extract<CommandInput, { type: "UpdateUser" }>, "type">,
  extra: Partial<Omit<CommandRequest, "userId" | "input">> = {},
) {
  return send(userId, { type: "UpdateUser", ...fields }, extra);
}

export function expectOk(result: CommandResult): Extract<CommandResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.rejection)}`);
  return result;
}

export function rejectionOf(result: CommandResult): WriteRejection {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  return result.rejection;
}

export type EventRow = EventTableRow;
import type { OutboxRow } from "../../src/write/event-store";
export type { OutboxRow };
export interface IdempotencyRow extends Record<string, SqlStorageValue> {
  key: string;
  fingerprint: string;
  result: string;
  created_at: number;
}
export interface MetaRow extends Record<string, SqlStorageValue> {
  key: string;
  value: string;
}
export type Row = Record<string, SqlStorageValue>;

export interface Tables {
  events: EventRow[];
  outbox: OutboxRow[];
  idempotency: IdempotencyRow[];
  meta: MetaRow[];
  /** Every table of the object (whatever the schema grows to), by name: for "nothing changed" checks. */
  all: Record<string, Row[]>;
}

/** Everything a command may write, read from the object's own SQLite in one go. */
export function tables(stub: Stub): Promise<Tables> {
  return runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    const names = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name",
      )
      .toArray()
      .map((row) => row.name);
    const all: Record<string, Row[]> = {};
    for (const name of names) all[name] = sql.exec<Row>(`SELECT * FROM "${name}" ORDER BY rowid`).toArray();
    // An object that never committed has no tables at all.
    const rows = <T extends Row>(table: string, order: string) =>
      names.includes(table) ? sql.exec<T>(`SELECT * FROM ${table} ORDER BY ${order}`).toArray() : [];
    return {
      events: rows<EventRow>("events", "revision"),
      outbox: rows<OutboxRow>("outbox", "revision"),
      idempotency: rows<IdempotencyRow>("idempotency", "key"),
      meta: rows<MetaRow>("meta", "key"),
      all,
    };
  });
}

/** Every password hash stored anywhere in the object, found by its format rather than by column. */
export function storedHashes(all: Record<string, Row[]>): string[] {
  const hashes = new Set<string>();
  for (const rows of Object.values(all)) {
    for (const row of rows) {
      for (const value of Object.values(row)) {
        if (typeof value !== "string") continue;
        for (const match of value.matchAll(/pbkdf2-sha256\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+/g))
          hashes.add(match[0]);
      }
    }
  }
  return [...hashes];
}

/** A queue that records what it is sent, as `flushOutbox` would hand it to Cloudflare Queues. */
export function recordingQueue(): { queue: Queue; batches: unknown[][] } {
  const batches: unknown[][] = [];
  const queue: Queue = {
    metrics: () => Promise.reject(new Error("not used by the outbox")),
    send: () => Promise.reject(new Error("not used by the outbox")),
    sendBatch: async (messages) => {
      batches.push([...messages].map((m) => m.body));
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
    },
  };
  return { queue, batches };
}

export async function revisions(stub: Stub): Promise<number[]> {
  return (await tables(stub)).events.map((row) => row.revision);
}

/**
 * Holds the object's outbox publisher: while held, the alarm that each command schedules (for "now")
 * only re-arms itself a minute later instead of publishing, so a test can look at the outbox before
 * the queue takes it. `release()` restores the real alarm; `runDurableObjectAlarm` then publishes.
 * Only valid until the object is evicted (the spy lives on the instance).
 */
export async function holdPublisher(stub: Stub): Promise<{ release(): void }> {
  const spies = await runInDurableObject(stub, (instance: UserStream, state) => [
    vi.spyOn(instance, "alarm").mockImplementation(async () => {
      await state.storage.setAlarm(Date.now() + 60_000);
    }),
    // The publish right after each commit (the object's private publisher), and its claim on the
    // rows it would send: held, the commits leave them unsent for the alarm.
    vi.spyOn(publisherOf(instance), "publishUnsent").mockResolvedValue(undefined),
    vi.spyOn(publisherOf(instance), "claims").mockReturnValue(false),
  ]);
  const hold = {
    release() {
      for (const spy of spies) spy.mockRestore();
      holds.delete(hold);
    },
  };
  holds.add(hold);
  return hold;
}

/** The object's private publisher, as the tests that hold or watch it see it. */
export function publisherOf(instance: UserStream): PublisherSeen {
  return (instance as unknown as { publisher: PublisherSeen }).publisher;
}
interface PublisherSeen {
  publishUnsent(): Promise<void>;
  claims(): boolean;
  running: Promise<void> | null;
}

/**
 * Waits until the publish that follows each commit has run and every outbox row is sent (a commit
 * marks its rows sent before the publish sends them, so the rows alone do not tell).
 */
export async function published(stub: Stub): Promise<void> {
  await vi.waitUntil(
    async () =>
      (await runInDurableObject(stub, (instance: UserStream) => publisherOf(instance).running === null)) &&
      (await tables(stub)).outbox.every((row) => row.sent_at !== null),
    { timeout: 5_000 },
  );
}

/** Runs the object's pending alarm now (if any), so it cannot run later in another test. */
export async function settleAlarm(stub: Stub): Promise<boolean> {
  return runDurableObjectAlarm(stub);
}

/**
 * Use in `afterEach`: releases every held publisher and runs each touched object's pending alarm
 * with `runDurableObjectAlarm`, so no outbox flush (or backoff retry) leaks into the next test.
 */
export async function settleAlarms(): Promise<void> {
  for (const hold of [...holds]) hold.release();
  const ids = [...touched];
  touched.clear();
  await Promise.all(ids.map((id) => runDurableObjectAlarm(stubFor(id))));
}

/** Whether the user directory lists `userId`, paging through every entry. */
export async function directoryHas(userId: string): Promise<boolean> {
  let after = "";
  for (;;) {
    const page = await listDirectory(env, after, 100);
    if (page.ids.includes(userId)) return true;
    const last = page.ids[page.ids.length - 1];
    if (last === undefined) return false;
    after = last;
  }
}

/** The rows the key's registry shard stores for it (the key itself, its owner, when claimed). */
export function claimRows(key: string): Promise<Row[]> {
  return runInDurableObject(shardFor(env, key).stub, (_instance, state) =>
    state.storage.sql.exec<Row>("SELECT key, owner, claimed_at FROM claims WHERE key = ?", key).toArray(),
  );
}

/** A queue that accepts every batch and delivers none: the local queue after a `kill -9`. */
export const blackHole: Queue = {
  metrics: () => Promise.reject(new Error("unused")),
  send: async () => ({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } }),
  sendBatch: async () => ({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } }),
};

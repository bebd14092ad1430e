// The benchmarks' entry point: the service as deployed, plus routes that exist only here.
// `POST /bench/append/{name}` is the platform's floor for a write: one RPC to a Durable Object
// and one SQLite insert, with no auth, validation, domain or outbox. A command's req/s over the
// floor's, measured in the same run, says how much of the command's cost is the service's own.
// `POST /bench/projected/{name}` is the floor for a write that reaches the read side: the same
// append, then one queue message, which this entry's own consumer writes to D1 in one statement
// per batch (queue `bench-floor`, table `bench_floor`): no ledger, no audit log, no checks.
// `POST /bench/outbox/{name}` is the floor of this architecture's write: the append and an outbox
// row in one transaction, the object's alarm armed when its outbox was empty (it clears the outbox
// 5 s later), then the queue message that the same consumer projects: what any command of an
// event-sourced object with an outbox pays here, before validation, auth, the domain or the ledger.
// `POST /bench/feed` hands a JSON array of events to the admin live feed object, as the projector
// does after each commit, so bench/live-feed.mjs can push more than the local projector can;
// `POST /bench/noop` reads the same body and does nothing (its baseline).
// `GET /bench/read/{id}` is the platform's floor for a read: one D1 query by primary key, no auth,
// no validation, the row as JSON. A query's req/s over it says how much is the service's own.
// `GET /bench/read-session/{id}` is the same query in a D1 session, its bookmark in the answer, as
// the contract has every query do: locally each query in a session costs the D1 object an fsync
// (BENCHMARKS.md, "What a get pays beyond one query"), which the bare floor does not pay.
// `POST /bench/notify/{name}` is the floor for a webhook: the same append, then the event POSTed to
// each URL of the body's `urls`, after the commit and without waiting (bench/webhooks.mjs).
// `POST /bench/deliver` is the floor of a webhook delivery's CPU: one object POSTs `count` events
// (cycling through the body's `events`, each wrapped and serialised as a delivery's body) to `url`,
// `inFlight` at a time, each awaited, signed as `sign` says: `none`, `webcrypto` (HMAC-SHA256 with a
// key imported once) or `library` (the standardwebhooks package, a new Webhook per delivery, as the
// service did before); with `record`, one SQLite insert per delivery after its answer. No feed: bench/webhooks.mjs `--drain` divides the runtime's CPU by it.
// `POST /bench/queue` puts its JSON body on the events queue as the outbox would: the browser test
// of the operations page makes a real dead letter with it (a message the projector cannot read).
// `POST /bench/fresh` creates `objects` new Durable Objects (fresh ids, `inParallel` at a time) and
// stores `rows` rows in each in one call: the platform's floor for an import, which must create one
// object per user whatever else it does (bench/import.mjs); with `prefix`, the objects are named
// `{prefix}{i}` so that `POST /bench/scan` can read them back.
// `POST /bench/rewind/{id}` moves a user's row in D1 one revision back, so that `?min_revision=` of
// the revision the stream holds waits for a projection that never comes (bench/waiters.mjs).
// With the var `BENCH_COUNT_D1` set, the Worker's D1 binding counts its round trips (a statement's
// first/all/run/raw, a batch, an exec: one each) and `GET /bench/d1-count` answers the count so
// far; the objects' own D1 use is not counted.
// With the var `BENCH_RECORD_D1` set, the Worker's D1 binding also records each round trip (the SQL
// and bound values of its statements, and whether a request or the queue consumer made it), and the
// queue handler each batch's span and size; `GET /bench/d1-record` answers the record so far and
// starts a new one. bench/capacity.mjs replays the statements on a copy of the database with
// node:sqlite, where a query's time can be measured to the microsecond (the local D1's own
// `meta.duration` moves in coarse steps: 0 ms for a get, 6 ms for a count of 20,000 and of 70,000 rows).
// `POST /bench/scan` is the floor for a rebuild: it reads every row of the objects `{prefix}0` to
// `{prefix}{objects - 1}` (`inParallel` calls at a time) and writes one D1 row per row read (a rebuild
// writes every event to the audit log), one D1 statement per `perStep` objects, as a rebuild step
// does: no directory, no fold, no projection.
import { DurableObject } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import type { PublicEvent } from "../../src/domain/events";
import service from "../../src/index";
import { FEED_NAME } from "../../src/live/feed";
import { eventQueueOf } from "../../src/shards";

export * from "../../src/index";

export class FloorAppend extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS events (revision INTEGER PRIMARY KEY, data TEXT NOT NULL)");
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS outbox (revision INTEGER PRIMARY KEY, created_at INTEGER NOT NULL)",
    );
  }

  append(data: string): number {
    return this.ctx.storage.sql
      .exec<{ revision: number }>("INSERT INTO events (data) VALUES (?) RETURNING revision", data)
      .one().revision;
  }

  /** `append` with an outbox row and its alarm, then the message: see `POST /bench/outbox/{name}`. */
  async appendWithOutbox(data: string): Promise<number> {
    const sql = this.ctx.storage.sql;
    const revision = this.ctx.storage.transactionSync(() => {
      const armAlarm = sql.exec("SELECT 1 FROM outbox LIMIT 1").toArray().length === 0;
      const appended = this.append(data);
      sql.exec("INSERT INTO outbox (revision, created_at) VALUES (?, ?)", appended, Date.now());
      if (armAlarm) void this.ctx.storage.setAlarm(Date.now() + 5_000);
      return appended;
    });
    await (this.env as BenchEnv).FLOOR_EVENTS.send({ id: this.ctx.id.toString(), revision });
    return revision;
  }

  override alarm(): void {
    this.ctx.storage.sql.exec("DELETE FROM outbox");
  }

  /** `append`, then the message a projector needs: the platform's share of a projected write. */
  async appendAndPublish(data: string): Promise<number> {
    const revision = this.append(data);
    await (this.env as BenchEnv).FLOOR_EVENTS.send({ id: this.ctx.id.toString(), revision });
    return revision;
  }

  /**
   * `append`, then the event POSTed to each of `urls` once the write is durable (the output gate
   * holds the requests until then), without waiting for them: the platform's floor for a commit
   * reaching webhook receivers, with no outbox, queue, projector, feed or subscription object.
   */
  appendAndNotify(data: string, urls: string[]): number {
    const revision = this.append(data);
    const body = JSON.stringify({ timestamp: new Date().toISOString(), data: { revision } });
    const headers = { "content-type": "application/json", "webhook-id": `${this.ctx.id.toString()}-${revision}` };
    this.ctx.waitUntil(Promise.allSettled(urls.map((url) => fetch(url, { method: "POST", headers, body }))));
    return revision;
  }

  /** See `POST /bench/deliver`: resolves how many got a 2xx. */
  async deliverMany(job: DeliverJob): Promise<{ delivered: number }> {
    const raw = Uint8Array.from(atob(job.secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
    const key =
      job.sign === "webcrypto"
        ? await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
        : null;
    const encoder = new TextEncoder();
    const signature = async (id: string, now: Date, body: string): Promise<string> => {
      if (job.sign === "library") return new Webhook(job.secret).sign(id, now, body);
      if (!key) return "";
      const mac = await crypto.subtle.sign(
        "HMAC",
        key,
        encoder.encode(`${id}.${Math.floor(now.getTime() / 1000)}.${body}`),
      );
      return `v1,${btoa(String.fromCharCode(...new Uint8Array(mac)))}`;
    };
    let next = 0;
    let delivered = 0;
    const worker = async () => {
      for (let i = next++; i < job.count; i = next++) {
        const event = job.events[i % job.events.length]!;
        const id = `floor-${i}`;
        const body = JSON.stringify({ type: "user.updated", timestamp: event.timestamp, data: event });
        const now = new Date();
        const response = await fetch(job.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
            "webhook-signature": await signature(id, now, body),
          },
          body,
        });
        await response.body?.cancel();
        if (response.ok) delivered++;
        // A durable record of the outcome, one write per delivery as at-least-once needs.
        if (job.record) this.ctx.storage.sql.exec("INSERT INTO events (data) VALUES (?)", id);
      }
    };
    await Promise.all(Array.from({ length: job.inFlight }, worker));
    return { delivered };
  }

  /** Every row, as a rebuild reads a user's stream. */
  rows(): string[] {
    return this.ctx.storage.sql
      .exec<{ data: string }>("SELECT data FROM events ORDER BY revision")
      .toArray()
      .map((row) => row.data);
  }

  /** Many rows in one call, as an import stores a user's events: one implicit transaction. */
  appendMany(rows: string[]): number {
    for (const data of rows) this.ctx.storage.sql.exec("INSERT INTO events (data) VALUES (?)", data);
    return rows.length;
  }
}

interface DeliverJob {
  url: string;
  events: { timestamp: string }[];
  count: number;
  sign: "none" | "webcrypto" | "library";
  /** One SQLite insert per delivery after its answer, in the turn that sees it. */
  record?: boolean;
  secret: string;
  inFlight: number;
}

interface FreshObjects {
  prefix?: string;
  objects: number;
  rows: number;
  rowBytes: number;
  inParallel: number;
}

type BenchEnv = Env & { FLOOR: DurableObjectNamespace<FloorAppend>; FLOOR_EVENTS: Queue };

const FLOOR_QUEUE = "bench-floor";
let floorTable: Promise<unknown> | null = null;

interface Scan {
  prefix: string;
  objects: number;
  inParallel: number;
  perStep: number;
}

/** The floor's projector: every message of the batch upserted into D1 by one statement. */
async function projectFloor(batch: MessageBatch<unknown>, env: BenchEnv): Promise<void> {
  await writeFloorRows(
    env,
    batch.messages.map((message) => message.body),
  );
  batch.ackAll();
}

async function writeFloorRows(env: BenchEnv, rows: unknown[]): Promise<void> {
  floorTable ??= env.DB.prepare(
    "CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, revision INTEGER NOT NULL)",
  ).run();
  await floorTable;
  await env.DB.prepare(
    `INSERT INTO bench_floor (id, revision) SELECT value ->> '$.id', value ->> '$.revision' FROM json_each(?) WHERE true
     ON CONFLICT (id) DO UPDATE SET revision = max(revision, excluded.revision)`,
  )
    .bind(JSON.stringify(rows))
    .run();
}

const REWIND = /^\/bench\/rewind\/([\w-]{1,64})$/;

/** D1 round trips through the counting binding (this isolate): see `BENCH_COUNT_D1` above. */
let d1RoundTrips = 0;
const originals = new WeakMap<object, D1PreparedStatement>();

function countingStatement(statement: D1PreparedStatement): D1PreparedStatement {
  const counted =
    <A extends unknown[], R>(call: (...args: A) => R) =>
    (...args: A): R => {
      d1RoundTrips += 1;
      return call(...args);
    };
  const wrapped = {
    bind: (...values: unknown[]) => countingStatement(statement.bind(...values)),
    first: counted(statement.first.bind(statement)),
    all: counted(statement.all.bind(statement)),
    run: counted(statement.run.bind(statement)),
    raw: counted(statement.raw.bind(statement)),
  } as unknown as D1PreparedStatement;
  originals.set(wrapped, statement);
  return wrapped;
}

function countingDatabase<T extends D1Database | D1DatabaseSession>(db: T): T {
  const session = db as D1DatabaseSession;
  const full = db as D1Database;
  return {
    prepare: (query: string) => countingStatement(db.prepare(query)),
    batch: (statements: D1PreparedStatement[]) => {
      d1RoundTrips += 1;
      return db.batch(statements.map((s) => originals.get(s) ?? s));
    },
    exec: (query: string) => {
      d1RoundTrips += 1;
      return full.exec(query);
    },
    withSession: (constraint?: string) => countingDatabase(full.withSession(constraint)),
    getBookmark: () => session.getBookmark(),
    dump: () => full.dump(),
  } as unknown as T;
}

const countingEnvs = new WeakMap<BenchEnv, BenchEnv>();
function counting(env: BenchEnv): BenchEnv {
  if (!(env as { BENCH_COUNT_D1?: string }).BENCH_COUNT_D1) return env;
  let wrapped = countingEnvs.get(env);
  if (!wrapped) {
    wrapped = { ...env, DB: countingDatabase(env.DB) };
    countingEnvs.set(env, wrapped);
  }
  return wrapped;
}

/** One recorded D1 round trip: its statements, in order (a batch has several). */
interface RoundTrip {
  source: "fetch" | "queue";
  kind: string;
  statements: { sql: string; params: unknown[] }[];
}
/** One queue batch handled: epoch ms of its start and end (they advance with I/O only). */
interface QueueSpan {
  queue: string;
  messages: number;
  start: number;
  end: number;
}
let record: { d1: RoundTrip[]; batches: QueueSpan[] } = { d1: [], batches: [] };
const recorded = new WeakMap<object, { statement: D1PreparedStatement; sql: string; params: unknown[] }>();

function recordingStatement(
  statement: D1PreparedStatement,
  source: RoundTrip["source"],
  sql: string,
  params: unknown[],
): D1PreparedStatement {
  const recordedCall =
    (kind: string, call: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      record.d1.push({ source, kind, statements: [{ sql, params }] });
      return call(...args);
    };
  const wrapped = {
    bind: (...values: unknown[]) => recordingStatement(statement.bind(...values), source, sql, values),
    first: recordedCall("first", statement.first.bind(statement) as (...args: unknown[]) => unknown),
    all: recordedCall("all", statement.all.bind(statement) as (...args: unknown[]) => unknown),
    run: recordedCall("run", statement.run.bind(statement) as (...args: unknown[]) => unknown),
    raw: recordedCall("raw", statement.raw.bind(statement) as (...args: unknown[]) => unknown),
  } as unknown as D1PreparedStatement;
  recorded.set(wrapped, { statement, sql, params });
  return wrapped;
}

function recordingDatabase<T extends D1Database | D1DatabaseSession>(db: T, source: RoundTrip["source"]): T {
  const session = db as D1DatabaseSession;
  const full = db as D1Database;
  return {
    prepare: (query: string) => recordingStatement(db.prepare(query), source, query, []),
    batch: (statements: D1PreparedStatement[]) => {
      const known = statements.map((s) => recorded.get(s));
      record.d1.push({
        source,
        kind: "batch",
        statements: known.map((k) => (k ? { sql: k.sql, params: k.params } : { sql: "?", params: [] })),
      });
      return db.batch(statements.map((s, i) => known[i]?.statement ?? s));
    },
    exec: (query: string) => {
      record.d1.push({ source, kind: "exec", statements: [{ sql: query, params: [] }] });
      return full.exec(query);
    },
    withSession: (constraint?: string) => recordingDatabase(full.withSession(constraint), source),
    getBookmark: () => session.getBookmark(),
    dump: () => full.dump(),
  } as unknown as T;
}

const recordingEnvs = { fetch: new WeakMap<BenchEnv, BenchEnv>(), queue: new WeakMap<BenchEnv, BenchEnv>() };
function recording(env: BenchEnv, source: RoundTrip["source"]): BenchEnv {
  if (!(env as { BENCH_RECORD_D1?: string }).BENCH_RECORD_D1) return env;
  let wrapped = recordingEnvs[source].get(env);
  if (!wrapped) {
    wrapped = { ...env, DB: recordingDatabase(env.DB, source) };
    recordingEnvs[source].set(env, wrapped);
  }
  return wrapped;
}

/** The queue handler, its batch's span recorded when `BENCH_RECORD_D1` is set. */
async function timedBatch(batch: MessageBatch<unknown>, env: BenchEnv, handle: () => Promise<void>): Promise<void> {
  if (!(env as { BENCH_RECORD_D1?: string }).BENCH_RECORD_D1) return handle();
  const start = Date.now();
  await handle();
  record.batches.push({ queue: batch.queue, messages: batch.messages.length, start, end: Date.now() });
}

const APPEND = /^\/bench\/append\/([\w-]{1,64})$/;
const PROJECTED = /^\/bench\/projected\/([\w-]{1,64})$/;
const OUTBOX = /^\/bench\/outbox\/([\w-]{1,64})$/;
const READ = /^\/bench\/read\/([\w-]{1,64})$/;
const READ_SESSION = /^\/bench\/read-session\/([\w-]{1,64})$/;
const NOTIFY = /^\/bench\/notify\/([\w-]{1,64})$/;

export default {
  ...service,
  queue: (batch, env) =>
    timedBatch(batch, env, () =>
      batch.queue === FLOOR_QUEUE
        ? projectFloor(batch, env)
        : service.queue(batch as MessageBatch<unknown>, counting(recording(env, "queue"))),
    ),
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (request.method === "GET" && pathname === "/bench/d1-count") return Response.json({ round_trips: d1RoundTrips });
    if (request.method === "GET" && pathname === "/bench/d1-record") {
      const answer = Response.json(record);
      record = { d1: [], batches: [] };
      return answer;
    }
    const rewind = request.method === "POST" ? REWIND.exec(pathname) : null;
    if (rewind) {
      const row = await env.DB.prepare("UPDATE users SET revision = revision - 1 WHERE id = ? RETURNING revision")
        .bind(rewind[1]!)
        .first<{ revision: number }>();
      return Response.json(row);
    }
    if (request.method === "POST" && pathname === "/bench/feed") {
      await env.LIVE_FEED.getByName(FEED_NAME).publish(await request.json<PublicEvent[]>());
      return new Response(null, { status: 204 });
    }
    if (request.method === "POST" && pathname === "/bench/queue") {
      const event = await request.json<PublicEvent>();
      await eventQueueOf(env, event.aggregate_id).send(event, { contentType: "json" });
      return new Response(null, { status: 204 });
    }
    if (request.method === "POST" && pathname === "/bench/fresh") {
      const { prefix, objects, rows, rowBytes, inParallel } = await request.json<FreshObjects>();
      const data = Array.from({ length: rows }, () => "x".repeat(rowBytes));
      let next = 0;
      let stored = 0;
      const worker = async () => {
        for (let i = next++; i < objects; i = next++) {
          stored += await env.FLOOR.getByName(prefix ? `${prefix}${i}` : crypto.randomUUID()).appendMany(data);
        }
      };
      await Promise.all(Array.from({ length: Math.min(inParallel, objects) }, worker));
      return Response.json({ stored });
    }
    if (request.method === "POST" && pathname === "/bench/scan") {
      const { prefix, objects, inParallel, perStep } = await request.json<Scan>();
      const started = Date.now();
      let events = 0;
      for (let from = 0; from < objects; from += perStep) {
        const names = Array.from({ length: Math.min(perStep, objects - from) }, (_, i) => `${prefix}${from + i}`);
        const read: { id: string; revision: number }[] = [];
        let next = 0;
        const worker = async () => {
          for (let i = next++; i < names.length; i = next++) {
            const rows = await env.FLOOR.getByName(names[i]!).rows();
            rows.forEach((_, at) => read.push({ id: `${names[i]!}/${at + 1}`, revision: at + 1 }));
          }
        };
        await Promise.all(Array.from({ length: Math.min(inParallel, names.length) }, worker));
        events += read.length;
        await writeFloorRows(env, read);
      }
      return Response.json({ events, ms: Date.now() - started });
    }
    if (request.method === "POST" && pathname === "/bench/noop") {
      await request.json();
      return new Response(null, { status: 204 });
    }
    const projected = request.method === "POST" ? PROJECTED.exec(pathname) : null;
    if (projected) {
      const revision = await env.FLOOR.getByName(projected[1]!).appendAndPublish(await request.text());
      return Response.json({ revision });
    }
    const outbox = request.method === "POST" ? OUTBOX.exec(pathname) : null;
    if (outbox) {
      const revision = await env.FLOOR.getByName(outbox[1]!).appendWithOutbox(await request.text());
      return Response.json({ revision });
    }
    const notify = request.method === "POST" ? NOTIFY.exec(pathname) : null;
    if (notify) {
      const { urls } = await request.json<{ urls: string[] }>();
      const revision = await env.FLOOR.getByName(notify[1]!).appendAndNotify("notify", urls);
      return Response.json({ revision });
    }
    if (request.method === "POST" && pathname === "/bench/deliver") {
      const job = await request.json<DeliverJob>();
      return Response.json(
        await env.FLOOR.getByName(`deliver-${job.sign}${job.record ? "-recorded" : ""}`).deliverMany(job),
      );
    }
    const read = request.method === "GET" ? READ.exec(pathname) : null;
    if (read) return Response.json(await env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(read[1]!).first());
    const inSession = request.method === "GET" ? READ_SESSION.exec(pathname) : null;
    if (inSession) {
      const session = env.DB.withSession("first-unconstrained");
      const row = await session.prepare("SELECT * FROM users WHERE id = ?").bind(inSession[1]!).first();
      return Response.json(row, { headers: { "x-d1-bookmark": session.getBookmark() ?? "" } });
    }
    const match = request.method === "POST" ? APPEND.exec(new URL(request.url).pathname) : null;
    if (!match) return service.fetch(request, counting(recording(env, "fetch")), ctx);
    const revision = await env.FLOOR.getByName(match[1]!).append(await request.text());
    return Response.json({ revision });
  },
} satisfies ExportedHandler<BenchEnv>;

/**
 * Structured logs and metrics. Every line is one JSON object (Workers Logs index its fields); every
 * metric is one Workers Analytics Engine data point in the `METRICS` dataset, and also a log line:
 * locally the dataset drops writes silently, so the log line is what shows the metric.
 *
 * Data point layout (query it with SQL over the dataset):
 *   index1 = kind; blob1 = kind, blob2 = subject (command or projection name), blob3 = outcome;
 *   double1 = count, double2 = milliseconds (command latency, or projection lag: commit → projected).
 */

export type Fields = Record<string, unknown>;

export function log(level: "info" | "warn" | "error", msg: string, fields: Fields = {}): void {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "info") console.log(line);
  else if (level === "warn") console.warn(line);
  else console.error(line);
}

export type MetricKind = "command" | "projection" | "projection_failure" | "republish" | "dead_letter";

export interface Metric {
  kind: MetricKind;
  subject: string;
  outcome: string;
  count: number;
  ms: number;
}

/** Writes the data point, and logs it as `msg` with `fields` (the request id, the user …). */
export function metric(env: Pick<Env, "METRICS">, point: Metric, fields: Fields = {}, msg = "metric"): void {
  try {
    env.METRICS?.writeDataPoint({
      indexes: [point.kind],
      blobs: [point.kind, point.subject, point.outcome],
      doubles: [point.count, point.ms],
    });
  } catch (error) {
    // Metrics never fail the work they measure.
    log("warn", "metric not written", { error: String(error) });
  }
  log(point.outcome === "error" ? "error" : "info", msg, { ...point, ...fields });
}

/**
 * Bench-only: where a slow event's projection lag goes (bench/lag.mjs). With the var `BENCH_TRACE`
 * set to "1" (`tracing`), the publish marks the times of its hops per event, and the
 * projector's `lag trace` line per batch reads them back. Locally the objects and the consumer
 * share one isolate, so the marks meet in this module; where they do not, the consumer's hops alone
 * are logged. Without the var nothing is kept or logged: production pays one boolean per publish
 * and per batch.
 */
export function tracing(env: object): boolean {
  // Read alone, not through `config`: the publish asks on every send, also with the stand-in
  // environments of tests, and a trace switch must never be what fails a send.
  return (env as { BENCH_TRACE?: unknown }).BENCH_TRACE === "1";
}

export type PublishHop = "publish" | "announced" | "sent";
const publishMarks = new Map<string, Partial<Record<PublishHop, number>>>();
/** Isolate-wide work measured between two batches (the objects' alarms), per kind: count and ms. */
let tracedWork: Record<string, { n: number; ms: number }> = {};

export function markPublish(userId: string, revisions: readonly number[], hop: PublishHop, at = Date.now()): void {
  // Marks no batch reads (another isolate's consumer) must not grow without bound.
  if (publishMarks.size > 100_000) publishMarks.clear();
  for (const revision of revisions) {
    const key = `${userId}:${revision}`;
    publishMarks.set(key, { ...publishMarks.get(key), [hop]: at });
  }
}

/** What a publish of `revisions` calls at each hop: `markPublish` while tracing, else nothing. */
export function publishMarker(
  env: object,
  userId: string,
  revisions: () => readonly number[],
): (hop: PublishHop) => void {
  if (!tracing(env)) return () => {};
  const traced = revisions();
  return (hop) => markPublish(userId, traced, hop);
}

/** The publish's marks of one event, forgotten once read. */
export function takePublishMarks(userId: string, revision: number): Partial<Record<PublishHop, number>> {
  const key = `${userId}:${revision}`;
  const marks = publishMarks.get(key) ?? {};
  publishMarks.delete(key);
  return marks;
}

export function traceWork(kind: string, ms: number): void {
  const work = (tracedWork[kind] ??= { n: 0, ms: 0 });
  work.n += 1;
  work.ms += ms;
}

/** The work traced since the last call. */
export function takeTracedWork(): Record<string, { n: number; ms: number }> {
  const work = tracedWork;
  tracedWork = {};
  return work;
}

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

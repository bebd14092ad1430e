import { alertConfig } from "../config";
import { failingAlert, type FailingDelivery } from "../domain/alerts";
import { log } from "../observability";
import { subscription } from "../objects";
import { alertOpenLetters, alertStatement, checkProjectionLag } from "../read/alerts";
import { projectionStatus } from "../read/projection-status";
import { MAIL_SUBSCRIPTION_ID, type DeliveryView } from "./protocol";

/** Subscriptions asked per check; as many as the projector wakes after a batch. */
const MAX_CHECKED = 500;
/** Pending deliveries looked at for the one that failed most often. */
const PENDING_LOOKED_AT = 100;

/**
 * The cron's alert checks (src/index.ts): projection lag, dead letters lacking their alert,
 * subscriptions failing. Each is on its own: one that fails (D1 busy, an object unreachable) is
 * logged and the others still run; the next cron run checks again, and finds any alert already
 * written by its id. The caller wakes the subscriptions afterwards, so new alerts go out at once.
 */
export async function runAlertChecks(env: Env, now = Date.now()): Promise<void> {
  const thresholds = alertConfig(env);
  const checks: [string, () => Promise<unknown>][] = [
    [
      "projection lag",
      async () =>
        checkProjectionLag(
          env.DB,
          (await projectionStatus(env)).projections,
          thresholds.ALERT_PROJECTION_LAG_SECONDS * 1000,
          new Date(now),
        ),
    ],
    ["dead letters", () => alertOpenLetters(env.DB)],
    ["failing subscriptions", () => checkFailingSubscriptions(env, now)],
  ];
  const results = await Promise.allSettled(checks.map(([, check]) => check()));
  results.forEach((result, i) => {
    if (result.status === "rejected") {
      log("warn", "alert check failed; the next cron run checks again", {
        check: checks[i]![0],
        error: String(result.reason),
      });
    }
  });
}

/**
 * Asks each active subscription (and the welcome mail's) whether it is failing, through the RPCs
 * the admin routes use (`view`, `deliveries`), and alerts for those failing past a threshold.
 * Returns the ids alerted about (already alerted ones included: the feed keeps one row each).
 */
export async function checkFailingSubscriptions(env: Env, now = Date.now()): Promise<string[]> {
  const thresholds = alertConfig(env);
  const rows = await env.DB.prepare(`SELECT id FROM subscriptions WHERE status = 'active' ORDER BY id LIMIT ?`)
    .bind(MAX_CHECKED)
    .all<{ id: string }>();
  const ids = [MAIL_SUBSCRIPTION_ID, ...rows.results.map((row) => row.id)];
  const found = await Promise.allSettled(
    ids.map(async (id) => {
      const stub = subscription(env, id);
      const view = await stub.view();
      if (!view || view.status !== "active" || view.failing_since === null) return null;
      const pending = await stub.deliveries({ state: "pending", limit: PENDING_LOOKED_AT });
      return failingAlert(view, Date.parse(view.failing_since), worstOf(pending?.results ?? []), now, {
        ms: thresholds.ALERT_SUBSCRIPTION_FAILING_SECONDS * 1000,
        attempts: thresholds.ALERT_SUBSCRIPTION_FAILING_ATTEMPTS,
      });
    }),
  );
  const alerts = found.flatMap((result) => (result.status === "fulfilled" && result.value ? [result.value] : []));
  const unreachable = found.filter((result) => result.status === "rejected").length;
  if (unreachable > 0) log("warn", "subscriptions not checked for failures", { unreachable });
  if (alerts.length === 0) return [];
  const timestamp = new Date(now).toISOString();
  await env.DB.batch(
    alerts.map((alert) => alertStatement(env.DB, { ...alert, type: "ops.subscription_failing", timestamp })),
  );
  const failing = alerts.map((alert) => String(alert.data.subscription_id));
  log("warn", "subscriptions failing", { subscriptions: failing });
  return failing;
}

/** The pending delivery with the most failed attempts (the oldest of equals), if any failed. */
function worstOf(pending: readonly DeliveryView[]): FailingDelivery | null {
  const [worst] = pending
    .filter((row) => row.attempts > 0)
    .sort((a, b) => b.attempts - a.attempts || a.position - b.position);
  return worst
    ? {
        event_id: worst.event_id,
        attempts: worst.attempts,
        last_status: worst.last_status,
        last_error: worst.last_error,
      }
    : null;
}

/**
 * Operations alerts (`ops.*`): facts about the service itself, not about a user, delivered like user
 * events to the subscriptions that ask for them (docs/subscriptions.md, "Alerts"). They are rows of
 * the feed under the pseudo-user `OPS_USER`, so they get a position, crash safety and the same
 * delivery path. Each incident has a deterministic event id and the feed ignores an id it already
 * holds, so checking the same incident again never alerts twice. Pure: the decisions live here, the
 * writes in src/read/alerts.ts and src/deliver/alerts.ts.
 */

/** The feed's `user_id` (and the alert's `aggregate_id`) of every alert: no user id is ever this (they are UUIDs). */
export const OPS_USER = "ops";

export const OPS_EVENT_TYPES = ["ops.projection_lagging", "ops.dead_letter", "ops.subscription_failing"] as const;
export type OpsEventType = (typeof OPS_EVENT_TYPES)[number];
/** What a subscription or a feed reader may ask for: one alert type, or `ops.*` for all of them. */
export const OPS_ALL = "ops.*";

export const isOpsType = (type: string): type is OpsEventType => (OPS_EVENT_TYPES as readonly string[]).includes(type);

/** Facts only: names, ids, counts, times and error summaries, never a user's personal data. */
export type AlertData = Record<string, string | number | null>;

/** An alert as the feed holds it and a webhook carries it: the event's envelope, typed `ops.*`. */
export interface OpsAlert {
  id: string;
  aggregate_id: typeof OPS_USER;
  /** The alert's schema version, as events carry theirs. */
  version: 1;
  /** The alert's number among all alerts: 1, 2, … in feed order. */
  revision: number;
  event_type: OpsEventType;
  /** When the condition was detected. */
  timestamp: string;
  data: AlertData;
  metadata: Record<string, never>;
}

/**
 * A subscription's (or a feed reader's) `event_types` split into the users' types and the alert
 * types: empty means every user event and no alert; `ops.*` stands for every alert type.
 */
export function splitTypes<T extends string>(
  types: readonly string[],
  userTypes: readonly T[],
): { all: boolean; user: T[]; ops: OpsEventType[] } {
  if (types.length === 0) return { all: true, user: [], ops: [] };
  const ops = types.includes(OPS_ALL) ? [...OPS_EVENT_TYPES] : OPS_EVENT_TYPES.filter((t) => types.includes(t));
  const user = userTypes.filter((t) => types.includes(t));
  return { all: false, user, ops };
}

/** Error text in an alert: the first line, bounded (the full text stays where it was recorded). */
export function errorSummary(error: string | null | undefined): string | null {
  if (!error) return null;
  return error.split("\n", 1)[0]!.slice(0, 200);
}

// ---- ops.projection_lagging ----

export interface ProjectionLag {
  name: string;
  users_behind: number;
  /** Age of the oldest event committed and not yet projected; null when nothing is owed. */
  oldest_owed_age_ms: number | null;
}

/**
 * Whether each projection is lagging now: its oldest owed event is older than the threshold. An
 * incident opens when a check finds it lagging and closes when a check finds it not lagging; the
 * alert is sent once, when it opens (its id carries the incident's start).
 */
export function lagChecks(projections: readonly ProjectionLag[], thresholdMs: number) {
  return projections.map((p) => ({
    projection: p.name,
    lagging: p.oldest_owed_age_ms !== null && p.oldest_owed_age_ms > thresholdMs,
    facts: {
      projection: p.name,
      lag_seconds: p.oldest_owed_age_ms === null ? 0 : Math.round(p.oldest_owed_age_ms / 1000),
      users_behind: p.users_behind,
      threshold_seconds: Math.round(thresholdMs / 1000),
    } satisfies AlertData,
  }));
}

/** The incident's key in `ops_incidents` (one open incident per projection at most). */
export const lagIncidentKey = (projection: string) => `projection_lagging:${projection}`;

export const lagAlertId = (projection: string, since: string) => `ops.projection_lagging:${projection}:${since}`;

// ---- ops.dead_letter ----

/**
 * One alert per opening of a letter: from its first failure, or from the re-drive (or resolution) it
 * failed again after. More exhaustions while it stays open are the same incident.
 */
export const deadLetterAlertId = (letterId: number, openSince: string) => `ops.dead_letter:${letterId}:${openSince}`;

// ---- ops.subscription_failing ----

export interface FailingState {
  id: string;
  status: string;
  /** Since the first failed attempt after the last success; null when not failing. */
  failing_since: string | null;
}

/** `failing_since` read by the caller (epoch ms): the domain reads no clock or calendar. */
export type FailingStart = number;

/** The pending delivery that has failed most often, if the caller looked (attempts, its last answer). */
export interface FailingDelivery {
  event_id: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
}

/**
 * The alert for a subscription failing too long or too often, or null. An incident runs from its
 * first failed attempt (`failing_since`) to the next success, which clears `failing_since`: the id
 * carries that start, so every later check of the same incident finds the alert already there.
 */
export function failingAlert(
  sub: FailingState,
  since: FailingStart,
  worst: FailingDelivery | null,
  now: number,
  thresholds: { ms: number; attempts: number },
): { id: string; data: AlertData } | null {
  if (sub.status !== "active" || sub.failing_since === null || Number.isNaN(since)) return null;
  const tooLong = now - since >= thresholds.ms;
  const tooOften = (worst?.attempts ?? 0) >= thresholds.attempts;
  if (!tooLong && !tooOften) return null;
  return {
    id: `ops.subscription_failing:${sub.id}:${sub.failing_since}`,
    data: {
      subscription_id: sub.id,
      failing_since: sub.failing_since,
      failing_seconds: Math.max(0, Math.round((now - since) / 1000)),
      event_id: worst?.event_id ?? null,
      attempts: worst?.attempts ?? null,
      last_status: worst?.last_status ?? null,
      last_error: errorSummary(worst?.last_error),
      threshold_seconds: Math.round(thresholds.ms / 1000),
      threshold_attempts: thresholds.attempts,
    },
  };
}

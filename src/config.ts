import { z } from "zod";

/** Workers reject PBKDF2 above this many iterations. Here so configuration imports no layer. */
export const MAX_ITERATIONS = 100_000;

/** A whole number in range, written as a string (`[vars]` in wrangler.toml, `--var`) or a number. */
const count = (min: number, max: number) =>
  z
    .union([
      z.number(),
      z
        .string()
        .regex(/^\s*\d+\s*$/, "not a whole number")
        .transform(Number),
    ])
    .pipe(z.number().int().min(min).max(max));

/**
 * The Worker's configuration: `[vars]` in wrangler.toml arrive as strings, secrets come from
 * `.dev.vars` or `wrangler secret put`. Parsed once, so a value that is not a number or is out of
 * range stops the Worker naming the variable, instead of quietly turning a rule off (a `NaN`
 * minimum length accepts every password, a `NaN` wait polls until the platform kills the request).
 */
const ConfigSchema = z.object({
  PASSWORD_MIN_LENGTH: count(1, 1024),
  PASSWORD_HASH_ITERATIONS: count(1, MAX_ITERATIONS),
  READ_YOUR_WRITES_WAIT_MS: count(0, 30_000),
  SNAPSHOT_EVERY: count(1, 1_000_000),
  REBUILD_USERS_PER_STEP: count(1, 1_000),
  /**
   * Shards of the identity registry (docs/decisions/0023-sharded-identity-registry.md). Fixed once
   * a claim exists: the shards record it and refuse every call made with another.
   */
  IDENTITY_SHARD_COUNT: count(1, 1_024).default(16),
  /**
   * Objects of the user directory (src/write/user-directory.ts), users spread over them by id hash.
   * May grow, never shrink: a user stays in the shard it registered in.
   */
  DIRECTORY_SHARDS: count(1, 256).default(1),
  /** Deleted users are erased this many days after their deletion, by the cron; 0: never (the default). */
  DELETED_USER_RETENTION_DAYS: count(0, 36_500).default(0),
  // A typo here would only show as every welcome mail dead-lettering; checked at start instead.
  MAIL_FROM: z.email({ error: "not an email address" }),
  JWT_SECRET: z.string({ error: "missing: `wrangler secret put JWT_SECRET` (locally: .dev.vars)" }).min(16),
  // Optional: without it the bootstrap route does not exist.
  ADMIN_BOOTSTRAP_TOKEN: z
    .string()
    .optional()
    .transform((token) => token || undefined),
});

export type Config = z.infer<typeof ConfigSchema>;

/** Parses the environment, or throws naming every variable that is missing or wrong. */
export function parseConfig(env: Record<string, unknown>): Config {
  const result = ConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new Error(`Invalid configuration: ${problems.join("; ")}`);
}

const parsed = new WeakMap<object, Config>();

/** The configuration of this environment, parsed on first use and then kept. */
export function config(env: Env): Config {
  let found = parsed.get(env);
  if (!found) {
    found = parseConfig(env as unknown as Record<string, unknown>);
    parsed.set(env, found);
  }
  return found;
}

/**
 * Webhook deliveries (src/deliver/). Apart from `ConfigSchema` so the projection's configuration
 * and its tests do not change with it; checked at start like the rest (src/index.ts).
 */
const WebhookConfigSchema = z.object({
  /** First retry after about this many seconds (jittered), doubling up to the cap. */
  WEBHOOK_RETRY_BASE_SECONDS: count(1, 86_400).default(30),
  WEBHOOK_RETRY_MAX_SECONDS: count(1, 7 * 86_400).default(21_600),
  /** After this many failed attempts a delivery is `dead` (listed, redeliverable). */
  WEBHOOK_MAX_ATTEMPTS: count(1, 100).default(15),
  /** No answer within this long is a failed attempt: fetch has no timeout of its own. */
  WEBHOOK_TIMEOUT_MS: count(100, 60_000).default(10_000),
  /** Hosts a subscription may reach over plain http, private addresses included (local: 127.0.0.1,localhost). */
  WEBHOOK_INSECURE_HOSTS: z
    .string()
    .default("")
    .transform((list) =>
      list
        .split(",")
        .map((host) => host.trim().toLowerCase())
        .filter(Boolean),
    ),
});

export type WebhookConfig = z.infer<typeof WebhookConfigSchema>;

export function parseWebhookConfig(env: Record<string, unknown>): WebhookConfig {
  const result = WebhookConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new Error(`Invalid configuration: ${problems.join("; ")}`);
}

const parsedWebhooks = new WeakMap<object, WebhookConfig>();

export function webhookConfig(env: Env): WebhookConfig {
  let found = parsedWebhooks.get(env);
  if (!found) {
    found = parseWebhookConfig(env as unknown as Record<string, unknown>);
    parsedWebhooks.set(env, found);
  }
  return found;
}

/**
 * Operations alerts (`ops.*`, src/domain/alerts.ts): the thresholds the cron's checks compare with.
 * Apart from the rest like the webhooks' variables; checked at start too (src/index.ts).
 */
const AlertConfigSchema = z.object({
  /** A projection whose oldest unprojected event is older than this is lagging (`ops.projection_lagging`). */
  ALERT_PROJECTION_LAG_SECONDS: count(1, 7 * 86_400).default(600),
  /** A subscription failing (no success since its first failed attempt) this long alerts (`ops.subscription_failing`). */
  ALERT_SUBSCRIPTION_FAILING_SECONDS: count(1, 7 * 86_400).default(3_600),
  /** … and so does one of its deliveries failing this many times, whichever comes first. */
  ALERT_SUBSCRIPTION_FAILING_ATTEMPTS: count(1, 100).default(5),
});

export type AlertConfig = z.infer<typeof AlertConfigSchema>;

export function parseAlertConfig(env: Record<string, unknown>): AlertConfig {
  const result = AlertConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new Error(`Invalid configuration: ${problems.join("; ")}`);
}

const parsedAlerts = new WeakMap<object, AlertConfig>();

export function alertConfig(env: Env): AlertConfig {
  let found = parsedAlerts.get(env);
  if (!found) {
    found = parseAlertConfig(env as unknown as Record<string, unknown>);
    parsedAlerts.set(env, found);
  }
  return found;
}

/**
 * The refusals journal (src/read/refusals.ts): how many refusals an hour it keeps per actor and per
 * target (beyond that they are only counted), and for how many days. Apart from the rest like the
 * webhooks' variables; checked at start too (src/index.ts).
 */
const RefusalConfigSchema = z.object({
  REFUSALS_PER_ACTOR_PER_HOUR: count(1, 100_000).default(100),
  REFUSALS_PER_TARGET_PER_HOUR: count(1, 100_000).default(100),
  /** Swept by the cron; at least a day, so an operator finds yesterday's refusals. */
  REFUSALS_RETENTION_DAYS: count(1, 3_650).default(30),
});

export type RefusalConfig = z.infer<typeof RefusalConfigSchema>;

export function parseRefusalConfig(env: Record<string, unknown>): RefusalConfig {
  const result = RefusalConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new Error(`Invalid configuration: ${problems.join("; ")}`);
}

const parsedRefusals = new WeakMap<object, RefusalConfig>();

export function refusalConfig(env: Env): RefusalConfig {
  let found = parsedRefusals.get(env);
  if (!found) {
    found = parseRefusalConfig(env as unknown as Record<string, unknown>);
    parsedRefusals.set(env, found);
  }
  return found;
}

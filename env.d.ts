// Secrets are not in wrangler.toml, so `wrangler types` cannot see them: `npm run types` ignores
// .dev.vars on purpose, since the generated file must not depend on one machine's local file.
// They are declared here instead, and src/config.ts checks at start that they are set.
interface Secrets {
  /** HS256 key for the bearer tokens and the idempotency fingerprints; at least 16 characters. */
  JWT_SECRET: string;
  /** Authorises POST /admin/bootstrap/admins; unset, that route does not exist. */
  ADMIN_BOOTSTRAP_TOKEN?: string;
}

// Merged into the generated declarations: the global `Env` and `Cloudflare.Env` (what
// `import { env } from "cloudflare:workers"` gives).
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- declaration merging
interface Env extends Secrets {}

declare namespace Cloudflare {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- declaration merging
  interface Env extends Secrets {}
}

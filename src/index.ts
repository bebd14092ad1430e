import { env } from "cloudflare:workers";
import { admin } from "./admin";
import { IMPORT_MAX_BYTES } from "./admin/import";
import { alertConfig, config, refusalConfig, webhookConfig } from "./config";
import { runAlertChecks } from "./deliver/alerts";
import { createApp } from "./http/app";
import { consumeQueue } from "./read/consumer";
import { eraseExpiredDeletedUsers } from "./read/retention";
import { maybeMergeSearchIndex } from "./read/search-index";
import { sweepRefusals } from "./read/refusals";
import { sweepOwedStreams } from "./read/sweeper";
import { readDatabases, shards } from "./shards";
import { wakeSubscriptions } from "./read/wake-subscriptions";

export { UserStream } from "./write/user-stream";
export { IdentityRegistry } from "./write/identity-registry";
export { IdentityShard } from "./write/identity-shard";
export { UserDirectory } from "./write/user-directory";
export { ProjectionRebuild } from "./read/projection-rebuild";
export { LiveFeed } from "./live/feed";
export { Subscription } from "./deliver/subscription";
export { ErasureLedger } from "./write/erasure-ledger";

// At start, not on some later request: a missing secret or a malformed variable stops the Worker
// with the variable's name (`wrangler dev` and `wrangler deploy` show the error).
config(env);
webhookConfig(env);
alertConfig(env);
refusalConfig(env);
shards(env);

const app = createApp({ "/admin/import": IMPORT_MAX_BYTES }).route("/admin", admin);

/** The whole API's type: `src/client.ts` derives the typed client from it. */
export type AppType = typeof app;

export default {
  fetch: app.fetch,
  queue: consumeQueue,
  // The sweep also wakes every subscription: a wake lost to a crash between a batch's commit and
  // its wakes is made up within one cron period. The alert checks go first, so what they find goes
  // out with that wake.
  scheduled: (controller, env, ctx) =>
    ctx.waitUntil(
      Promise.all([
        sweepOwedStreams(env),
        runAlertChecks(env).then(() => wakeSubscriptions(env)),
        eraseExpiredDeletedUsers(env, config(env).DELETED_USER_RETENTION_DAYS),
        sweepRefusals(env.DB, refusalConfig(env).REFUSALS_RETENTION_DAYS),
        maybeMergeSearchIndex(readDatabases(env), controller.scheduledTime),
      ]),
    ),
} satisfies ExportedHandler<Env>;

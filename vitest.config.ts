import { createServer } from "node:net";
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { unstable_readConfig } from "wrangler";

/** A port free on loopback now: two test runs on one machine must not both want the same one. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The local queue consumers' batch timeout, for every consumer of the chosen wrangler environment:
 * deliver quickly, so end-to-end tests do not wait on the production timeout.
 */
function quickConsumers(environment: string | undefined) {
  // Typed here: wrangler's declaration of its config type does not resolve for the node project.
  const { queues } = unstable_readConfig({ config: "./wrangler.toml", env: environment }, { hideWarnings: true }) as {
    queues: { consumers?: { queue: string }[] };
  };
  return Object.fromEntries((queues.consumers ?? []).map(({ queue }) => [queue, { maxBatchTimeout: 0.05 }]));
}

/**
 * The suite's configuration for one wrangler environment: the default layout (`npm test`) or
 * `[env.sharded]` (`npm run test:sharded`, vitest.sharded.config.ts). The same tests run on both.
 */
export async function workersTestConfig(environment?: string) {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  // The webhook receiver (test/node-support/receiver.ts, globalSetup, in this process) and the
  // tests in workerd (the TEST_RECEIVER_PORT binding) learn its port from here.
  const receiverPort = await freePort();
  process.env.TEST_RECEIVER_PORT = String(receiverPort);
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml", environment },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            TEST_RECEIVER_PORT: String(receiverPort),
            JWT_SECRET: "test-jwt-secret-0123456789abcdef0123456789",
            ADMIN_BOOTSTRAP_TOKEN: "test-bootstrap-token",
            // Tests create hundreds of users; production strength is checked in test/write/passwords.test.ts.
            PASSWORD_HASH_ITERATIONS: "1000",
            // Small rebuild steps, so a rebuild of a few dozen users has a middle to interrupt.
            REBUILD_USERS_PER_STEP: "50",
            // The webhook receiver of test/node-support/receiver.ts listens on 127.0.0.1; retries in seconds.
            WEBHOOK_INSECURE_HOSTS: "127.0.0.1,localhost",
            WEBHOOK_RETRY_BASE_SECONDS: "1",
            WEBHOOK_RETRY_MAX_SECONDS: "2",
            WEBHOOK_MAX_ATTEMPTS: "3",
            WEBHOOK_TIMEOUT_MS: "3000",
            // A subscription alerts (`ops.subscription_failing`) after its second failed attempt.
            ALERT_SUBSCRIPTION_FAILING_ATTEMPTS: "2",
          },
          // Extra read databases beside DB, for tests of a sharded read model (test/support/shards.ts).
          d1Databases: ["TEST_SHARD_1", "TEST_SHARD_2", "TEST_SHARD_3"],
          queueConsumers: quickConsumers(environment),
        },
      }),
    ],
    test: {
      setupFiles: ["./test/support/apply-migrations.ts"],
      globalSetup: ["./test/node-support/receiver.ts"],
      testTimeout: 30_000,
    },
  };
}

export default defineConfig(() => workersTestConfig());

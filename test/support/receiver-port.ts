import { env } from "cloudflare:workers";

/**
 * The port of the test webhook receiver (test/node-support/receiver.ts): free when vitest.config.ts
 * chose it, so that test runs side by side on one machine each have their own receiver.
 */
export const RECEIVER_PORT = Number(env.TEST_RECEIVER_PORT);

import { defineConfig } from "vitest/config";
import { workersTestConfig } from "./vitest.config.ts";

/**
 * `npm run test:sharded`: the whole suite again on wrangler.toml's `[env.sharded]` (four event
 * queues, four read databases, DB on its own), with the same tests and test bindings.
 */
export default defineConfig(() => workersTestConfig("sharded"));

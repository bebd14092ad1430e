#!/usr/bin/env node
// `npm run test:browser`: the console and /docs in real Chromium (Debian's package, driven by
// playwright-core) against a `wrangler dev` of this repo on its own loopback port, with every
// request that would leave 127.0.0.1 blocked. Screenshots land in docs/console/.
import { after, before } from "node:test";
import { setUp, tearDown } from "./support.mjs";

before(setUp, { timeout: 180_000 });
after(tearDown);

await import("./offline.test.mjs");
await import("./sarah.test.mjs");
await import("./conflict.test.mjs");
await import("./plain-user.test.mjs");

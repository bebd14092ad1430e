#!/usr/bin/env node
// `npm run test:browser`: the console and /docs in real Chromium (Debian's package, driven by
// playwright-core) against a `wrangler dev` of this repo on its own loopback port, with every
// request that would leave 127.0.0.1 blocked. Screenshots land in docs/console/. The scenarios are
// named *.browser.mjs so that vitest does not pick them up.
import { after, before } from "node:test";
import { setUp, tearDown } from "./support.mjs";

before(setUp, { timeout: 180_000 });
after(tearDown);

await import("./offline.browser.mjs");
await import("./sarah.browser.mjs");
await import("./conflict.browser.mjs");
await import("./plain-user.browser.mjs");
await import("./operations.browser.mjs");

#!/usr/bin/env node
// `npm run test:browser`: the console and /docs in real Chromium (Debian's package, driven by
// playwright-core) against a `wrangler dev` of this repo on its own loopback port, with every
// request that would leave 127.0.0.1 blocked. Screenshots land in docs/console/. The scenarios are
// named *.browser.mjs so that vitest does not pick them up.
import { after, before, describe } from "node:test";
import { setUp, tearDown } from "./support.mjs";

// One suite around every scenario, so that its `after` stops the server and the browser once the
// scenarios end. Root-level hooks run only when the event loop drains, which the server and the
// browser never let it do: a filtered (--test-name-pattern) or failed run then hung after its results.
describe("the console and /docs in Chromium", async () => {
  before(setUp, { timeout: 180_000 });
  after(tearDown);
  await import("./offline.browser.mjs");
  await import("./sarah.browser.mjs");
  await import("./conflict.browser.mjs");
  await import("./plain-user.browser.mjs");
  await import("./operations.browser.mjs");
  await import("./subscriptions.browser.mjs");
  await import("./request-trail.browser.mjs");
  await import("./as-of.browser.mjs");
  await import("./refusals.browser.mjs");
});

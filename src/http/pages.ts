import { Hono } from "hono";
import type { AppEnv } from "./context";

/**
 * The two HTML pages the Worker itself answers: `/docs` (Swagger UI) and the console's shell for
 * `/console` and every deep link under it. Their scripts and styles are Workers static assets built
 * by `scripts/build-console.mjs` into `public/` (nothing comes from a CDN), so both pages work
 * offline. Static assets do not pass through the Worker, so the pages' CSP is set here.
 */

/** Only our own origin: no inline script or style, no CDN, no framing. `'self'` covers same-origin ws:. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Event-sourced user service: API docs</title>
<link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/console/assets/docs.js"></script>
</body>
</html>
`;

const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Console · Event-sourced user service</title>
<link rel="stylesheet" href="/console/assets/app.css">
<script type="module" src="/console/assets/app.js"></script>
</head>
<body>
<div id="app"><p class="boot">Loading the console…</p></div>
<noscript>The console needs JavaScript.</noscript>
</body>
</html>
`;

export const pages = new Hono<AppEnv>()
  .get("/docs", (c) => c.html(DOCS_HTML, 200, SECURITY_HEADERS))
  .get("/console", (c) => c.html(CONSOLE_HTML, 200, SECURITY_HEADERS))
  .get("/console/*", (c) => c.html(CONSOLE_HTML, 200, SECURITY_HEADERS));

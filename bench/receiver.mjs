// A webhook receiver for the benches: a Node HTTP server on loopback that answers every POST at
// once (204) and records, per path, each delivery's `webhook-id`, when it arrived and the event's
// commit time (its `timestamp`), so a bench can tell what arrived, in what order and how late.
import http from "node:http";

/**
 * Starts the receiver; `answer(path, delivery)` may return another status (default 204).
 * Resolves `{url, byPath: Map<path, delivery[]>, ids: Map<path, Set<webhook-id>>, close()}`.
 */
export async function startReceiver({ answer } = {}) {
  const byPath = new Map();
  const ids = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      let committedAt = null;
      let userId = null;
      let revision = null;
      let position = null;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        committedAt = Date.parse(body.data?.timestamp ?? body.timestamp);
        userId = body.data?.aggregate_id ?? null;
        revision = body.data?.revision ?? null;
        position = body.data?.position ?? null;
      } catch {
        // recorded without its times: a bench counts it as a delivery all the same
      }
      const delivery = { id: req.headers["webhook-id"], at, committedAt, userId, revision, position };
      const path = req.url ?? "/";
      if (!byPath.has(path)) byPath.set(path, []);
      byPath.get(path).push(delivery);
      if (!ids.has(path)) ids.set(path, new Set());
      ids.get(path).add(delivery.id);
      res.writeHead(answer?.(path, delivery) ?? 204).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    byPath,
    ids,
    /** Distinct webhook-ids received on `path`. */
    count: (path) => ids.get(path)?.size ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import { createServer, type Server } from "node:http";

/**
 * A webhook receiver for the tests, in Node (vitest's globalSetup), since the tests run inside
 * workerd. Each test uses its own path name:
 *   POST /hook/NAME          recorded; answered 200, or as `/mode/NAME` said
 *   PUT  /mode/NAME          {status, times}: the next `times` requests (-1: all) answer `status`
 *   GET  /log/NAME           the requests so far: [{headers, body, status}]
 */
interface Entry {
  headers: Record<string, string>;
  body: string;
  status: number;
}

export default function setup(): () => Promise<void> {
  const logs = new Map<string, Entry[]>();
  const modes = new Map<string, { status: number; times: number }>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const [, kind, name = ""] = (req.url ?? "").split("/");
      if (kind === "mode") {
        modes.set(name, JSON.parse(body) as { status: number; times: number });
        res.writeHead(204).end();
      } else if (kind === "log") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(logs.get(name) ?? []));
      } else {
        const mode = modes.get(name);
        let status = 200;
        if (mode && mode.times !== 0) {
          status = mode.status;
          if (mode.times > 0) mode.times--;
        }
        const headers = Object.fromEntries(Object.entries(req.headers).map(([key, value]) => [key, String(value)]));
        logs.set(name, [...(logs.get(name) ?? []), { headers, body, status }]);
        res.writeHead(status).end();
      }
    });
  });
  // The port vitest.config.ts found free and gave the tests in workerd too.
  server.listen(Number(process.env.TEST_RECEIVER_PORT), "127.0.0.1");
  return () => new Promise((resolve) => server.close(() => resolve()));
}

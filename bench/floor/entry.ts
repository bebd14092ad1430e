// The benchmarks' entry point: the service as deployed, plus one route that exists only here.
// `POST /bench/append/{name}` is the platform's floor for a write: one RPC to a Durable Object
// and one SQLite insert, with no auth, validation, domain or outbox. A command's req/s over the
// floor's, measured in the same run, says how much of the command's cost is the service's own.
import { DurableObject } from "cloudflare:workers";
import service from "../../src/index";

export * from "../../src/index";

export class FloorAppend extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS events (revision INTEGER PRIMARY KEY, data TEXT NOT NULL)");
  }

  append(data: string): number {
    return this.ctx.storage.sql
      .exec<{ revision: number }>("INSERT INTO events (data) VALUES (?) RETURNING revision", data)
      .one().revision;
  }
}

type BenchEnv = Env & { FLOOR: DurableObjectNamespace<FloorAppend> };

const APPEND = /^\/bench\/append\/([\w-]{1,64})$/;

export default {
  ...service,
  async fetch(request, env, ctx) {
    const match = request.method === "POST" ? APPEND.exec(new URL(request.url).pathname) : null;
    if (!match) return service.fetch(request, env, ctx);
    const revision = await env.FLOOR.getByName(match[1]!).append(await request.text());
    return Response.json({ revision });
  },
} satisfies ExportedHandler<BenchEnv>;

// A minimal reproduction of the descriptor flood (README.md next to this file): local workerd
// keeps each running SQLite-backed Durable Object's database, WAL and shared memory open (three
// descriptors), and frees an object only ~5-10 s after nothing has used it.
import { DurableObject } from "cloudflare:workers";

/** A "user": stores a row and claims two names, each in a `Child` of its own (the registries). */
export class Parent extends DurableObject {
  async run(id, mode) {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS t (v TEXT)");
    sql.exec("INSERT INTO t VALUES (?)", id);
    await Promise.all([`a:${id}`, `b:${id}`].map((key) => this.env.CHILD.getByName(key).claim(id)));
    // "alarm": wakes every 3 s, ten times, as a user's outbox alarm did while the read side lagged.
    if (mode === "alarm") await this.ctx.storage.setAlarm(Date.now() + 3_000);
    return { ok: true };
  }

  async alarm() {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS a (n INTEGER)");
    sql.exec("INSERT INTO a VALUES (1)");
    if (sql.exec("SELECT COUNT(*) AS n FROM a").one().n < 10) await this.ctx.storage.setAlarm(Date.now() + 3_000);
  }
}

export class Child extends DurableObject {
  claim(owner) {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS c (owner TEXT)");
    this.ctx.storage.sql.exec("INSERT INTO c VALUES (?)", owner);
    return { won: true };
  }
}

export default {
  /** `GET /?n=200&mode=request|alarm`: n parents (and 2n children) in one request, 32 at a time. */
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") ?? 200);
    const mode = url.searchParams.get("mode") ?? "request";
    const ids = Array.from({ length: n }, () => crypto.randomUUID());
    for (let i = 0; i < ids.length; i += 32) {
      await Promise.all(ids.slice(i, i + 32).map((id) => env.PARENT.getByName(id).run(id, mode)));
    }
    return new Response(`created ${n} parents (${mode})\n`);
  },
};

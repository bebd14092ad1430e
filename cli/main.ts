#!/usr/bin/env -S node --experimental-strip-types --disable-warning=ExperimentalWarning
import { createWriteStream } from "node:fs";
import { Writable } from "node:stream";
import { parseArgs } from "node:util";
import { createClient, type Client } from "../src/client.ts";
import { loadToken, saveToken } from "./config.ts";
import { CliError, failure, ok } from "./errors.ts";
import { position, tailFeed } from "./feed.ts";
import { importFile } from "./import.ts";
import { subscriptionsCommand } from "./subscriptions.ts";
import { ProgressBar, printJson, printRecord, printTable } from "./output.ts";

const USAGE = `usage: users-cli [--url URL] [--json] COMMAND

  login [--username U] [--password P]     get a token (stored 0600 under your config directory)
  users list [--page N] [--page-size N] [--username S] [--email S]
  users get ID
  users history ID (--timestamp ISO | --revision N)
  users events ID [--from-revision N] [--limit N]
  import FILE [--chunk-lines N] [--chunk-users N] [--parallel N] [--restart]
  export [--secrets] [--output FILE]
  replay ID
  rebuild [--restart] [--no-wait]
  dead-letters list [--limit N]
  dead-letters redrive ID
  status
  feed tail [--after P] [--event-types A,B]   every user's events as JSON lines, following the feed
  subscriptions list
  subscriptions create --target URL [--event-types A,B] [--description D] [--from P]   prints the secret once
  subscriptions pause ID | subscriptions resume ID
  subscriptions replay ID --from P | subscriptions delete ID

The service URL comes from --url, else USERS_API_URL, else http://127.0.0.1:8787.
USERS_API_TOKEN, when set, is used instead of the stored login.`;

const options = {
  url: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  username: { type: "string" },
  email: { type: "string" },
  password: { type: "string" },
  page: { type: "string" },
  "page-size": { type: "string" },
  timestamp: { type: "string" },
  revision: { type: "string" },
  "from-revision": { type: "string" },
  limit: { type: "string" },
  "chunk-lines": { type: "string", default: "2000" },
  "chunk-users": { type: "string", default: "100" },
  parallel: { type: "string", default: "4" },
  restart: { type: "boolean", default: false },
  secrets: { type: "boolean", default: false },
  output: { type: "string", short: "o" },
  "no-wait": { type: "boolean", default: false },
  after: { type: "string" },
  "event-types": { type: "string" },
  target: { type: "string" },
  description: { type: "string" },
  from: { type: "string" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

async function main(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
  const [command, sub, arg] = positionals;
  if (flags.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const baseUrl = (flags.url ?? process.env.USERS_API_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
  const token = await loadToken(baseUrl);
  const api = createClient(baseUrl, { token });
  const show = (value: unknown, forPeople: () => void) => (flags.json ? printJson(value) : forPeople());

  switch (command) {
    case "login":
      return login(api, baseUrl, flags, show);
    case "users":
      return users(api, sub, arg, flags, show);
    case "import": {
      if (!sub) throw new CliError("import needs a FILE");
      const summary = await importFile(api, sub, {
        token,
        service: baseUrl,
        chunkLines: positiveInt(flags["chunk-lines"], "--chunk-lines"),
        chunkUsers: positiveInt(flags["chunk-users"], "--chunk-users"),
        parallel: positiveInt(flags.parallel, "--parallel"),
        restart: flags.restart,
      });
      show(summary, () => {
        const { rejected, ...rest } = summary;
        printRecord({ ...rest, rejected: rejected.length });
        if (rejected.length > 0) printTable(rejected, ["line", "aggregate_id", "error"]);
      });
      if (summary.rejected.length > 0) process.exitCode = 2;
      return;
    }
    case "export":
      return exportAll(api, flags);
    case "replay": {
      if (!sub) throw new CliError("replay needs a user ID");
      const body = await ok(api.admin.users[":user_id"].replay.$post({ param: { user_id: sub } }));
      return show(body, () => printRecord(body));
    }
    case "rebuild":
      return rebuild(api, flags, show);
    case "dead-letters":
      return deadLetters(api, sub, arg, flags, show);
    case "status": {
      const body = await ok(api.admin.projections.status.$get({ query: {} }));
      return show(body, () => printRecord(body));
    }
    case "feed": {
      if (sub !== "tail") throw new CliError(`unknown command feed ${sub ?? ""}`);
      await tailFeed(api, {
        after: position(flags.after),
        eventTypes: flags["event-types"],
        write: (line) => process.stdout.write(`${line}\n`),
      });
      return;
    }
    case "subscriptions":
      return subscriptionsCommand(api, sub, arg, flags, show, { record: printRecord, table: printTable });
    default:
      throw new CliError(`unknown command ${command}\n${USAGE}`);
  }
}

type Show = (value: unknown, forPeople: () => void) => void;

async function login(api: Client, baseUrl: string, flags: Flags, show: Show) {
  const username = flags.username ?? (await prompt("username: "));
  const password = flags.password ?? process.env.USERS_API_PASSWORD ?? (await prompt("password: ", true));
  const body = await ok(api.v1.auth.login.$post({ json: { username, password } }));
  const file = await saveToken(baseUrl, username, body.access_token);
  show({ username: body.user.username, role: body.user.role, token_file: file }, () =>
    process.stdout.write(`logged in as ${body.user.username} (${body.user.role}); token saved in ${file}\n`),
  );
}

const USER_COLUMNS = ["id", "username", "email", "first_name", "last_name", "role", "status", "revision"];

async function users(api: Client, sub: string | undefined, id: string | undefined, flags: Flags, show: Show) {
  const users = api.v1.users;
  if (sub === "list") {
    const query: Record<string, string> = {};
    if (flags.page) query.page = flags.page;
    if (flags["page-size"]) query.page_size = flags["page-size"];
    if (flags.username) query.username = flags.username;
    if (flags.email) query.email = flags.email;
    const body = await ok(users.$get({ query }));
    return show(body, () => {
      printTable(body.results, USER_COLUMNS);
      process.stdout.write(
        `page ${body.page} of ${Math.max(1, Math.ceil(body.count / body.page_size))}, ${body.count} users\n`,
      );
    });
  }
  if (!id) throw new CliError(`users ${sub ?? ""} needs a user ID`);
  const param = { user_id: id };
  if (sub === "get") {
    const body = await ok(users[":user_id"].$get({ param, query: {} }));
    return show(body, () => printRecord(body.user));
  }
  if (sub === "history") {
    const query: Record<string, string> = {};
    if (flags.timestamp) query.timestamp = flags.timestamp;
    if (flags.revision) query.revision = flags.revision;
    const body = await ok(users[":user_id"].history.$get({ param, query }));
    return show(body, () => printRecord(body));
  }
  if (sub === "events") {
    const query: Record<string, string> = {};
    if (flags["from-revision"]) query.from_revision = flags["from-revision"];
    if (flags.limit) query.limit = flags.limit;
    const body = await ok(users[":user_id"].events.$get({ param, query }));
    return show(body, () => {
      printTable(
        body.results.map((e) => ({
          ...e,
          actor: e.metadata.actor_username,
          reason: e.metadata.reason,
          imported: e.metadata.import_request_id ? "yes" : "",
        })),
        ["revision", "event_type", "timestamp", "actor", "reason", "imported", "data"],
      );
      if (body.next_revision) process.stdout.write(`more from revision ${body.next_revision}\n`);
    });
  }
  throw new CliError(`unknown command users ${sub ?? ""}`);
}

async function exportAll(api: Client, flags: Flags) {
  const query = flags.secrets ? { secrets: "include" as const } : {};
  const res = await api.admin.export.$get({ query });
  if (!res.ok) throw await failure(res);
  if (!res.body) return;
  const out = flags.output ? createWriteStream(flags.output, { mode: flags.secrets ? 0o600 : 0o644 }) : process.stdout;
  await res.body.pipeTo(Writable.toWeb(out));
  if (flags.output)
    process.stderr.write(
      `exported to ${flags.output}${flags.secrets ? " (with password hashes: keep it safe)" : ""}\n`,
    );
}

async function rebuild(api: Client, flags: Flags, show: Show) {
  const rebuild = api.admin.projections.rebuild;
  let progress = await ok(rebuild.$post({ query: { restart: flags.restart ? "true" : "false" } }));
  if (!flags["no-wait"]) {
    const bar = flags.json ? null : new ProgressBar(progress.users_total, "users");
    while (progress.status === "running") {
      bar?.update(progress.users_done, "", progress.users_total);
      await new Promise((done) => setTimeout(done, 1000));
      progress = await ok(rebuild.$get({ query: {} }));
    }
    bar?.update(progress.users_done, "", progress.users_total);
    bar?.done();
  }
  show(progress, () => printRecord(progress));
}

async function deadLetters(api: Client, sub: string | undefined, id: string | undefined, flags: Flags, show: Show) {
  if (sub === "list") {
    const body = await ok(api.admin["dead-letters"].$get({ query: flags.limit ? { limit: flags.limit } : {} }));
    return show(body, () =>
      printTable(body.results, ["id", "aggregate_id", "revision", "attempts", "failed_at", "error"]),
    );
  }
  if (sub === "redrive") {
    if (!id) throw new CliError("dead-letters redrive needs an ID");
    const body = await ok(api.admin["dead-letters"][":id"].redrive.$post({ param: { id } }));
    return show(body, () => process.stdout.write(`${body.message}\n`));
  }
  throw new CliError(`unknown command dead-letters ${sub ?? ""}`);
}

function positiveInt(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${name} must be a positive integer`);
  return n;
}

async function prompt(question: string, hidden = false): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    // Echo nothing of what is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stderr.write(question);
    };
  }
  try {
    return await rl.question(question);
  } finally {
    if (hidden) process.stderr.write("\n");
    rl.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CliError) {
    process.stderr.write(`error: ${error.message}\n`);
  } else {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = 1;
});

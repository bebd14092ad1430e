import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Client } from "../src/client.ts";
import { configDir } from "./config.ts";
import { CliError, failure } from "./errors.ts";
import { ProgressBar } from "./output.ts";

/**
 * `import FILE`: the file goes in requests of at most `chunkLines` lines and `chunkUsers` users, cut
 * between users where possible so that up to `parallel` requests can run at once (a user's lines
 * must arrive in order). The users' bound is for the server: every Durable Object a request reaches
 * (each user's stream, and through it the user's two name registries) stays open with its SQLite
 * files until the request is over, so a request of thousands of short users ran a local server out
 * of file descriptors (BENCHMARKS.md, "Import").
 * After each request the first line not yet confirmed is saved (per file and service), so a re-run
 * after a failure resumes there; lines sent twice are harmless, the service skips events it already holds.
 */
export interface ImportOptions {
  /** The service's base URL: progress is kept per file and service. */
  service: string;
  /** Per-call headers replace the client's, so the token comes along here. */
  token: string | undefined;
  chunkLines: number;
  chunkUsers: number;
  parallel: number;
  restart: boolean;
}

interface Rejected {
  line: number;
  aggregate_id: string | null;
  error: string;
}

interface ImportState {
  file: string;
  size: number;
  mtime_ms: number;
  /** Lines 1..confirmed_lines have been answered by the service. */
  confirmed_lines: number;
  imported: number;
  skipped: number;
  rejected: Rejected[];
}

export interface ImportSummary {
  file: string;
  lines: number;
  resumed_from_line: number;
  imported: number;
  skipped: number;
  rejected: Rejected[];
  seconds: number;
  events_per_second: number;
}

interface Chunk {
  index: number;
  firstLine: number;
  lines: string[];
  /** Its first user's lines began in the previous chunk: it must wait for that one. */
  continuesUser: boolean;
}

const AGGREGATE = /"aggregate_id"\s*:\s*"([^"]*)"/;
const RETRIES = 6;

export async function importFile(api: Client, path: string, options: ImportOptions): Promise<ImportSummary> {
  const file = resolve(path);
  const info = await stat(file).catch(() => {
    throw new CliError(`cannot read ${path}`);
  });
  const statePath = join(
    configDir(),
    "imports",
    // Per file and service: a file's progress into one server says nothing of another (a fresh
    // local state after a failed run would otherwise resume it and skip what it never received).
    `${createHash("sha256").update(`${options.service}\n${file}`).digest("hex").slice(0, 16)}.json`,
  );
  const saved = options.restart ? null : await readState(statePath);
  const fresh: ImportState = {
    file,
    size: info.size,
    mtime_ms: info.mtimeMs,
    confirmed_lines: 0,
    imported: 0,
    skipped: 0,
    rejected: [],
  };
  const state = saved && saved.size === info.size && saved.mtime_ms === info.mtimeMs ? saved : fresh;
  const resumedFrom = state.confirmed_lines + 1;
  if (state.confirmed_lines > 0) process.stderr.write(`resuming ${path} at line ${resumedFrom}\n`);

  const total = await countLines(file);
  const bar = new ProgressBar(total, "lines", state.confirmed_lines);
  const started = Date.now();
  const importedBefore = state.imported + state.skipped;
  const answers = new Map<number, { lines: number; imported: number; skipped: number; rejected: Rejected[] }>();
  let nextToConfirm = 0;
  let firstIndex: number | null = null;
  const inFlight = new Map<number, Promise<void>>();
  // Set from the requests' callbacks: an object, so the checks below see it change.
  const failed: { error: Error | null } = { error: null };

  const confirm = async () => {
    while (firstIndex !== null && answers.has(nextToConfirm)) {
      const answer = answers.get(nextToConfirm)!;
      answers.delete(nextToConfirm);
      state.confirmed_lines += answer.lines;
      state.imported += answer.imported;
      state.skipped += answer.skipped;
      state.rejected.push(...answer.rejected);
      nextToConfirm += 1;
    }
    await writeState(statePath, state);
    bar.update(state.confirmed_lines, `${state.rejected.length} rejected`);
  };

  for await (const chunk of chunks(file, state.confirmed_lines, options.chunkLines, options.chunkUsers)) {
    if (failed.error) break;
    if (firstIndex === null) {
      firstIndex = chunk.index;
      nextToConfirm = chunk.index;
    }
    if (chunk.continuesUser) await Promise.all(inFlight.values());
    while (inFlight.size >= options.parallel) await Promise.race(inFlight.values());
    if (failed.error) break;
    const sending = send(api, chunk, options.token)
      .then(async (answer) => {
        answers.set(chunk.index, answer);
        await confirm();
      })
      .catch((error: unknown) => {
        failed.error ??= error instanceof Error ? error : new Error(JSON.stringify(error));
      })
      .finally(() => inFlight.delete(chunk.index));
    inFlight.set(chunk.index, sending);
  }
  await Promise.all(inFlight.values());
  bar.done();
  if (failed.error) {
    throw new CliError(
      `${failed.error.message}\nlines 1..${state.confirmed_lines} are confirmed; run the same command again to resume`,
    );
  }
  // Done: a later run of the same file starts over (and finds every event already there).
  await rm(statePath, { force: true });
  const seconds = (Date.now() - started) / 1000;
  const events = state.imported + state.skipped - importedBefore;
  return {
    file,
    lines: total,
    resumed_from_line: resumedFrom,
    imported: state.imported,
    skipped: state.skipped,
    rejected: state.rejected,
    seconds: Math.round(seconds * 10) / 10,
    events_per_second: seconds > 0 ? Math.round(events / seconds) : 0,
  };
}

async function send(api: Client, chunk: Chunk, token: string | undefined) {
  for (let attempt = 1; ; attempt++) {
    let retryable: string;
    try {
      const headers: Record<string, string> = { "Content-Type": "application/x-ndjson" };
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await api.admin.import.$post(
        { query: {} },
        { headers, init: { body: `${chunk.lines.join("\n")}\n` } },
      );
      if (res.ok) {
        const body = await res.json();
        return {
          lines: chunk.lines.length,
          imported: body.imported,
          skipped: body.skipped,
          rejected: body.rejected.map((r) => ({ ...r, line: chunk.firstLine + r.line - 1 })),
        };
      }
      const status: number = res.status;
      if (status < 500 && status !== 429) throw await failure(res);
      retryable = `HTTP ${status}`;
    } catch (error) {
      if (error instanceof CliError) throw error;
      retryable = error instanceof Error ? error.message : String(error);
    }
    if (attempt >= RETRIES) throw new CliError(`lines ${chunk.firstLine}.. failed ${RETRIES} times: ${retryable}`);
    await new Promise((done) => setTimeout(done, 500 * 2 ** attempt));
  }
}

/**
 * The file's lines after `skip`, in chunks of at most `size` lines that end between users when that
 * is possible, and at the latest when a user beyond the `users`th begins.
 */
async function* chunks(file: string, skip: number, size: number, users: number): AsyncGenerator<Chunk> {
  const input = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNumber = 0;
  let index = 0;
  let current: string[] = [];
  let firstLine = skip + 1;
  let lastUser: string | null = null;
  let usersIn = 0;
  let continuesUser = false;
  for await (const line of input) {
    lineNumber += 1;
    if (lineNumber <= skip) continue;
    const user = AGGREGATE.exec(line)?.[1] ?? null;
    // Near the size, the chunk ends at the next change of user; at the size, wherever it is.
    const full = current.length >= size;
    const newUser = user !== lastUser;
    if (full || (newUser && (current.length >= size * 0.9 || usersIn >= users))) {
      yield { index: index++, firstLine, lines: current, continuesUser };
      continuesUser = full && user !== null && user === lastUser;
      firstLine = lineNumber;
      current = [];
      usersIn = 0;
    }
    if (newUser || current.length === 0) usersIn += 1;
    current.push(line);
    lastUser = user;
  }
  if (current.length > 0) yield { index, firstLine, lines: current, continuesUser };
}

async function countLines(file: string): Promise<number> {
  let count = 0;
  let last = 10;
  for await (const buffer of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) count += 1;
    last = buffer[buffer.length - 1] ?? last;
  }
  return last === 10 ? count : count + 1;
}

async function readState(path: string): Promise<ImportState | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as ImportState;
  } catch {
    return null;
  }
}

async function writeState(path: string, state: ImportState): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify(state), { mode: 0o600 });
}

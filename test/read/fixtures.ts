import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { vi, type Mock } from "vitest";
import type { PublicEvent } from "../../src/domain/events";
import { sentEmails, users, type SentEmailRow, type UserRow } from "../../src/read/schema";
import type { CommandInput } from "../../src/write/protocol";
import type { UserStream } from "../../src/write/user-stream";
import { noMetadata } from "../support/builders";
import { readDb } from "../support/shards";

/** Consumer-layer fixtures: hand-made queue messages, D1 look-ups, a user whose outbox stays put. */

export interface FakeMessage extends Message<unknown> {
  ack: Mock<() => void>;
  retry: Mock<(options?: QueueRetryOptions) => void>;
}

/**
 * A read-model row written by hand (tests of the list, the counts, the search index): the given
 * fields over plain defaults; a deleted or erased row is deleted when it was created.
 */
export function readModelRow(fields: Pick<UserRow, "id"> & Partial<UserRow>): UserRow {
  const createdAt = fields.createdAt ?? "2025-01-01T00:00:00.000Z";
  const gone = fields.status === "deleted" || fields.status === "erased";
  return {
    username: `user-${fields.id}`,
    email: `${fields.id}@example.com`,
    firstName: "F",
    lastName: "L",
    role: "user",
    status: "active",
    createdAt,
    updatedAt: createdAt,
    deletedAt: gone ? createdAt : null,
    lastLoginAt: null,
    revision: 1,
    tokensValidFrom: 0,
    ...fields,
  };
}

/** A queue message as the runtime hands it to the consumer, with spies for ack and retry. */
export function fakeMessage(
  body: unknown,
  options: { id?: string; attempts?: number; log?: string[] } = {},
): FakeMessage {
  const id = options.id ?? crypto.randomUUID();
  const log = options.log;
  return {
    id,
    timestamp: new Date(),
    body,
    attempts: options.attempts ?? 1,
    ack: vi.fn(() => void log?.push(`ack ${id}`)),
    retry: vi.fn(() => void log?.push(`retry ${id}`)),
  };
}

/** The user's read row, in its read database (test/support/shards.ts). */
export async function userRow(userId: string): Promise<UserRow | undefined> {
  return drizzle(readDb(userId)).select().from(users).where(eq(users.id, userId)).get();
}

export async function mailsTo(userId: string): Promise<SentEmailRow[]> {
  return drizzle(env.DB).select().from(sentEmails).where(eq(sentEmails.userId, userId));
}

/** `env` with some bindings replaced: the rest are the real ones. */
export function envWith(overrides: Partial<Env>): Env {
  return new Proxy(env, {
    get: (target, key) => (key in overrides ? overrides[key as keyof Env] : Reflect.get(target, key)),
  });
}

/** The real D1 database, except that `batch` runs `around` instead. */
export function dbWithBatch(
  around: (real: D1Database, statements: D1PreparedStatement[]) => Promise<D1Result[]>,
): D1Database {
  const real = env.DB;
  return new Proxy(real, {
    get(target, key) {
      if (key === "batch") return (statements: D1PreparedStatement[]) => around(real, statements);
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * A real user object (so `readStream` can heal gaps) whose outbox is never published: its alarm is
 * held, so the real queue consumer never sees these events and only the batches a test builds do.
 */
export async function quietUser(userId: string, commands: CommandInput[]): Promise<PublicEvent[]> {
  const stub = env.USER_STREAM.getByName(userId);
  await runInDurableObject(stub, (instance: UserStream) => {
    vi.spyOn(instance, "alarm").mockResolvedValue(undefined);
  });
  for (const input of commands) {
    const result = await stub.execute({ userId, input, metadata: noMetadata });
    if (!result.ok) throw new Error(`command ${input.type} rejected: ${JSON.stringify(result.rejection)}`);
  }
  return stub.readStream(1, 100);
}

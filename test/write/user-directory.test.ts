import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DIRECTORY_NAME, directoryOf, listDirectory } from "../../src/write/user-directory";

/** The test environment with the directory over `shards` objects; a new object, so its config is its own. */
const withShards = (shards: number) => ({ ...env, DIRECTORY_SHARDS: String(shards) }) as Env;

const idsFor = (count: number) => {
  const run = crypto.randomUUID();
  return Array.from({ length: count }, (_, i) => `${run}-${String(i).padStart(3, "0")}`);
};

/** Every id `listDirectory` returns, paging `pageSize` at a time from the start. */
async function pageThrough(sharded: Env, pageSize: number): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const page = await listDirectory(sharded, seen[seen.length - 1] ?? "", pageSize);
    expect(page.ids.length).toBeLessThanOrEqual(pageSize);
    seen.push(...page.ids);
    if (page.ids.length < pageSize) return seen;
  }
}

describe("the user directory over several objects", () => {
  it("spreads users over its shards and lists every one once, in id order, across pages", async () => {
    const sharded = withShards(3);
    const ids = idsFor(60);
    await Promise.all(ids.map((id) => directoryOf(sharded, id).register(id)));

    const shardsHolding = new Set(ids.map((id) => directoryOf(sharded, id).id.toString()));
    expect(shardsHolding.size).toBe(3);

    const listed = await pageThrough(sharded, 7);
    expect(listed).toEqual([...listed].sort());
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed.filter((id) => ids.includes(id))).toEqual(ids);
    expect((await listDirectory(sharded, "", 1)).total).toBeGreaterThanOrEqual(ids.length);
  });

  it("keeps listing the users registered before the count grew, and each only once", async () => {
    const before = withShards(1);
    const after = withShards(4);
    const [early, late, twice] = [idsFor(10), idsFor(10), idsFor(1)];
    await Promise.all(early.map((id) => directoryOf(before, id).register(id)));
    // The single directory of before is shard 0 after: same object, its users stay listed.
    expect(directoryOf(before, early[0]!).id.toString()).toBe(
      env.USER_DIRECTORY.getByName(DIRECTORY_NAME).id.toString(),
    );
    await Promise.all(late.map((id) => directoryOf(after, id).register(id)));
    // A user whose registration was repeated across the change is in two objects.
    await env.USER_DIRECTORY.getByName(DIRECTORY_NAME).register(twice[0]!);
    await env.USER_DIRECTORY.getByName(`${DIRECTORY_NAME}:1`).register(twice[0]!);

    const listed = await pageThrough(after, 5);
    expect(new Set(listed).size).toBe(listed.length);
    for (const id of [...early, ...late, ...twice]) expect(listed).toContain(id);
  });
});

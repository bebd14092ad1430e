import { userStream } from "../objects";
import { byShard } from "../write/identity-shards";
import { shardName } from "../write/identity-shard";
import { config } from "../config";
import { listDirectory } from "../write/user-directory";

/** Users copied per call: each is one call to its object, then one call per shard for the page. */
export const USERS_PER_STEP = 100;

export interface MigrationStep {
  users: number;
  /** Keys this step wrote into a shard; 0 for keys already there (a repeated step writes nothing). */
  adopted: number;
  next_cursor: string | null;
  done: boolean;
}

/**
 * One step of the one-off copy from the per-key registry objects into the shards
 * (docs/operations.md, "Upgrading to the sharded identity registry"): a page of the user directory,
 * each user's held keys as its own stream says, adopted by their shards. The page after the last
 * marks every shard copied, so a key without a row stops consulting its old object. Idempotent:
 * run it again from any cursor, or from the start.
 */
export async function migrateIdentities(env: Env, cursor: string, users = USERS_PER_STEP): Promise<MigrationStep> {
  const page = await listDirectory(env, cursor, users);
  if (page.ids.length === 0) {
    const count = config(env).IDENTITY_SHARD_COUNT;
    await Promise.all(
      Array.from({ length: count }, (_, index) =>
        env.IDENTITY_SHARDS.getByName(shardName(index)).markCopied({ index, count }),
      ),
    );
    return { users: 0, adopted: 0, next_cursor: null, done: true };
  }
  const held = await Promise.all(
    page.ids.map(async (owner) => (await userStream(env, owner).heldIdentities()).map((key) => ({ key, owner }))),
  );
  const adopted = await Promise.all(
    byShard(env, held.flat(), ({ key }) => key).map(({ shard, items }) => shard.stub.adoptMany(shard.at, items)),
  );
  return {
    users: page.ids.length,
    adopted: adopted.reduce((a, b) => a + b, 0),
    next_cursor: page.ids[page.ids.length - 1]!,
    done: false,
  };
}

/**
 * The one way to reach a user's object: every caller (http, admin, read, live and the objects
 * themselves) goes through here, so the binding is named in one place. The stub is typed by the
 * object's class, whose RPC surface `src/write/protocol.ts` documents (`UserStreamRpc`).
 */
export function userStream(env: Pick<Env, "USER_STREAM">, userId: string) {
  return env.USER_STREAM.getByName(userId);
}

export type UserStreamStub = ReturnType<typeof userStream>;

/**
 * The one way to reach a user's object: every caller (http, admin, read, live and the objects
 * themselves) goes through here, so the binding is named in one place. The stub is typed by the
 * object's class, whose RPC surface `src/write/protocol.ts` documents (`UserStreamRpc`).
 */
export function userStream(env: Pick<Env, "USER_STREAM">, userId: string) {
  return env.USER_STREAM.getByName(userId);
}

export type UserStreamStub = ReturnType<typeof userStream>;

/** A subscription's object (a webhook, or the welcome mail): its RPC surface is `SubscriptionRpc` in `src/deliver/protocol.ts`. */
export function subscription(env: Pick<Env, "SUBSCRIPTION">, id: string) {
  return env.SUBSCRIPTION.getByName(id);
}

/** The erasure ledger, one object for the service (docs/decisions/0022-erasure-ledger.md). */
export function erasureLedger(env: Pick<Env, "ERASURE_LEDGER">) {
  return env.ERASURE_LEDGER.getByName("erasures");
}

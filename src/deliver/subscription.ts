import { DurableObject } from "cloudflare:workers";

/** One webhook subscription (or the welcome mail): see `SubscriptionRpc` in ./protocol. Being built (issue 23). */
export class Subscription extends DurableObject<Env> {}

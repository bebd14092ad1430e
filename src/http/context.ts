import type { Actor } from "./auth";

/** Hono's environment for every route: the Worker's bindings and what middleware sets. */
export interface AppEnv {
  Bindings: Env;
  Variables: { actor: Actor; requestId: string };
}

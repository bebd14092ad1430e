import type { Actor, TokenClaims } from "./auth";

/**
 * Hono's environment for every route: the Worker's bindings and what middleware sets. Read a
 * variable with `c.get(name)`: each `c.var` access builds a new object of every variable
 * (`Object.fromEntries`), a few per request on the read path (issue 25's profile).
 */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    actor: Actor;
    requestId: string;
    /** The verified bearer token of an authenticated route. */
    token: TokenClaims;
    /** Whether the token is confirmed yet: its user still accepts it (`authenticatedInRoute`). */
    tokenConfirmed: boolean;
    /** The path's `user_id` as the checks before validation read it (`pathUserId`), once per request. */
    pathUserId: string | null;
    /** The user a refused command was aimed at when the path does not name it (a login's user). */
    refusalTarget: string | undefined;
  };
}

import { authenticatedByTarget, authenticatedInRoute } from "../../auth";
import { guardedRoutes } from "../../router";

// Every `/v1/users` route takes a bearer token; scopes and ownership are checked per route.

/** Get and list: the read's own D1 batch checks the token, not a call to the caller's object. */
export const readRoute = guardedRoutes(authenticatedInRoute);

/**
 * Commands, history and events: on the caller itself, the user's object the route calls checks
 * the token in that call (one call).
 */
export const targetRoute = guardedRoutes(authenticatedByTarget);

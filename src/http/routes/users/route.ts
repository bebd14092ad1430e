import { authenticated, authenticatedInRoute } from "../../auth";
import { guardedRoutes } from "../../router";

/** Every `/v1/users` route takes a bearer token; scopes and ownership are checked per route. */
export const userRoute = guardedRoutes(authenticated);

/**
 * Get, list and the commands: their own I/O confirms the token (the read's D1 batch, the object a
 * self-command goes to), which saves a call to the caller's object on every request.
 */
export const routeConfirmingToken = guardedRoutes(authenticatedInRoute);

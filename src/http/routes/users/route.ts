import { authenticated, authenticatedForCommand, authenticatedInRoute } from "../../auth";
import { guardedRoutes } from "../../router";

/** Every `/v1/users` route takes a bearer token; scopes and ownership are checked per route. */
export const userRoute = guardedRoutes(authenticated);

/** Get and list: the read's own D1 batch checks the token, not a call to the caller's object. */
export const readRoute = guardedRoutes(authenticatedInRoute);

/** Commands: on the caller itself, the object the command goes to checks the token (one call). */
export const commandRoute = guardedRoutes(authenticatedForCommand);

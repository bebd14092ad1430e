import { authenticated } from "../../auth";
import { guardedRoutes } from "../../router";

/** Every `/v1/users` route takes a bearer token; scopes and ownership are checked per route. */
export const userRoute = guardedRoutes(authenticated);

import type { z } from "zod";
import type { ErrorBody } from "../../src/http/errors";
import type { CommandResponse, EventsPage, LoginResponse, User, UserList } from "../../src/http/schemas";

/** Response bodies as the routes declare them: derived from their zod schemas, never restated. */
export type UserView = z.infer<typeof User>;
export type UserListBody = z.infer<typeof UserList>;
export type EventsPageBody = z.infer<typeof EventsPage>;
export type CommandBody = z.infer<typeof CommandResponse>;
export type LoginBody = z.infer<typeof LoginResponse>;
export type { ErrorBody };

import { z } from "@hono/zod-openapi";
import { EventMessage } from "../domain/events";
import { FIELD_MAX } from "../domain/rules";
import type { PublicUser } from "../domain/user";
import { parseUserId } from "./ids";
import { checkEmail } from "./request-validation";

/** Request and response shapes of the contract; HTTP-only, so the domain can change separately. */

/** A path id in any spelling the reference accepts, normalised here, once, before anything sees it. */
export const UserId = z
  .string()
  .transform((text, ctx) => {
    const id = parseUserId(text);
    if (id === null) ctx.addIssue({ code: "custom", message: "Not a UUID" });
    return id ?? z.NEVER;
  })
  .openapi({
    type: "string",
    format: "uuid",
    description: "Any spelling the reference accepts (hyphens optional, any case, braces, `urn:uuid:`)",
    example: "0b9f2f0e-1c3a-4d5e-8f60-7a8b9c0d1e2f",
  });

export const UserIdParams = z.object({ user_id: UserId.openapi({ param: { name: "user_id", in: "path" } }) });

export const CommandHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(FIELD_MAX.idempotencyKey)
    .optional()
    .openapi({ description: "Retry-safe key: the same key and body replay the first response." }),
  "if-match": z
    .string()
    .regex(/^(W\/)?"?\d+"?$/)
    .optional()
    .openapi({ description: 'Apply only if the user\'s stream is at this revision, e.g. "3".' }),
});

const name = z.string().max(FIELD_MAX.name);

// Bodies ignore unknown fields, as pydantic models do: a reference client's extra keys are dropped.
// Email syntax and a non-empty password are the request's rules (as the reference's `EmailStr` and
// `min_length=1`); username length and the password policy are the domain's.
const email = z.string().max(FIELD_MAX.email).superRefine(checkEmail);

export const CreateUserBody = z
  .object({
    username: z.string().max(FIELD_MAX.username),
    email,
    first_name: name,
    last_name: name,
    password: z.string().min(1).max(FIELD_MAX.password),
    role: z.string().optional().openapi({ description: "Ignored: this endpoint always creates role `user`." }),
  })
  .openapi("CreateUserRequest");

export const UpdateUserBody = z
  .object({ first_name: name.nullish(), last_name: name.nullish(), email: email.nullish() })
  .openapi("UpdateUserRequest");

export const ChangePasswordBody = z
  .object({ current_password: z.string().max(FIELD_MAX.password), new_password: z.string().max(FIELD_MAX.password) })
  .openapi("ChangePasswordRequest");

export const ReasonBody = z.object({ reason: z.string().max(FIELD_MAX.reason).optional() }).openapi("ReasonRequest");

export const RestoreBody = z
  .object({
    reason: z.string().min(1).max(FIELD_MAX.reason).openapi({ example: "Deleted by accident (ticket #4711)" }),
  })
  .openapi("RestoreRequest");

export const LoginBody = z
  .object({ username: z.string().max(FIELD_MAX.username), password: z.string().max(FIELD_MAX.password) })
  .openapi("LoginRequest");

/**
 * The user on the wire: what the user's object (`publicUser`) and the read model (`userView`) both
 * answer, the domain's `PublicUser`, which the check below holds to these fields. It stays a schema
 * of its own because it is the contract: the OpenAPI document, and the reference's nullable names.
 */
export const User = z
  .object({
    id: z.uuid(),
    username: z.string(),
    email: z.string(),
    first_name: z.string().nullable(),
    last_name: z.string().nullable(),
    role: z.enum(["admin", "user"]),
    status: z.enum(["active", "suspended", "deleted", "erased"]),
    created_at: z.string(),
    updated_at: z.string(),
    deleted_at: z.string().nullable(),
    last_login_at: z.string().nullable().openapi({ description: "Time of the latest successful login" }),
    revision: z.number().int(),
  })
  .openapi("User");
/** Compiles only while every `PublicUser` is a contract `User`, with no field more or fewer. */
const _publicUserIsTheContract: Agrees<PublicUser, z.infer<typeof User>> = true;
type Agrees<A, B> = [A] extends [B]
  ? [keyof A] extends [keyof B]
    ? [keyof B] extends [keyof A]
      ? true
      : never
    : never
  : never;

export const UserList = z
  .object({
    next: z.string().nullable(),
    previous: z.string().nullable(),
    count: z.number().int(),
    page: z.number().int(),
    page_size: z.number().int(),
    results: z.array(User),
    next_cursor: z.string().nullable().openapi({
      description: "Pass as `cursor` (with `page` + 1) for the next page, which then starts right after this one.",
    }),
  })
  .openapi("UserList");

export const EventsPage = z
  .object({ results: z.array(EventMessage.openapi("Event")), next_revision: z.number().int().nullable() })
  .openapi("EventsPage");

export const LoginResponse = z
  .object({ access_token: z.string(), token_type: z.literal("bearer"), user: User })
  .openapi("LoginResponse");

export const CommandResponse = z
  .object({ message: z.string(), revision: z.number().int(), user_id: z.uuid().optional() })
  .openapi("CommandResponse");

export const ErrorResponse = z
  .object({ error: z.string(), message: z.string(), type: z.string(), details: z.unknown().optional() })
  .openapi("Error");

const errorContent = { content: { "application/json": { schema: ErrorResponse } } };

/** The error responses a route can give, for the OpenAPI document. */
export function errors(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, { description: "Error", ...errorContent }]));
}

export function jsonBody<T extends z.ZodType>(schema: T, required = true) {
  return { body: { required, content: { "application/json": { schema } } } };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { 200: { description, content: { "application/json": { schema } } } };
}

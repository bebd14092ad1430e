import { z } from "@hono/zod-openapi";

/**
 * `GET /admin/refusals`: the refusals journal. Apart from `schemas.ts` so the console can take the
 * types (`import type`); nothing here imports Worker-only modules.
 */
export const RefusalEntry = z
  .object({
    at: z.string().openapi({ description: "When the command was refused (ISO 8601 UTC)" }),
    actor_id: z
      .string()
      .openapi({ description: "The token's user id, or `anonymous` for a command without a valid token" }),
    target_id: z.string().nullable().openapi({
      description:
        "The user the command was aimed at (a login: the user holding the username given); null for a create, a ticket, a login of a name nobody holds",
    }),
    command: z.string().openapi({ example: "ChangePassword" }),
    status: z.number().int().openapi({ example: 412 }),
    reason: z.string().openapi({
      description:
        "A code the service wrote: the error's type, a business rule, the fields a validation named, `no_token`, `missing_scope:…`; never what the caller sent",
      example: "RevisionMismatch",
    }),
    request_id: z.string(),
  })
  .openapi("RefusalEntry");
export type RefusalEntry = z.infer<typeof RefusalEntry>;

export const RefusalPage = z
  .object({
    results: z.array(RefusalEntry).openapi({ description: "Newest first" }),
    next_cursor: z.string().nullable(),
    suppressed: z.number().int().openapi({
      description:
        "Refusals only counted, not kept (past the cap per actor or target and hour), of the filtered actor and user (all without either) in the hours the range touches",
    }),
  })
  .openapi("RefusalPage");
export type RefusalPage = z.infer<typeof RefusalPage>;

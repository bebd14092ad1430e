import { z } from "@hono/zod-openapi";

/**
 * `GET /admin/mail`: its query and answer. Apart from `schemas.ts` so the console can take the
 * types (`import type`) like the others; nothing here imports Worker-only modules.
 */
export const MailQuery = z.object({
  user_id: z.uuid().optional(),
  state: z
    .enum(["sent", "pending", "dead"])
    .optional()
    .openapi({ description: "Only sent mail (from D1) or only what is owed (the mail subscription's deliveries)" }),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional().openapi({ description: "`next_cursor` of the previous page" }),
});

export const MailEntry = z
  .object({
    user_id: z.string(),
    kind: z.string().openapi({ description: "`welcome`" }),
    state: z.enum(["sent", "pending", "dead"]),
    recipient: z.string().nullable().openapi({ description: "`[erased]` after an erasure; null if unknown" }),
    subject: z.string(),
    sent_at: z.string().nullable(),
    message_id: z.string().nullable().openapi({ description: "What the send_email binding answered" }),
    attempts: z.number().int().nullable(),
    last_error: z.string().nullable(),
    event_id: z.string().openapi({ description: "The USER_CREATED event the mail follows" }),
    next_attempt_at: z.string().nullable(),
  })
  .openapi("MailEntry");
export type MailEntry = z.infer<typeof MailEntry>;

export const MailPage = z.object({ results: z.array(MailEntry), next_cursor: z.string().nullable() });
export type MailPage = z.infer<typeof MailPage>;

import { z } from "@hono/zod-openapi";

/** Any instant `Date.parse` reads, normalised to ISO 8601 UTC: the form the read model stores and compares. */
const instant = z
  .string()
  .refine((value) => !Number.isNaN(Date.parse(value)), "Input should be a valid datetime")
  .transform((value) => new Date(value).toISOString());

/**
 * The query fields of a journal read newest first within a time window (the audit log, the
 * refusals): `from` and `to` inclusive, a page size, the previous page's cursor. Spread into the
 * route's own `z.object` next to its filters.
 */
export const timeWindowPage = {
  from: instant.optional().openapi({ description: "ISO 8601, inclusive" }),
  to: instant.optional().openapi({ description: "ISO 8601, inclusive" }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(500).optional().openapi({ description: "`next_cursor` of the previous page" }),
};

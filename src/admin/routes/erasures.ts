import { z } from "@hono/zod-openapi";
import { ErasureEntry } from "../../domain/erasure-ledger";
import { createRouter } from "../../http/router";
import { decimalInt } from "../../http/query-params";
import { errors, jsonResponse } from "../../http/schemas";
import { erasureLedger } from "../../objects";
import { adminRoute } from "../auth";

/** One entry of the erasure ledger as listed: which user, when, why as a code, by which request and admin; nothing personal. */
const ErasureListed = ErasureEntry.extend({
  seq: z.number().int().openapi({ description: "The entry's place in the ledger, in the order recorded" }),
  recorded_at: z
    .string()
    .openapi({ description: "When the ledger recorded it (the erasure's own time is `erased_at`)" }),
}).openapi("ErasureLedgerEntry");

const ErasurePage = z
  .object({
    results: z.array(ErasureListed),
    next_cursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page; null: the last" }),
    total: z.number().int().openapi({ description: "Entries in the whole ledger" }),
  })
  .openapi("ErasurePage");

const ErasureQuery = z.object({
  cursor: decimalInt(0).optional().openapi({ description: "`next_cursor` of the previous page" }),
  limit: decimalInt(1, 500).default(100),
});

const list = adminRoute({
  method: "get",
  path: "/",
  summary: "The erasure ledger: every erased user, oldest erasure first, without personal data",
  description:
    "One entry per erased user, kept apart from what a restore or an import brings back; the import, the rebuild, " +
    "the replay and the dead-letter redrive re-apply each erasure it lists (docs/decisions/0022-erasure-ledger.md).",
  request: { query: ErasureQuery },
  responses: { ...jsonResponse(ErasurePage, "Ledger entries"), ...errors(401, 403, 422) },
});

/** `/admin/erasures`: the erasure ledger, paged by its sequence. */
export const erasures = createRouter().openapi(list, async (c) => {
  const { cursor, limit } = c.req.valid("query");
  const { entries, total } = await erasureLedger(c.env).list(cursor ?? 0, limit);
  const last = entries.at(-1);
  const next = entries.length === limit && last ? String(last.seq) : null;
  return c.json({ results: entries, next_cursor: next, total }, 200);
});

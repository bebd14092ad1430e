import { z } from "@hono/zod-openapi";
import { pydanticIssue } from "./request-validation";

/**
 * Query parameters as text rules, not JavaScript's: `Number("0x10")` is 16, `Number("1e1")` 10 and
 * `Number(" ")` 0, so numbers are read in decimal digits only, and filters refuse control
 * characters (`username=%00` would otherwise reach the database's LIKE).
 */
export function decimalInt(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .superRefine((text, ctx) => {
      if (!/^\d{1,15}$/.test(text)) {
        ctx.addIssue(
          pydanticIssue("int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
        );
      }
    })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .openapi({ type: "integer", minimum: min, ...(max < Number.MAX_SAFE_INTEGER ? { maximum: max } : {}) });
}

const CONTROL = /\p{Cc}/u;

export function filterText(maxLength: number) {
  return z
    .string()
    .max(maxLength)
    .superRefine((text, ctx) => {
      if (CONTROL.test(text))
        ctx.addIssue(pydanticIssue("value_error", "Value error, control characters are not allowed"));
    });
}

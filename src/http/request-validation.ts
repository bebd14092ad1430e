import type { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { isValidEmail, normalizeEmail } from "../domain/rules";
import type { AppEnv } from "./context";
import { ApiError, httpError } from "./errors";
import { tooDeepAt } from "./json-depth";

/**
 * The one place where a request that does not match its schema becomes a 422 "Request Validation
 * Error": `details` is a list of `{loc, msg, type}` items worded as the reference (FastAPI +
 * pydantic 2) words them, so a client written for the reference reads the same `type` names and
 * messages here. Every check of a request's shape goes through `requestValidationError`.
 */

export type Location = "body" | "query" | "path" | "header";

export interface ValidationItem {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export function requestValidationError(items: ValidationItem[]): ApiError {
  return new ApiError(422, {
    error: "Request Validation Error",
    message: "Request validation failed",
    type: "RequestValidationError",
    details: items,
  });
}

/** One item, for checks made outside a zod schema (content type, a header, a filter …). */
export function invalidInput(loc: ValidationItem["loc"], type: string, msg: string): ApiError {
  return requestValidationError([{ loc, msg, type }]);
}

/** A `cursor` query parameter that no page of this endpoint handed out. */
export const notACursor = () =>
  invalidInput(["query", "cursor"], "value_error", "Not a cursor returned by this endpoint");

/**
 * A custom zod issue carrying pydantic's wording: `ctx.addIssue(pydanticIssue("value_error", "…"))`
 * inside a `superRefine`, when no built-in zod check says it.
 */
export function pydanticIssue(type: string, msg: string) {
  return { code: "custom" as const, message: msg, params: { pydantic: { type, msg } } };
}

/** zod issues → pydantic items. `input` is what was validated, to tell a missing field from a wrong one. */
export function fromZodIssues(location: Location, issues: readonly z.core.$ZodIssue[], input: unknown) {
  return issues.flatMap((issue) => itemsOf(issue, location, input));
}

function itemsOf(issue: z.core.$ZodIssue, location: Location, input: unknown): ValidationItem[] {
  const loc = [location, ...issue.path.map((key) => (typeof key === "number" ? key : String(key)))];
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      loc: [...loc, key],
      msg: "Extra inputs are not permitted",
      type: "extra_forbidden",
    }));
  }
  const value = valueAt(input, issue.path);
  return [{ loc, ...wording(issue, value, loc.length === 1) }];
}

function wording(issue: z.core.$ZodIssue, value: unknown, whole: boolean): Omit<ValidationItem, "loc"> {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return { type: "missing", msg: "Field required" };
      return typeMismatch(issue.expected, value, whole);
    case "too_small":
      return outOfBounds(BELOW, issue.origin, issue.minimum, issue.inclusive);
    case "too_big":
      return outOfBounds(ABOVE, issue.origin, issue.maximum, issue.inclusive);
    case "invalid_format":
      return formatMismatch(issue.format, value);
    case "invalid_value":
      return { type: "enum", msg: `Input should be ${alternatives(issue.values)}` };
    case "not_multiple_of":
      return { type: "multiple_of", msg: `Input should be a multiple of ${String(issue.divisor)}` };
    case "custom": {
      const given = (issue.params as { pydantic?: Omit<ValidationItem, "loc"> } | undefined)?.pydantic;
      return given ?? { type: "value_error", msg: `Value error, ${issue.message}` };
    }
    case "invalid_union":
    case "invalid_key":
    case "invalid_element":
    case "unrecognized_keys": // one item per key, made by the caller
      return { type: "value_error", msg: `Value error, ${issue.message}` };
  }
}

/** pydantic's words for a value under its minimum, or over its maximum. */
const BELOW = {
  limit: "at least",
  string: "string_too_short",
  list: "too_short",
  compare: "greater_than",
  than: "greater than",
};
const ABOVE = {
  limit: "at most",
  string: "string_too_long",
  list: "too_long",
  compare: "less_than",
  than: "less than",
};

function outOfBounds(
  words: typeof BELOW,
  origin: string,
  bound: number | bigint,
  inclusive: boolean | undefined,
): Omit<ValidationItem, "loc"> {
  if (origin === "string") return { type: words.string, msg: `String should have ${words.limit} ${characters(bound)}` };
  if (origin === "array" || origin === "set") {
    return { type: words.list, msg: `List should have ${words.limit} ${items(bound)} after validation` };
  }
  return inclusive
    ? { type: `${words.compare}_equal`, msg: `Input should be ${words.than} or equal to ${String(bound)}` }
    : { type: words.compare, msg: `Input should be ${words.than} ${String(bound)}` };
}

function typeMismatch(expected: string, value: unknown, whole: boolean): Omit<ValidationItem, "loc"> {
  switch (expected) {
    case "string":
      return { type: "string_type", msg: "Input should be a valid string" };
    case "number":
    case "int":
      if (typeof value === "string" || Number.isNaN(value)) {
        return { type: "int_parsing", msg: "Input should be a valid integer, unable to parse string as an integer" };
      }
      if (typeof value === "number" && !Number.isInteger(value)) {
        return { type: "int_from_float", msg: "Input should be a valid integer, got a number with a fractional part" };
      }
      return { type: "int_type", msg: "Input should be a valid integer" };
    case "boolean":
      return { type: "bool_type", msg: "Input should be a valid boolean" };
    case "array":
      return { type: "list_type", msg: "Input should be a valid list" };
    case "object":
      if (whole && value === null) return { type: "missing", msg: "Field required" };
      // FastAPI validates a whole body "from attributes"; a nested object is a plain dictionary.
      return whole
        ? { type: "model_attributes_type", msg: "Input should be a valid dictionary or object to extract fields from" }
        : { type: "dict_type", msg: "Input should be a valid dictionary" };
    default:
      return { type: `${expected}_type`, msg: `Input should be a valid ${expected}` };
  }
}

function formatMismatch(format: string, value: unknown): Omit<ValidationItem, "loc"> {
  const text = typeof value === "string" ? value : "";
  switch (format) {
    case "email":
      return emailItem(text);
    case "uuid":
    case "guid":
      return { type: "uuid_parsing", msg: `Input should be a valid UUID, ${uuidProblem(text)}` };
    case "datetime":
    case "date":
      return {
        type: "datetime_from_date_parsing",
        msg: `Input should be a valid datetime or date, ${datetimeProblem(text)}`,
      };
    default:
      return { type: "string_pattern_mismatch", msg: `String should match the ${format} format` };
  }
}

/** email-validator's reasons, as pydantic's `EmailStr` reports them. */
function emailItem(email: string): Omit<ValidationItem, "loc"> {
  return {
    type: "value_error",
    msg: `value is not a valid email address: ${emailProblem(email) ?? "The email address is not valid."}`,
  };
}

/**
 * Why an address is refused, in email-validator's words; null when the domain's rule accepts it.
 * The domain's `isValidEmail` decides, so the request and the domain never disagree.
 */
export function emailProblem(raw: string): string | null {
  const email = normalizeEmail(raw);
  if (isValidEmail(email)) return null;
  const parts = email.split("@");
  if (parts.length === 1) return "An email address must have an @-sign.";
  if (parts.length > 2) return "The email address is not valid. It must have exactly one @-sign.";
  const [local = "", domain = ""] = parts;
  if (!local) return "There must be something before the @-sign.";
  if (!domain) return "There must be something after the @-sign.";
  if (email.length > 254) return `The email address is too long (${email.length - 254} characters too many).`;
  if (/\s/.test(local)) return "The email address contains invalid characters before the @-sign: SPACE.";
  if (!domain.includes(".")) return "The part after the @-sign is not valid. It should have a period.";
  return "The part after the @-sign is not valid.";
}

/** A zod check for an email field: the domain's rule, pydantic's wording. */
export function checkEmail(value: string, ctx: z.core.$RefinementCtx<string>): void {
  const problem = emailProblem(value);
  if (problem) ctx.addIssue(pydanticIssue("value_error", `value is not a valid email address: ${problem}`));
}

function uuidProblem(text: string): string {
  const simple = text.replace(/^urn:uuid:/, "");
  const bad = [...simple].findIndex((ch) => !/[0-9a-fA-F-]/.test(ch));
  if (bad >= 0) {
    return `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${simple[bad]}\` at ${bad + 1}`;
  }
  const groups = simple.split("-").length;
  if (groups === 1) return `invalid length: expected length 32 for simple format, found ${simple.length}`;
  return `invalid group count: expected 5, found ${groups}`;
}

function datetimeProblem(text: string): string {
  if (text.length < 10) return "input is too short";
  if (!/^\d{4}/.test(text)) return "invalid character in year";
  return "invalid datetime format";
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const characters = (n: number | bigint) => (Number(n) === 1 ? "1 character" : `${String(n)} characters`);
const items = (n: number | bigint) => (Number(n) === 1 ? "1 item" : `${String(n)} items`);

/** pydantic's list of choices: `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`. */
function alternatives(values: readonly unknown[]): string {
  const quoted = values.map((value) => (typeof value === "string" ? `'${value}'` : String(value)));
  return quoted.length <= 1 ? (quoted[0] ?? "") : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/** What this service reads as JSON: `application/json`, any case, with at most `charset=utf-8`. */
export function isJsonContentType(contentType: string): boolean {
  return /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i.test(contentType.trim());
}

export const NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from";

/**
 * Reads a route's JSON body before its schema sees it, as the reference does: an empty body is a
 * missing body, a body of another content type is not an object, malformed JSON is `json_invalid`
 * at the character where parsing stopped; all 422. No `Content-Type` at all is read as JSON, as
 * FastAPI does. Routes get it from `createRouter` after their own middleware (authentication and
 * permission), so 401 and 403 still come first.
 */
export function readJsonBody(required: boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const contentType = c.req.header("Content-Type");
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0 || (!required && contentType !== undefined && !isJsonContentType(contentType))) {
      // No body: a required one is missing; an optional one is simply absent (the reference's DELETE
      // takes none, and clients often label every request as JSON).
      if (required) throw invalidInput(["body"], "missing", "Field required");
      replaceBody(c, null);
      return next();
    }
    if (contentType !== undefined && !isJsonContentType(contentType)) {
      throw invalidInput(["body"], "model_attributes_type", NOT_AN_OBJECT);
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw httpError(400, "There was an error parsing the body");
    }
    // Before parsing: a body nested thousands deep is no request, and would overflow any walk over it.
    // FastAPI answers a body its parser gives up on (Python's recursion limit) with this 400.
    if (tooDeepAt(text) !== null) throw httpError(400, "There was an error parsing the body");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw invalidInput(["body", stoppedAt(error, text)], "json_invalid", "JSON decode error");
    }
    // `"\ud800"` is valid JSON but no text: stored as sent by the object and as U+FFFD by D1.
    const broken = loneSurrogateAt(parsed, ["body"]);
    if (broken)
      throw invalidInput(
        broken,
        "string_unicode",
        "Input should be a valid string, unable to parse raw data as a unicode string",
      );
    replaceBody(c, text);
    return next();
  };
}

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Where in a parsed body a string (or key) holds an unpaired UTF-16 surrogate, if anywhere. A walk
 * with its own stack, not recursion, so no nesting can overflow the call stack.
 */
function loneSurrogateAt(body: unknown, root: (string | number)[]): (string | number)[] | null {
  // Each entry: a value and where it is; `key` when it is an object's member, whose key is checked first.
  const pending: { value: unknown; at: (string | number)[]; key?: string }[] = [{ value: body, at: root }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value, at, key } = next;
    if (key !== undefined && LONE_SURROGATE.test(key)) return at;
    if (typeof value === "string") {
      if (LONE_SURROGATE.test(value)) return at;
    } else if (Array.isArray(value)) {
      // Pushed last to first, so that they are looked at first to last, as a recursive walk would.
      for (let index = value.length - 1; index >= 0; index--) pending.push({ value: value[index], at: [...at, index] });
    } else if (value && typeof value === "object") {
      const members = Object.entries(value).reverse();
      for (const [name, item] of members) pending.push({ value: item, at: [...at, name], key: name });
    }
  }
  return null;
}

/** The request as the validators downstream should see it: the same body, labelled JSON, or none. */
function replaceBody(c: Context<AppEnv>, text: string | null): void {
  const raw = c.req.raw;
  const headers = new Headers(raw.headers);
  if (text === null) headers.delete("Content-Type");
  else headers.set("Content-Type", "application/json");
  c.req.raw = new Request(raw.url, { method: raw.method, headers, body: text });
  c.req.bodyCache = {};
}

/** Where JSON.parse gave up, when its message says; the reference reports Python's position. */
function stoppedAt(error: unknown, text: string): number {
  const message = error instanceof Error ? error.message : "";
  const position = /position (\d+)/.exec(message);
  if (position) return Number(position[1]);
  return /end of JSON input/.test(message) ? text.length : 0;
}

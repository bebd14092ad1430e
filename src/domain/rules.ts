import unhomoglyph from "unhomoglyph";

/**
 * Field rules of the contract, pure so the decider and the HTTP layer share them.
 *
 * Identities (usernames, emails) are compared as people read them, not as code units: they are
 * normalised with NFKC (fullwidth `ａｄｍｉｎ` is `admin`), characters nobody can see or type
 * (controls, format characters such as zero-width spaces and bidi overrides, private-use, unassigned
 * and lone surrogates) are refused, lengths count user-perceived characters, and the uniqueness key
 * of a username is its Unicode TR39 skeleton, so `аdmin` (Cyrillic а) is taken when `admin` is.
 */

export const USERNAME_MIN_LENGTH = 3;

/** Cc control, Cf format, Co private use, Cn unassigned, Cs lone surrogate; line/paragraph separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}]/u;
/** In free text (names, reasons): only what breaks storage or display, never a script's joiners. */
const BROKEN_TEXT = /[\p{Cs}\p{Cc}]/u;

const graphemes = new Intl.Segmenter("en", { granularity: "grapheme" });

/** Characters as a reader counts them: `😀a` is two, `e` + a combining accent is one. */
export function characterCount(text: string): number {
  let count = 0;
  for (const _ of graphemes.segment(text)) count += 1;
  return count;
}

/** NFKC and trimmed; what is stored. NFKC leaves lone surrogates alone, so they are still seen. */
export function normalizeUsername(raw: string): string {
  return raw.normalize("NFKC").trim();
}

/** NFKC, trimmed, domain lower-cased; the local part keeps its case (it is the mailbox owner's). */
export function normalizeEmail(raw: string): string {
  const trimmed = raw.normalize("NFKC").trim();
  const at = trimmed.lastIndexOf("@");
  if (at < 0) return trimmed;
  return trimmed.slice(0, at) + "@" + trimmed.slice(at + 1).toLowerCase();
}

/** Why a normalised username cannot be one, or null. */
export function usernameProblem(
  username: string,
): { rule: string; message: string; details: Record<string, unknown> } | null {
  if (INVISIBLE.test(username)) {
    return {
      rule: "username_invisible_character",
      message: "Username must not contain control, invisible, private-use or unpaired surrogate characters",
      details: { reason: "invisible_character" },
    };
  }
  if (characterCount(username) < USERNAME_MIN_LENGTH) {
    return {
      rule: "username_too_short",
      message: `Username must be at least ${USERNAME_MIN_LENGTH} characters long`,
      details: { username, min_length: USERNAME_MIN_LENGTH },
    };
  }
  return null;
}

// One @, no spaces, a dotted domain: what a mail server could deliver to, without RFC 5322 exotica.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/u;

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && !INVISIBLE.test(email) && EMAIL.test(email);
}

/** Whether free text (a name, a reason) can be stored and shown as sent. */
export function isStorableText(text: string): boolean {
  return !BROKEN_TEXT.test(text);
}

/**
 * The key under which a username or email is unique. Both are case-insensitive after NFKC. A
 * username's key is its TR39 skeleton (`unhomoglyph` maps each confusable to its prototype, from
 * Unicode's confusables.txt), so look-alikes collide: `аdmin`, `admin` and `adrnin` share one. An
 * email's is not: `rn@x.io` and `m@x.io` are different mailboxes whose owners both must be able to
 * register; invisible characters are refused in emails instead.
 */
export function identityKey(kind: "username" | "email", value: string): string {
  const normalised = value.normalize("NFKC").trim();
  if (kind === "email") return `email:${normalised.toLowerCase()}`;
  return `username:${caselessSkeleton(normalised)}`;
}

/**
 * TR39's skeleton is case-sensitive, uniqueness here is not. The skeleton is taken before and after
 * lower-casing, so capitals meet their look-alikes (Greek `ΑΒΕ` is `ABE` is `abe`), then `i` and `l`
 * are one letter: a capital `I` reads as `l` but lower-cases to `i`, so `AIice` must meet `alice`.
 */
function caselessSkeleton(text: string): string {
  return skeleton(skeleton(text).toLowerCase()).replaceAll("i", "l");
}

/** TR39 skeleton: NFD, each confusable to its prototype, NFD again. */
export function skeleton(text: string): string {
  return unhomoglyph(text.normalize("NFD")).normalize("NFD");
}

/**
 * The longest value of each field a command takes, in UTF-16 code units (what zod's `.max` counts):
 * the request schemas (src/http/schemas.ts, the admin's routes) and the import gate
 * (src/domain/import-gate.ts) read them here, so a stored value is never longer than a request's.
 */
export const FIELD_MAX = {
  username: 150,
  email: 254,
  /** A name as a user sends it (create, update). */
  name: 100,
  /** A name as an admin's correction sends it. */
  correctedName: 150,
  reason: 1000,
  password: 1024,
  idempotencyKey: 255,
} as const;

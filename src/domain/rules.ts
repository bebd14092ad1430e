/** Field rules of the contract, pure so the decider and the HTTP layer share them. */

export const USERNAME_MIN_LENGTH = 3;

/** Trimmed, domain lower-cased; the local part keeps its case (it is the mailbox owner's). */
export function normalizeEmail(raw: string): string {
  const trimmed = raw.trim();
  const at = trimmed.lastIndexOf("@");
  if (at < 0) return trimmed;
  return trimmed.slice(0, at) + "@" + trimmed.slice(at + 1).toLowerCase();
}

// One @, no spaces, a dotted domain: what a mail server could deliver to, without RFC 5322 exotica.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && EMAIL.test(email);
}

/** The key under which a username or email is unique: case-insensitive. */
export function identityKey(kind: "username" | "email", value: string): string {
  return `${kind}:${value.trim().toLowerCase()}`;
}

/**
 * The opaque `cursor` of a paged admin or list read: the page's last key as a JSON array, base64url
 * without padding (safe in a query string as it is). Each endpoint checks the shape of its own key.
 */
export function encodeCursorKey(key: readonly unknown[]): string {
  return btoa(JSON.stringify(key)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The key of `encodeCursorKey`, or null when `text` is not one (a caller's guess, a truncation). */
export function decodeCursorKey(text: string): unknown[] | null {
  try {
    const key: unknown = JSON.parse(atob(text.replaceAll("-", "+").replaceAll("_", "/")));
    return Array.isArray(key) ? key : null;
  } catch {
    return null;
  }
}

/**
 * User ids as the reference reads them (Python's `uuid.UUID(text)`): `urn:` and `uuid:` dropped,
 * braces at the ends dropped, hyphens anywhere dropped, then exactly 32 hex digits in any case, any
 * version or variant. Answered, stored and compared in one spelling only: lower-case, hyphenated.
 * (Python's parser, via `int(text, 16)`, would also take a `0x` prefix, `_` between digits, a `+`
 * or surrounding spaces inside those 32 characters; those are no UUID spellings and are refused.)
 */
export function parseUserId(text: string): string | null {
  const hex = text
    .replaceAll("urn:", "")
    .replaceAll("uuid:", "")
    .replace(/^[{}]+|[{}]+$/g, "")
    .replaceAll("-", "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return null;
  const id = hex.toLowerCase();
  return `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
}

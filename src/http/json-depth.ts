/**
 * How deep a JSON text nests, measured on the text before anything parses it. The service's bodies
 * are flat objects; a body of thousands of nested brackets is no request, and every recursive walk
 * over a parsed value (ours, zod's, the RPC serialiser's) would overflow the stack on it.
 */

/** Deeper than any body or import line the service reads (theirs nest 2 or 3 levels). */
export const MAX_JSON_DEPTH = 64;

/**
 * The offset of the first bracket that opens level `limit + 1`, or null when the text nests no
 * deeper than `limit`. One pass, no recursion; brackets inside strings do not count. Says nothing
 * about whether the text is valid JSON: JSON.parse decides that afterwards.
 */
export function tooDeepAt(text: string, limit = MAX_JSON_DEPTH): number | null {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) i = endOfString(text, i);
    else if (ch === OPEN_BRACE || ch === OPEN_BRACKET) {
      depth += 1;
      if (depth > limit) return i;
    } else if (ch === CLOSE_BRACE || ch === CLOSE_BRACKET) depth -= 1;
  }
  return null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** The offset of the quote closing the string opened at `start` (or the text's end). */
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === BACKSLASH) i += 1;
    else if (ch === QUOTE) return i;
  }
  return text.length;
}

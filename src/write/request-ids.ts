/**
 * What identifies a command request to the object that answers it again: the user id a create is
 * sent to, and the fingerprint that tells a retry under an `Idempotency-Key` from a different
 * request under the same key.
 */

/**
 * A create's user id: random, or derived from the caller and its Idempotency-Key so that a retry
 * reaches the same user's object and is answered from its idempotency record.
 */
export async function newUserId(actorId: string, idempotencyKey: string | undefined): Promise<string> {
  if (!idempotencyKey) return crypto.randomUUID();
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`create-user\n${actorId}\n${idempotencyKey}`)),
  );
  const bytes = digest.slice(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8: custom, name-based
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * HMAC of the request under the server's secret: bodies may hold passwords, and a plain hash of a
 * password stored next to the events would be one more thing to crack.
 */
export async function requestFingerprint(
  key: CryptoKey,
  request: { method: string; path: string; body: unknown },
): Promise<string> {
  const material = `${request.method} ${request.path.replace(/\/$/, "")} ${canonicalJson(request.body)}`;
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(material));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

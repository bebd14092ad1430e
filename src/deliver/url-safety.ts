/**
 * Whether a webhook's URL may be called: a subscription makes the Worker send requests wherever an
 * admin points it, so it must not become a way into the platform's or a neighbour's private network
 * (SSRF). Pure: the caller passes `WEBHOOK_INSECURE_HOSTS`.
 *
 * What this cannot see: a public hostname whose DNS answers with a private address. Workers cannot
 * resolve names before a fetch, so that check is left to the platform, which refuses private and
 * loopback destinations in production (docs/subscriptions.md).
 */
export type UrlVerdict = { ok: true; url: string } | { ok: false; reason: string };

/** Names that reach a cloud's instance metadata or the machine itself, whatever they resolve to. */
const BLOCKED_NAMES = new Set([
  "localhost",
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.azure.com",
]);
const BLOCKED_SUFFIXES = [".localhost", ".internal", ".local", ".localdomain", ".home.arpa"];

export function checkWebhookUrl(text: string, insecureHosts: readonly string[]): UrlVerdict {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: "not an absolute URL" };
  }
  if (url.username || url.password) return { ok: false, reason: "credentials in the URL are not allowed" };
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: "the URL must be https://" };
  // URL has already normalised the host: lower case, IPv4 in dotted decimal (2130706433 → 127.0.0.1).
  const host = url.hostname;
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  if (insecureHosts.includes(host) || insecureHosts.includes(bare)) return { ok: true, url: url.href };
  if (url.protocol !== "https:") return { ok: false, reason: "the URL must be https://" };
  const refused = refusedHost(bare);
  return refused ? { ok: false, reason: refused } : { ok: true, url: url.href };
}

function refusedHost(host: string): string | null {
  const name = host.replace(/\.$/, "");
  if (BLOCKED_NAMES.has(name) || BLOCKED_SUFFIXES.some((suffix) => name.endsWith(suffix)))
    return `${name} is a local or metadata host`;
  const v4 = parseIpv4(name);
  if (v4) return privateIpv4(v4) ? `${name} is a private, loopback or link-local address` : null;
  if (name.includes(":")) return privateIpv6(name) ? `${name} is a private, loopback or link-local address` : null;
  // A single label (`intranet`) only means something on a private network.
  if (!name.includes(".")) return `${name} is not a public host name`;
  return null;
}

function parseIpv4(host: string): number[] | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? bytes : null;
}

function privateIpv4([a, b]: number[]): boolean {
  if (a === undefined || b === undefined) return true;
  return (
    a === 0 || // "this network"
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata (169.254.169.254)
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) || // IETF protocol assignments
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224 // multicast, reserved, broadcast
  );
}

function privateIpv6(host: string): boolean {
  const groups = expandIpv6(host);
  if (!groups) return true; // unparseable: refuse rather than guess
  if (groups.every((g) => g === 0)) return true; // ::
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return true; // ::1
  const first = groups[0]!;
  if ((first & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((first & 0xff00) === 0xff00) return true; // multicast
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible addresses reach the IPv4 address inside.
  if (groups.slice(0, 5).every((g) => g === 0) && (groups[5] === 0xffff || groups[5] === 0)) {
    const v4 = [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff];
    return privateIpv4(v4);
  }
  if (first === 0x64 && groups[1] === 0xff9b) return true; // NAT64 onto any IPv4 address
  return false;
}

/** The eight 16-bit groups of an IPv6 address (as URL prints it: hex, `::` compression, no zone). */
function expandIpv6(host: string): number[] | null {
  const halves = host.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...head, ...Array<number>(missing).fill(0), ...tail];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

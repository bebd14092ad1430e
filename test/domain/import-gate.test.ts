import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  importLine,
  lift,
  planImport,
  type ImportContext,
  type ImportTarget,
  type StoredEvent,
} from "../../src/domain/import";
import { IMPORT_EVENT_MAX_BYTES } from "../../src/domain/import-gate";
import { FIELD_MAX, isValidEmail, usernameProblem } from "../../src/domain/rules";
import { fold, initialState, type UserState } from "../../src/domain/user";
import { exportLine } from "../support/import-fixtures";

/**
 * The import gate (issue 24): an imported event enters a stream only if a command could have made
 * it from the state before it, within the request schemas' caps. Each repro of the issue, then a
 * property: over random streams of valid and invalid events, the import accepts exactly those an
 * independent model of the commands' rules accepts, and what it accepts folds into a user who obeys
 * the rules (erased stays erased, caps hold, identities valid).
 */

const context: ImportContext = {
  importRequestId: "import-req-gate",
  instant: (text) => {
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? null : new Date(ms).toISOString();
  },
};
const USER = "5a7e0000-0000-4000-8000-000000000001";
const HASH = "$2b$04$XN2PVyimi/mfTMRwOHAs/.ZacDHSy.YfFATGNfUNV2mLVT/eNn./O";
const none = new Map<number, string>();
const noIds = new Map<string, number>();

function id(revision: number): string {
  return `e0000000-0000-4000-8000-${String(revision).padStart(12, "0")}`;
}

/** A line of our own export, as `GET /admin/export?secrets=include` writes it. */
function line(revision: number, event_type: string, data: Record<string, unknown>, metadata = {}): unknown {
  return exportLine(USER, id(revision), revision, event_type, data, metadata);
}

const created = (data: Record<string, unknown> = {}) => ({
  username: "sarah",
  email: "sarah@example.com",
  first_name: "Sarah",
  last_name: "K",
  password_hash: HASH,
  hashing_method: "bcrypt",
  role: "user",
  ...data,
});

function parsed(value: unknown): StoredEvent {
  const result = importLine(value, context);
  if (!result.ok) throw new Error(result.error);
  return result.event;
}

function plan(lines: unknown[], state: UserState = initialState, target?: ImportTarget) {
  const events = lines.map(parsed);
  return planImport(state, events, none, noIds, target);
}

describe("the caps of a request hold for an imported line", () => {
  it("refuses the 204,800-character first_name that jammed the user's outbox", () => {
    const result = importLine(line(1, "USER_CREATED", created({ first_name: "x".repeat(204_800) })), context);
    expect(result).toMatchObject({ ok: false, error: /first_name is longer than 100|more than 16384/ });
  });

  it("refuses each field one character over the request's cap, and accepts it at the cap", () => {
    const over: [string, Record<string, unknown>][] = [
      ["username", { username: "u".repeat(FIELD_MAX.username + 1) }],
      ["first_name", { first_name: "f".repeat(FIELD_MAX.name + 1) }],
      ["last_name", { last_name: "l".repeat(FIELD_MAX.name + 1) }],
    ];
    for (const [field, data] of over) {
      expect(importLine(line(1, "USER_CREATED", created(data)), context)).toMatchObject({
        ok: false,
        error: new RegExp(`data.${field} is longer`),
      });
    }
    expect(importLine(line(1, "USER_CREATED", created({ first_name: "f".repeat(FIELD_MAX.name) })), context).ok).toBe(
      true,
    );
    const deleted = line(2, "USER_DELETED", { reason: "r".repeat(FIELD_MAX.reason + 1) });
    expect(importLine(deleted, context)).toMatchObject({ ok: false, error: /data.reason is longer than 1000/ });
  });

  it("refuses metadata no command writes: too long, or with control characters", () => {
    const long = line(1, "USER_CREATED", created(), { actor_username: "a".repeat(10_000) });
    expect(importLine(long, context)).toMatchObject({ ok: false, error: /metadata.actor_username is longer/ });
    const forged = line(1, "USER_CREATED", created(), { reason: "ok\u0000<script>" });
    expect(importLine(forged, context)).toMatchObject({ ok: false, error: /metadata.reason holds control/ });
  });

  it("bounds the whole event well below a queue message (128 KB)", () => {
    expect(IMPORT_EVENT_MAX_BYTES).toBeLessThanOrEqual(32 * 1024);
    const hash = "h".repeat(IMPORT_EVENT_MAX_BYTES);
    expect(importLine(line(1, "USER_CREATED", created({ password_hash: hash })), context)).toMatchObject({
      ok: false,
      error: /more than 16384/,
    });
  });
});

describe("an imported identity follows the rules a command follows", () => {
  it.each([
    ["zero-width joiner", "ad\u200dmin"],
    ["soft hyphen", "ad\u00admin"],
    ["NUL", "ad\u0000min"],
    ["bidi override", "\u202eadmin"],
    ["too short", "ab"],
    ["not normalised (fullwidth)", "ａｄｍｉｎ"],
    ["not trimmed", " admin "],
  ])("refuses a username with a %s", (_, username) => {
    expect(plan([line(1, "USER_CREATED", created({ username }))])).toMatchObject({ ok: false, error: /username/ });
  });

  it("refuses an invalid email, and one whose domain a command would have lower-cased", () => {
    for (const email of ["not-an-email", "a@b", "sarah@EXAMPLE.com", "sa rah@example.com"]) {
      expect(plan([line(1, "USER_CREATED", created({ email }))])).toMatchObject({ ok: false, error: /email/ });
    }
  });

  it("accepts what the API accepts: HTML is text, admins may be imported", () => {
    expect(plan([line(1, "USER_CREATED", created({ username: "<b>sarah</b>", role: "admin" }))])).toMatchObject({
      ok: true,
    });
  });
});

describe("an imported event must be one the stream's history allows", () => {
  const life = [line(1, "USER_CREATED", created()), line(2, "USER_ERASED", {})];

  it("nothing follows an erasure: no update, no restore bringing the user back", () => {
    const update = line(3, "USER_UPDATED", { email: "new@example.com" });
    expect(plan([...life, update])).toMatchObject({ ok: false, error: /revision 3: USER_UPDATED refused/ });
    const restore = line(3, "USER_RESTORED", { reason: "back", status: "active" });
    expect(plan([...life, restore])).toMatchObject({
      ok: false,
      error: /USER_RESTORED refused .*An erased user cannot be restored \(restore_erased\)/,
    });
    // The same, onto a stream already erased by an earlier import.
    const erased = fold(life.map(parsed).map(lift));
    expect(plan([{ ...(restore as object), revision: 3 }], erased)).toMatchObject({ ok: false });
  });

  it("a deleted user is neither updated nor given a new password; a restore brings back the status it had", () => {
    const deleted = [line(1, "USER_CREATED", created()), line(2, "USER_DELETED", { reason: null })];
    expect(plan([...deleted, line(3, "USER_UPDATED", { first_name: "X" })])).toMatchObject({
      ok: false,
      error: /user_update_deleted/,
    });
    expect(
      plan([...deleted, line(3, "PASSWORD_CHANGED", { password_hash: HASH, hashing_method: "bcrypt" })]),
    ).toMatchObject({ ok: false, error: /password_change_deleted/ });
    expect(plan([...deleted, line(3, "USER_RESTORED", { reason: "oops", status: "suspended" })])).toMatchObject({
      ok: false,
      error: /data.status is "suspended", a command would store "active"/,
    });
    expect(plan([...deleted, line(3, "USER_RESTORED", { reason: "oops", status: "active" })])).toMatchObject({
      ok: true,
    });
  });

  it("a stream whose erasure comes with it arrives with its personal data destroyed, as exported", () => {
    const erasedBackup = [
      line(1, "USER_CREATED", { ...created(), username: "[erased]", email: "[erased]", first_name: "[erased]" }),
      line(2, "USER_ERASED", {}),
    ];
    expect(plan(erasedBackup)).toMatchObject({ ok: true });
    // Without the erasure, `[erased]` is no email.
    expect(plan(erasedBackup.slice(0, 1))).toMatchObject({ ok: false, error: /email/ });
  });
});

describe("an import never changes a stream a command created, unless the operator says so", () => {
  const byCommand = fold(
    [line(1, "USER_CREATED", created())]
      .map(parsed)
      .map((event) => lift({ ...event, metadata: { ...event.metadata } })),
  );
  const takeover = line(2, "PASSWORD_CHANGED", { password_hash: HASH, hashing_method: "bcrypt" });

  it("refuses a PASSWORD_CHANGED onto a user created through the API", () => {
    expect(plan([takeover], byCommand, { createdByImport: false, ontoExisting: false })).toMatchObject({
      ok: false,
      error: /created by a command, not an import: .*onto_existing=allow/,
    });
  });

  it("takes it with onto_existing=allow, and from a stream an earlier import created", () => {
    expect(plan([takeover], byCommand, { createdByImport: false, ontoExisting: true })).toMatchObject({ ok: true });
    expect(plan([takeover], byCommand, { createdByImport: true, ontoExisting: false })).toMatchObject({ ok: true });
  });
});

// ---- the property: accepted ⇔ the commands' rules, modelled apart ----

type Status = "none" | "active" | "suspended" | "deleted" | "erased";
/** A generated event, with whether each of its values is one a command accepts. */
interface Drawn {
  type: string;
  data: Record<string, unknown>;
  valuesValid: boolean;
  /** For a restore: the status it claims, checked by the model against the one before the deletion. */
  restores?: "active" | "suspended";
}

const tagged = <T>(valid: T[], invalid: T[]) =>
  fc.oneof(
    fc.constantFrom(...valid).map((value) => ({ value, valid: true })),
    fc.constantFrom(...invalid).map((value) => ({ value, valid: false })),
  );
const usernames = tagged(
  ["sarah", "Bob_2", "zoë", "<i>x</i>"],
  ["ad\u200dmin", "ad\u00admin", "ad\u0000min", "\u202eadmin", "ab", "u".repeat(10_000), " padded "],
);
const emails = tagged(["s@example.com", "o'neil@example.org"], ["not-an-email", "a@b", "S@EXAMPLE.COM", "x@"]);
const names = tagged(["Ann", "", "Ünal"], ["n".repeat(101), "a\u0007b"]);
const reasons = tagged(["typo", "ticket #1"], ["r".repeat(1001), "bad\u0000"]);

const drawn: fc.Arbitrary<Drawn> = fc.oneof(
  fc.tuple(usernames, emails, names).map(([u, e, n]) => ({
    type: "USER_CREATED",
    data: created({ username: u.value, email: e.value, first_name: n.value }),
    valuesValid: u.valid && e.valid && n.valid,
  })),
  fc.tuple(names, emails).map(([n, e]) => ({
    type: "USER_UPDATED",
    // An empty name is "unchanged" to an update: a command never stores it.
    data: { first_name: n.value, email: e.value },
    valuesValid: n.valid && e.valid && n.value !== "",
  })),
  fc.tuple(usernames, reasons).map(([u, r]) => ({
    type: "USER_CORRECTED",
    data: { username: u.value, reason: r.value },
    valuesValid: u.valid && r.valid,
  })),
  reasons.map((r) => ({ type: "USER_DELETED", data: { reason: r.value }, valuesValid: r.valid })),
  fc.tuple(reasons, fc.constantFrom("active" as const, "suspended" as const)).map(([r, status]) => ({
    type: "USER_RESTORED",
    data: { reason: r.value, status },
    valuesValid: r.valid,
    restores: status,
  })),
  fc.constantFrom("USER_SUSPENDED", "USER_REACTIVATED", "USER_ERASED").map((type) => ({
    type,
    data: {},
    valuesValid: true,
  })),
  fc.constant({
    type: "PASSWORD_CHANGED",
    data: { password_hash: HASH, hashing_method: "bcrypt" },
    valuesValid: true,
  }),
  fc.constant({ type: "USER_LOGGED_IN", data: { method: "password" }, valuesValid: true }),
);

/** The commands' rules, written from the API's documentation, not from the decider. */
function modelAccepts(events: Drawn[]): boolean {
  let status: Status = "none";
  let beforeDelete: "active" | "suspended" = "active";
  for (const event of events) {
    if (!event.valuesValid) return false;
    const live = status === "active" || status === "suspended";
    switch (event.type) {
      case "USER_CREATED":
        if (status !== "none") return false;
        status = "active";
        break;
      case "USER_UPDATED":
      case "USER_CORRECTED":
      case "PASSWORD_CHANGED":
        if (!live) return false;
        break;
      case "USER_DELETED":
        if (!live) return false;
        beforeDelete = status as "active" | "suspended";
        status = "deleted";
        break;
      case "USER_RESTORED":
        if (status !== "deleted" || event.restores !== beforeDelete) return false;
        status = beforeDelete;
        break;
      case "USER_SUSPENDED":
        if (status !== "active") return false;
        status = "suspended";
        break;
      case "USER_REACTIVATED":
        if (status !== "suspended") return false;
        status = "active";
        break;
      case "USER_ERASED":
        if (status === "none" || status === "erased") return false;
        status = "erased";
        break;
      case "USER_LOGGED_IN":
        if (status !== "active") return false;
        break;
    }
  }
  return true;
}

describe("property: an imported stream is accepted exactly when a command could have written it", () => {
  it("accepted ⇔ the model's rules, and an accepted stream folds into a user who obeys them", () => {
    fc.assert(
      fc.property(fc.array(drawn, { minLength: 1, maxLength: 8 }), (events) => {
        const lines = events.map((event, i) => line(i + 1, event.type, event.data));
        const parsedLines = lines.map((value) => importLine(value, context));
        const stored = parsedLines.flatMap((result) => (result.ok ? [result.event] : []));
        const accepted = stored.length === lines.length && planImport(initialState, stored, none, noIds).ok;
        expect(accepted).toBe(modelAccepts(events));
        if (!accepted) return;
        const user = fold(stored.map(lift)).user!;
        const erasedAt = events.findIndex((event) => event.type === "USER_ERASED");
        if (erasedAt >= 0) {
          // Erased stays erased: nothing was accepted after the tombstone.
          expect(erasedAt).toBe(events.length - 1);
          expect(user.status).toBe("erased");
          return;
        }
        expect(usernameProblem(user.username)).toBeNull();
        expect(user.username.length).toBeLessThanOrEqual(FIELD_MAX.username);
        expect(isValidEmail(user.email)).toBe(true);
        expect(user.first_name.length).toBeLessThanOrEqual(FIELD_MAX.correctedName);
        expect(user.last_name.length).toBeLessThanOrEqual(FIELD_MAX.correctedName);
      }),
      { numRuns: 400 },
    );
  });
});

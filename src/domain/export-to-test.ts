/**
 * The other half of the export-to-test helper: from a stream as `GET /admin/users/{id}/stream`
 * exports it, write the source of a domain test that pins what happened at one revision:
 *
 *   - the export up to that revision folds to the user as it was then (`stateFromExport`);
 *   - the event at that revision follows from the history before it: `given(...).when(...).then(...)`.
 *
 * The console's "make a test from this" shows this code; `test/domain/write-test.test.ts` checks that
 * every case it writes holds and that a written file compiles and passes. Pure, and free of
 * test-runner imports, so the browser bundle can use it; in src, because src never imports test/.
 * The file it writes lives in test/domain/ and imports `./from-export` and `./decider-spec` there.
 */
import type { UserCommand } from "./commands";
import type { RecordedEvent, UserEvent } from "./events";
import { eventsFromExport, stateFromExport } from "./from-export";
import type { UserState } from "./user";

export interface TestCase {
  /** The export's lines up to and including `revision`. */
  export: string;
  revision: number;
  state: UserState;
  /** The event at `revision`, and the command that decides it from the history before, if one can. */
  event: UserEvent;
  command: UserCommand | null;
  actor: string | null;
}

/**
 * The command whose decision is the event, or null where the export cannot hold one: a creation or
 * password change (or rehash) needs the password, which no export carries.
 */
export function commandFor(event: UserEvent): UserCommand | null {
  switch (event.event_type) {
    case "USER_UPDATED":
      return { type: "UpdateUser", ...event.data };
    case "USER_DELETED":
      return event.data.reason === null ? { type: "DeleteUser" } : { type: "DeleteUser", reason: event.data.reason };
    case "USER_SUSPENDED":
      return { type: "SuspendUser" };
    case "USER_REACTIVATED":
      return { type: "ReactivateUser" };
    case "USER_CORRECTED": {
      const { reason, ...changes } = event.data;
      return { type: "CorrectUser", changes, reason };
    }
    case "USER_ERASED":
      return { type: "EraseUser" };
    case "USER_RESTORED":
      return { type: "RestoreUser", reason: event.data.reason };
    case "USER_LOGGED_IN":
      return { type: "RecordLogin", method: event.data.method };
    case "USER_CREATED":
    case "PASSWORD_CHANGED":
    case "PASSWORD_REHASHED":
      return null;
  }
}

export function caseFromExport(ndjson: string, revision?: number): TestCase {
  const all = eventsFromExport(ndjson);
  const at = revision ?? all.length;
  const recorded: RecordedEvent | undefined = all[at - 1];
  if (!recorded) throw new Error(`the export has no revision ${at}`);
  const lines = ndjson.split("\n").filter((line) => line.trim() !== "");
  const upTo = `${lines.slice(0, at).join("\n")}\n`;
  const event = { event_type: recorded.event_type, data: recorded.data } as UserEvent;
  return {
    export: upTo,
    revision: at,
    state: stateFromExport(upTo),
    event,
    command: commandFor(event),
    actor: recorded.metadata.actor_username,
  };
}

/** The test file's source, ready to save as `test/domain/<name>.test.ts`. */
export function writeTestFromExport(ndjson: string, revision?: number): string {
  const c = caseFromExport(ndjson, revision);
  const user = c.state.user;
  const pinned = user
    ? {
        username: user.username,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        role: user.role,
        status: user.status,
        deleted_at: user.deleted_at,
      }
    : null;
  const who = c.actor ? ` by ${c.actor}` : "";
  const lines = [
    `import { describe, expect, it } from "vitest";`,
    c.command ? `import { given } from "./decider-spec";` : null,
    `import { ${c.command ? "historyFromExport, " : ""}stateFromExport } from "./from-export";`,
    ``,
    `// Written by "make a test from this" (test/domain/write-test.ts) from the stream of user`,
    `// ${user?.id ?? "?"} as GET /admin/users/{id}/stream exported it, revisions 1 to ${c.revision}.`,
    `const EXPORT = \`${templateText(c.export)}\`;`,
    ``,
    `describe(${JSON.stringify(`user ${user?.username ?? "?"} at revision ${c.revision}`)}, () => {`,
    `  it("the export folds to the user as it was then", () => {`,
    `    expect(stateFromExport(EXPORT)).toMatchObject(${JSON.stringify({ revision: c.revision, user: pinned })});`,
    `  });`,
  ];
  if (c.command) {
    lines.push(
      ``,
      `  it(${JSON.stringify(`${c.event.event_type}${who} follows from the history before it`)}, () => {`,
      `    given(...historyFromExport(EXPORT).slice(0, ${c.revision - 1}))`,
      `      .when(${JSON.stringify(c.command)})`,
      `      .then(${JSON.stringify(c.event)});`,
      `  });`,
    );
  }
  lines.push(`});`, ``);
  return lines.filter((line) => line !== null).join("\n");
}

/** Text that reads back as itself inside a template literal. */
function templateText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/`/g, "\\`").replace(/\$\{/g, "\\${");
}

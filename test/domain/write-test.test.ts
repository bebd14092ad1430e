import { describe, expect, it } from "vitest";
import { given } from "./decider-spec";
import { historyFromExport } from "./from-export";
import { caseFromExport, writeTestFromExport } from "./write-test";
import { SARAH_EXPORT } from "./write-test.fixture";
import written from "./sarah-deleted.written.test.ts?raw";

describe("make a test from this: the test written from an export", () => {
  it("holds at every revision a command decides: given the history before, the command gives the event", () => {
    const history = historyFromExport(SARAH_EXPORT);
    const decided = history.map((_, index) => caseFromExport(SARAH_EXPORT, index + 1));
    // Creation carries a password no export has: pinned by its fold only.
    expect(decided.map((c) => c.command?.type ?? null)).toEqual([
      null,
      "UpdateUser",
      "SuspendUser",
      "ReactivateUser",
      "CorrectUser",
      "DeleteUser",
    ]);
    for (const c of decided) {
      expect(c.state.revision).toBe(c.revision);
      if (c.command) {
        given(...history.slice(0, c.revision - 1))
          .when(c.command)
          .then(c.event);
      }
    }
  });

  it("writes the committed example byte for byte; that file runs as a test of its own", () => {
    expect(writeTestFromExport(SARAH_EXPORT)).toBe(written);
    expect(written).toContain("given(...historyFromExport(EXPORT).slice(0, 5))");
  });

  it("keeps backquotes and ${…} in reasons as they were, and refuses a revision the export lacks", () => {
    expect(writeTestFromExport(SARAH_EXPORT, 3)).toContain("Chargeback \\`#77\\` on \\${card}");
    expect(() => writeTestFromExport(SARAH_EXPORT, 9)).toThrow(/no revision 9/);
  });
});

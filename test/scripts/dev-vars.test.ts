import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain script without types
import { missingDevVars } from "../../scripts/dev-vars-missing.mjs";

const example = `# comment
JWT_SECRET=example-secret
WEBHOOK_INSECURE_HOSTS=127.0.0.1,localhost
WEBHOOK_RETRY_BASE_SECONDS=1
`;

/** `npm start` adds to an existing `.dev.vars` the variables the example gained since. */
describe("missing .dev.vars lines", () => {
  it("the example's variables a .dev.vars lacks, with their example values; comments never", () => {
    expect(missingDevVars("JWT_SECRET=mine\n", example)).toEqual([
      "WEBHOOK_INSECURE_HOSTS=127.0.0.1,localhost",
      "WEBHOOK_RETRY_BASE_SECONDS=1",
    ]);
  });

  it("a variable already set keeps its value, whatever it is (even empty)", () => {
    const current = "JWT_SECRET=mine\nWEBHOOK_INSECURE_HOSTS=\n WEBHOOK_RETRY_BASE_SECONDS = 5\n";
    expect(missingDevVars(current, example)).toEqual([]);
  });
});

import type { Sink } from "./sink";

/**
 * The welcome mail through the `send_email` binding, as a subscription's sink. Until it is built
 * (issue 23) it wants nothing, so the built-in mail subscription can exist and advance harmlessly.
 */
export function mailSink(_env: Env): Sink {
  return {
    wants: () => false,
    deliver: () => Promise.resolve({ outcome: "skipped", reason: "mail sink not built yet" }),
  };
}

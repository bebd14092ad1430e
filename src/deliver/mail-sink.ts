import type { Sink } from "./sink";

/** The welcome mail through the `send_email` binding, as a subscription's sink. Being built (issue 23). */
export function mailSink(_env: Env): Sink {
  throw new Error("mail sink not built yet");
}

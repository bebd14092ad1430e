import { listDirectory } from "../write/user-directory";
import { userStream } from "../objects";

/** Users read at once while exporting, and events per call to one user's object. */
const USERS_PER_PAGE = 50;
const EVENTS_PER_CALL = 1_000;
const encoder = new TextEncoder();

/**
 * `GET /admin/export`: every stream of the user directory, user after user (by id), each oldest
 * first, one event per line. Pulled a page of users at a time, so memory stays flat however many
 * users there are, and a slow reader slows the export instead of filling a buffer.
 */
export function exportNdjson(env: Env, secrets: boolean): ReadableStream<Uint8Array> {
  let after = "";
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { ids } = await listDirectory(env, after, USERS_PER_PAGE);
      if (ids.length === 0) {
        controller.close();
        return;
      }
      after = ids[ids.length - 1]!;
      const streams = await Promise.all(ids.map((id) => wholeStream(env, id, secrets)));
      controller.enqueue(encoder.encode(streams.join("")));
    },
  });
}

async function wholeStream(env: Env, userId: string, secrets: boolean): Promise<string> {
  const stub = userStream(env, userId);
  let text = "";
  for (let from = 1; ; from += EVENTS_PER_CALL) {
    const events = await stub.exportEvents(from, EVENTS_PER_CALL, secrets);
    for (const event of events) text += `${JSON.stringify(event)}\n`;
    if (events.length < EVENTS_PER_CALL) return text;
  }
}

import { app } from "./http/app";
import { consumeQueue } from "./read/consumer";

export { UserStream } from "./write/user-stream";
export { IdentityRegistry } from "./write/identity-registry";
export { UserDirectory } from "./write/user-directory";
export { ProjectionRebuild } from "./admin/projection-rebuild";

export default {
  fetch: app.fetch,
  queue: consumeQueue,
} satisfies ExportedHandler<Env>;

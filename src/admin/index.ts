import { createRouter } from "../http/router";
import { bootstrap } from "./routes/bootstrap";
import { deadLetters } from "./routes/dead-letters";
import { adminEvents } from "./routes/events";
import { audit } from "./routes/audit";
import { erasures } from "./routes/erasures";
import { feed } from "./routes/feed";
import { identity } from "./routes/identity";
import { mail } from "./routes/mail";
import { projections } from "./routes/projections";
import { refusalRoutes } from "./routes/refusals";
import { requests } from "./routes/requests";
import { subscriptionRoutes } from "./routes/subscriptions";
import { transfer } from "./routes/transfer";
import { adminUsers } from "./routes/users";

/** `/admin`: operations on the service itself, one router per resource, all behind admin auth but the bootstrap. */
export const admin = createRouter()
  .route("/users", adminUsers)
  .route("/projections", projections)
  .route("/dead-letters", deadLetters)
  .route("/events", adminEvents)
  .route("/audit", audit)
  .route("/feed", feed)
  .route("/subscriptions", subscriptionRoutes)
  .route("/mail", mail)
  .route("/requests", requests)
  .route("/refusals", refusalRoutes)
  .route("/erasures", erasures)
  .route("/identity", identity)
  .route("/bootstrap", bootstrap)
  // `/import` and `/export`
  .route("/", transfer);

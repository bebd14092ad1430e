import { createRouter } from "../../router";
import { userCommands } from "./commands";
import { userHistory } from "./history";
import { userLive } from "./live";
import { userPersonalData } from "./personal-data";
import { userQueries } from "./queries";
import { userRevert } from "./revert";

/**
 * `/v1/users`: the commands, the read-model queries, the history answered by each user's stream,
 * the revert to a point of it, and the access report.
 */
export const users = userPersonalData(userRevert(userLive(userHistory(userQueries(userCommands(createRouter()))))));

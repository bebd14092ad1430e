import { createRouter } from "../../router";
import { userCommands } from "./commands";
import { userHistory } from "./history";
import { userLive } from "./live";
import { userPersonalData } from "./personal-data";
import { userQueries } from "./queries";

/** `/v1/users`: the commands, the read-model queries, and the history answered by each user's stream. */
export const users = userPersonalData(userLive(userHistory(userQueries(userCommands(createRouter())))));

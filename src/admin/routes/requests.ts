import { REQUEST_ID } from "../../http/app";
import { httpError } from "../../http/errors";
import { invalidInput } from "../../http/request-validation";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { requestTrail } from "../request-trail";
import { adminRoute } from "../auth";
import { RequestIdParams, RequestTrail } from "../request-schemas";

const trail = adminRoute({
  method: "get",
  path: "/{request_id}",
  summary:
    "What one request caused: its events, whether each projection applied them, the mail and the webhook deliveries they led to",
  request: { params: RequestIdParams },
  responses: { ...jsonResponse(RequestTrail, "The request's trail"), ...errors(401, 403, 404, 422) },
});

/** `/admin/requests`: a request's trail, found by the request id every event's metadata carries. */
export const requests = createRouter().openapi(trail, async (c) => {
  const { request_id: requestId } = c.req.valid("param");
  if (!REQUEST_ID.test(requestId)) {
    throw invalidInput(
      ["path", "request_id"],
      "string_pattern_mismatch",
      `String should match pattern '${REQUEST_ID.source}'`,
    );
  }
  const found = await requestTrail(c.env, requestId);
  if (!found) throw httpError(404, "No event carries this request id");
  return c.json(found, 200);
});

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { WriteRejection } from "../write/protocol";
import type { ErrorBody } from "./error-body";

export type { ErrorBody };

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

export const badRequest = () =>
  new ApiError(400, {
    error: "Bad Request",
    message: "Invalid content type or malformed request body",
    type: "ContentTypeError",
  });

export const httpError = (status: 400 | 401 | 403 | 404, message: string) =>
  new ApiError(status, { error: "HTTP Error", message, type: "HTTPException" });

export const tooManyRequests = (message: string, retryAfterSeconds: number) =>
  new ApiError(
    429,
    { error: "Too Many Requests", message, type: "RateLimitExceeded" },
    { "Retry-After": String(retryAfterSeconds) },
  );

export const serviceUnavailable = (message: string, retryAfterSeconds: number) =>
  new ApiError(
    503,
    { error: "Service Unavailable", message, type: "ServiceUnavailable" },
    { "Retry-After": String(retryAfterSeconds) },
  );

export function errorResponse(c: Context, error: ApiError): Response {
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  return c.json(error.body, error.status);
}

/** Every "no" of the write side, as the contract words it. */
export function rejectionError(rejection: WriteRejection, userId: string): ApiError {
  switch (rejection.code) {
    case "ValidationFailed":
      return new ApiError(422, {
        error: "Validation Error",
        message: rejection.message,
        type: errorClassName(rejection.rule),
        details: { field: rejection.field, ...rejection.details },
      });
    case "BusinessRuleViolated":
      return new ApiError(422, {
        error: "Business Rule Violation",
        message: rejection.message,
        type: REFERENCE_RULE_TYPES[rejection.rule] ?? "BusinessRuleViolationError",
        details: { rule: rejection.rule, user_id: userId },
      });
    case "UserNotFound":
      return new ApiError(404, {
        error: "Resource Not Found",
        message: `User ${userId} not found`,
        type: "UserNotFoundError",
      });
    case "UserAlreadyExists":
      return new ApiError(409, {
        error: "Resource Conflict",
        message: `User ${userId} already exists`,
        type: "UserAlreadyExistsError",
        details: { user_id: userId },
      });
    case "IdentityTaken": {
      const label = rejection.field === "username" ? "Username" : "Email";
      return new ApiError(409, {
        error: "Resource Conflict",
        message: `${label} '${rejection.value}' already exists`,
        type: rejection.field === "username" ? "UsernameAlreadyExistsError" : "EmailAlreadyExistsError",
        details: { [rejection.field]: rejection.value },
      });
    }
    case "IncorrectPassword":
      return new ApiError(401, {
        error: "Authentication Error",
        message: rejection.message,
        type: "IncorrectPasswordError",
        details: { context: "password_change" },
      });
    case "RevisionMismatch":
      return new ApiError(412, {
        error: "Precondition Failed",
        message: `The user is at revision ${rejection.current_revision}, not the one given in If-Match`,
        type: "RevisionMismatch",
        details: { current_revision: rejection.current_revision },
      });
    case "IdempotencyKeyReused":
      return new ApiError(422, {
        error: "Validation Error",
        message: "This Idempotency-Key was already used with a different request",
        type: "IdempotencyKeyReused",
        details: { field: "Idempotency-Key" },
      });
    case "TokenRefused":
      return httpError(401, "User not found");
    case "Busy":
      return serviceUnavailable("The user is being changed concurrently; retry", 1);
  }
}

/** The reference names a rejection by its exception class: `username_too_short` → `UsernameTooShortError`. */
function errorClassName(rule: string): string {
  return `${rule.replace(/(^|_)([a-z])/g, (_match, _sep, letter: string) => letter.toUpperCase())}Error`;
}

/** Business rules the reference also has, under its exception classes' names; ours keep the family name. */
const REFERENCE_RULE_TYPES: Partial<Record<string, string>> = {
  user_update_deleted: "CannotUpdateDeletedUserError",
  password_change_deleted: "CannotChangePasswordForDeletedUserError",
  user_already_deleted: "UserAlreadyDeletedError",
};

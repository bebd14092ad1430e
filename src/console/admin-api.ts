import type { EventType } from "../domain/events";

/**
 * The admin routes' answers the audit, operations and subscriptions pages read: their types come
 * from the routes' zod schemas (`src/admin/schemas.ts`, `src/admin/subscription-schemas.ts`),
 * imported as types only, so neither Worker code nor zod reaches the browser bundle.
 */
export type {
  AuditEntry,
  AuditPage,
  DeadLetter,
  DeadLetterPage,
  DeadLetterState,
  ImportReport,
  ProjectionStatus,
  RebuildProgress,
  UserAsOf,
  UsersAsOfPage,
} from "../admin/schemas";
export type {
  CreateSubscriptionBody,
  CreatedSubscription,
  Delivery,
  DeliveryPage,
  SubscriptionPage,
  SubscriptionView as Subscription,
} from "../admin/subscription-schemas";
export type { RequestTrail } from "../admin/request-schemas";
export type { RefusalEntry, RefusalPage } from "../admin/refusal-schemas";

/** Every event type, for the audit filter; the check below fails the build when the domain adds one. */
export const EVENT_TYPES = [
  "USER_CREATED",
  "USER_UPDATED",
  "PASSWORD_CHANGED",
  "PASSWORD_REHASHED",
  "USER_DELETED",
  "USER_SUSPENDED",
  "USER_REACTIVATED",
  "USER_CORRECTED",
  "USER_ERASED",
  "USER_RESTORED",
  "USER_LOGGED_IN",
] as const satisfies readonly EventType[];
const everyType: Exclude<EventType, (typeof EVENT_TYPES)[number]> extends never ? true : false = true;
void everyType;

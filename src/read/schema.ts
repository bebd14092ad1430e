import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * The read model in D1. `drizzle-kit generate` turns this file into `migrations/`; never edit those.
 * Times are the events' times (ISO 8601 UTC), `revision` the last event of the user projected here.
 */
export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    username: text("username").notNull(),
    email: text("email").notNull(),
    firstName: text("first_name").notNull(),
    lastName: text("last_name").notNull(),
    role: text("role", { enum: ["admin", "user"] }).notNull(),
    status: text("status", { enum: ["active", "suspended", "deleted", "erased"] }).notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    deletedAt: text("deleted_at"),
    revision: integer("revision").notNull(),
  },
  (table) => [
    index("users_listing").on(table.status, table.createdAt, table.id),
    index("users_username").on(table.username),
    index("users_email").on(table.email),
  ],
);
export type UserRow = typeof users.$inferSelect;

/** Mails sent, one row per (user, kind): the primary key is what makes the welcome mail exactly-once. */
export const sentEmails = sqliteTable(
  "sent_emails",
  {
    userId: text("user_id").notNull(),
    kind: text("kind").notNull(),
    recipient: text("recipient").notNull(),
    subject: text("subject").notNull(),
    body: text("body").notNull(),
    eventId: text("event_id").notNull(),
    sentAt: text("sent_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.kind] })],
);
export type SentEmailRow = typeof sentEmails.$inferSelect;

/** Messages the projector gave up on, with the error, until an admin re-drives them. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    messageId: text("message_id").notNull().unique(),
    aggregateId: text("aggregate_id"),
    revision: integer("revision"),
    body: text("body").notNull(),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull(),
    failedAt: text("failed_at").notNull(),
    redrivenAt: text("redriven_at"),
  },
  (table) => [index("dead_letters_pending").on(table.redrivenAt, table.id)],
);
export type DeadLetterRow = typeof deadLetters.$inferSelect;

import { notACursor } from "../../http/request-validation";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { MAIL_SUBSCRIPTION_ID, type DeliveryView } from "../../deliver/protocol";
import { decodeMailCursor, encodeMailCursor, listSentMail, welcomeEmail, welcomeRecipients } from "../../read/mail";
import { subscription } from "../../objects";
import { adminRoute } from "../auth";
import { MailPage, MailQuery, type MailEntry } from "../mail-schemas";

const list = adminRoute({
  method: "get",
  path: "/",
  summary:
    "The welcome mail: what is owed (pending or dead deliveries of the mail subscription) on the first page, then what was sent, newest first",
  request: { query: MailQuery },
  responses: { ...jsonResponse(MailPage, "Mail sent or owed"), ...errors(401, 403, 422) },
});

/** `/admin/mail`: what the mail subscription sent (D1's `sent_emails`) and what it still owes (its deliveries). */
export const mail = createRouter().openapi(list, async (c) => {
  const query = c.req.valid("query");
  const cursor = query.cursor === undefined ? undefined : decodeMailCursor(query.cursor);
  if (cursor === null) throw notACursor();
  // Owed mail is few (a subscription retries until it delivers or gives up): listed whole on the
  // first page, ahead of the sent pages, which the cursor walks.
  const owed: MailEntry[] = [];
  if (cursor === undefined && query.state !== "sent") {
    const states = query.state ? [query.state] : (["pending", "dead"] as const);
    const mailbox = subscription(c.env, MAIL_SUBSCRIPTION_ID);
    const deliveries: DeliveryView[] = [];
    for (const state of states) {
      const page = await mailbox.deliveries({
        state,
        userId: query.user_id,
        limit: query.limit,
      });
      // Null until the mail subscription's first wake has created it: nothing is owed yet.
      deliveries.push(...(page?.results ?? []));
    }
    const recipients = await welcomeRecipients(
      c.env.DB,
      deliveries.map((d) => d.event_id),
    );
    const { subject } = welcomeEmail("");
    for (const d of deliveries) {
      owed.push({
        user_id: d.user_id,
        kind: "welcome",
        state: d.state === "dead" ? "dead" : "pending",
        recipient: recipients.get(d.event_id) ?? null,
        subject,
        sent_at: null,
        message_id: null,
        attempts: d.attempts,
        last_error: d.last_error,
        event_id: d.event_id,
        next_attempt_at: d.next_attempt_at,
      });
    }
  }
  if (query.state === "pending" || query.state === "dead") return c.json({ results: owed, next_cursor: null }, 200);
  const { rows, next } = await listSentMail(c.env.DB, { userId: query.user_id, limit: query.limit, cursor });
  const sent: MailEntry[] = rows.map((row) => ({
    user_id: row.userId,
    kind: row.kind,
    state: "sent",
    recipient: row.recipient,
    subject: row.subject,
    sent_at: row.sentAt,
    message_id: row.messageId,
    attempts: row.attempts,
    last_error: null,
    event_id: row.eventId,
    next_attempt_at: null,
  }));
  return c.json({ results: [...owed, ...sent], next_cursor: next ? encodeMailCursor(next) : null }, 200);
});

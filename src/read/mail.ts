import { log } from "../observability";
import type { SentEmailRow } from "./schema";

/** Where mail goes. The local default only logs: the `sent_emails` row is the record of it. */
export interface MailSender {
  send(mail: SentEmailRow): Promise<void>;
}

export const logMailSender: MailSender = {
  send(mail) {
    // No address in the log: logs outlive an erasure.
    log("info", "mail sent", { kind: mail.kind, user_id: mail.userId });
    return Promise.resolve();
  },
};

export function welcomeEmail(
  userId: string,
  eventId: string,
  email: string,
  firstName: string,
  sentAt: string,
): SentEmailRow {
  return {
    userId,
    kind: "welcome",
    recipient: email,
    subject: "Welcome!",
    body: `Hello ${firstName || "there"}, your account is ready.`,
    eventId,
    sentAt,
  };
}

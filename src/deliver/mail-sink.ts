import { config } from "../config";
import { ERASED } from "../domain/events";
import { log } from "../observability";
import type { FeedEvent } from "../read/feed";
import { recordMail, WELCOME, welcomeEmail, welcomeState } from "../read/mail";
import type { DeliveryOutcome, Sink } from "./sink";

/**
 * The welcome mail through the `send_email` binding, as the sink of the built-in mail subscription
 * (`MAIL_SUBSCRIPTION_ID`). This is the only place a welcome is sent from: the projector, a replay,
 * a rebuild and an import never send, so none of them can mail anyone twice. The subscription
 * delivers at least once; the `sent_emails` record, written after the binding took the mail, turns
 * a repeated delivery into a skip.
 */
export function mailSink(env: Env): Sink {
  return {
    wants: welcomeOwed,
    async deliver(event, attempt) {
      if (event.event_type !== "USER_CREATED") return { outcome: "skipped", reason: "not a creation" };
      const started = Date.now();
      const userId = event.aggregate_id;
      const state = await welcomeState(env.DB, userId);
      if (state.sent) return { outcome: "skipped", reason: "welcome already sent" };
      if (state.erased || event.data.email === ERASED) {
        return { outcome: "skipped", reason: "user erased before the welcome went out" };
      }
      const mail = welcomeEmail(event.data.first_name);
      let messageId: string | null;
      try {
        const sent = await env.EMAIL.send({
          from: config(env).MAIL_FROM,
          to: event.data.email,
          subject: mail.subject,
          text: mail.text,
        });
        // Typed as always there, but an answer without one must not cost the record.
        messageId = (sent as Partial<EmailSendResult> | undefined)?.messageId ?? null;
      } catch (error) {
        return failed(userId, attempt, `send failed: ${describe(error)}`, started);
      }
      try {
        await recordMail(env.DB, {
          userId,
          kind: WELCOME,
          recipient: event.data.email,
          subject: mail.subject,
          body: mail.text,
          eventId: event.id,
          sentAt: new Date().toISOString(),
          messageId,
          attempts: attempt,
        });
      } catch (error) {
        // The mail went out but is not on record: the retry may send it again (at least once, as promised).
        return failed(userId, attempt, `sent, not recorded: ${describe(error)}`, started);
      }
      log("info", "mail sent", { kind: WELCOME, user_id: userId, event_id: event.id, message_id: messageId, attempt });
      return { outcome: "delivered", status: null, ms: Date.now() - started };
    },
  };
}

/**
 * A creation made here, with an address: imported users were welcomed where they came from, and an
 * erased user's creation reads `[erased]` in the feed.
 */
function welcomeOwed(event: FeedEvent): boolean {
  return (
    event.event_type === "USER_CREATED" && event.metadata.import_request_id === undefined && event.data.email !== ERASED
  );
}

function failed(userId: string, attempt: number, error: string, started: number): DeliveryOutcome {
  log("warn", "mail not sent", { kind: WELCOME, user_id: userId, attempt, error });
  return { outcome: "retry", status: null, error, ms: Date.now() - started };
}

/**
 * An error as text fit for logs and the deliveries list, which outlive an erasure: the binding's
 * messages name addresses ("email to ada@example.com not allowed"), so every address is cut out.
 * Production errors carry a `.code` (`E_RECIPIENT_SUPPRESSED`, …), kept in front.
 */
function describe(error: unknown): string {
  const code =
    typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
      ? `${error.code}: `
      : "";
  const message = error instanceof Error ? error.message : String(error);
  return `${code}${message.replace(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, "<address>")}`.slice(0, 500);
}

import type { Client } from "../src/client.ts";
import { CliError, failure, ok } from "./errors.ts";
import { position } from "./feed.ts";

export interface SubscriptionFlags {
  target?: string;
  "event-types"?: string;
  description?: string;
  from?: string;
  limit?: string;
}

type Show = (value: unknown, forPeople: () => void) => void;
type Print = { record(value: object): void; table(rows: object[], columns: string[]): void };

const COLUMNS = ["id", "status", "url", "event_types", "position", "behind", "failing_since", "last_delivery"];

/** `subscriptions list|create|pause|resume|replay|delete`: the webhook subscriptions as an operator runs them. */
export async function subscriptionsCommand(
  api: Client,
  sub: string | undefined,
  id: string | undefined,
  flags: SubscriptionFlags,
  show: Show,
  print: Print,
): Promise<void> {
  const subscriptions = api.admin.subscriptions;
  if (sub === "list") {
    const body = await ok(subscriptions.$get({ query: flags.limit ? { limit: flags.limit } : {} }));
    return show(body, () =>
      print.table(
        body.results.map((s) => ({
          ...s,
          event_types: s.event_types.join(",") || "(every user event, no alert)",
          behind: s.lag.events_behind,
          last_delivery: s.last_delivery ? `${s.last_delivery.at} ${s.last_delivery.status_code ?? "–"}` : "",
        })),
        COLUMNS,
      ),
    );
  }
  if (sub === "create") {
    // The service checks each name (422 naming a wrong one); the CLI passes them on as typed.
    type EventTypes = NonNullable<Parameters<typeof subscriptions.$post>[0]["json"]["event_types"]>;
    // --target, not --url: --url is the service's address for every command.
    if (!flags.target) throw new CliError("subscriptions create needs --target URL (where the webhooks go)");
    const body = await ok(
      subscriptions.$post({
        json: {
          url: flags.target,
          ...(flags["event-types"]
            ? { event_types: flags["event-types"].split(",").filter(Boolean) as EventTypes }
            : {}),
          ...(flags.description ? { description: flags.description } : {}),
          ...(flags.from !== undefined ? { from_position: fromPosition(flags.from) } : {}),
        },
      }),
    );
    return show(body, () => {
      print.record(body);
      process.stderr.write("the secret is shown only now: store it where the receiver reads it\n");
    });
  }
  if (!id) throw new CliError(`subscriptions ${sub ?? ""} needs a subscription ID`);
  const param = { id };
  if (sub === "pause" || sub === "resume") {
    const status = sub === "pause" ? ("paused" as const) : ("active" as const);
    const body = await ok(subscriptions[":id"].$patch({ param, json: { status } }));
    return show(body, () => print.record(body));
  }
  if (sub === "delete") {
    const res = await subscriptions[":id"].$delete({ param });
    if (!res.ok) throw await failure(res);
    return show({ deleted: id }, () => process.stdout.write(`deleted ${id}\n`));
  }
  if (sub === "replay") {
    if (flags.from === undefined) throw new CliError("subscriptions replay needs --from P (0: everything)");
    const body = await ok(
      subscriptions[":id"].replay.$post({ param, json: { from_position: fromPosition(flags.from) } }),
    );
    return show(body, () => print.record(body));
  }
  throw new CliError(`unknown command subscriptions ${sub ?? ""}`);
}

/** `--from`, read as `feed tail` reads `--after`. */
function fromPosition(value: string): number {
  return position(value);
}

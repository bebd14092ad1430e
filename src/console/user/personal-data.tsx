import { useEffect, useState } from "hono/jsx/dom";
import { api } from "../api";
import { Busy, ErrorNotice, Time } from "../components";

/** The access report as the console reads it (`GET /v1/users/{id}/personal-data/`). */
interface Report {
  user_id: string;
  generated_at: string;
  erased: boolean;
  stores: Record<string, { description: string } & Record<string, unknown>>;
}

const STORE_LABELS: Record<string, string> = {
  stream: "Stream (the user's object)",
  identity_registry: "Identity registry",
  read_model: "Read model",
  audit_log: "Audit log",
  feed: "Feed",
  dead_letters: "Dead letters",
  pending_deliveries: "Webhook deliveries",
  mail: "Mail",
};

/** How much one store holds, in words: its events, rows, claims or subscriptions. */
function held(store: Record<string, unknown>): string {
  const count = (value: unknown, one: string, many: string) =>
    Array.isArray(value) ? `${value.length} ${value.length === 1 ? one : many}` : null;
  const parts = [
    count(store.events, "event", "events"),
    count(store.vault, "vault row", "vault rows"),
    count(store.claims, "claim", "claims"),
    count(store.rows, "row", "rows"),
    count(store.subscriptions, "subscription", "subscriptions"),
    "user" in store ? (store.user ? "1 row" : "no row") : null,
    store.truncated === true || store.events_truncated === true ? "(truncated)" : null,
  ];
  return parts.filter((part) => part !== null).join(", ");
}

/**
 * The access report: what every store holds about the user, loaded on request (it asks every store
 * and every subscription), shown store by store and offered as a JSON file to hand to the person.
 */
export function PersonalData({ userId }: { userId: string }) {
  const [report, setReport] = useState<Report | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [download, setDownload] = useState<string | null>(null);

  // A new report (or leaving the page) lets go of the previous file.
  useEffect(
    () => () => {
      if (download) URL.revokeObjectURL(download);
    },
    [download],
  );

  const load = async () => {
    setBusy(true);
    try {
      const body = await api<Report>(`/v1/users/${userId}/personal-data/`);
      setReport(body);
      setDownload(URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" })));
      setError(null);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="personal-data-heading" class="card personal-data">
      <h2 id="personal-data-heading">Personal data</h2>
      <p class="muted">
        Everything the service holds about this user, store by store: the access report a person can ask for.
      </p>
      <div class="personal-data-actions">
        <button type="button" class="secondary" onClick={() => void load()} disabled={busy}>
          {report ? "Reload the access report" : "Show the access report"}
        </button>
        {report && download && (
          <a href={download} download={`personal-data-${userId}.json`}>
            Download as JSON
          </a>
        )}
      </div>
      <ErrorNotice error={error} />
      <Busy busy={busy}>
        {report && (
          <>
            <p>
              Generated <Time iso={report.generated_at} />.
              {report.erased && " This user is erased: what remains are tombstones reading [erased]."}
            </p>
            <table class="personal-data-stores">
              <thead>
                <tr>
                  <th scope="col">Store</th>
                  <th scope="col">What it holds</th>
                  <th scope="col">Held</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(report.stores).map(([name, store]) => (
                  <tr key={name}>
                    <th scope="row">{STORE_LABELS[name] ?? name}</th>
                    <td>
                      {store.description}
                      <details>
                        <summary>Show</summary>
                        <pre>{JSON.stringify(store, null, 2)}</pre>
                      </details>
                    </td>
                    <td>{held(store)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Busy>
    </section>
  );
}

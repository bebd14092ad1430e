import type { Child } from "hono/jsx/dom";
import { ApiError } from "./api";
import { eventLabel, localTime, utcTime } from "./format";
import { onLinkClick } from "./router";

/** A heading for each status the contract can answer, so every envelope reads as a sentence. */
const TITLES: Record<number, string> = {
  0: "The service cannot be reached",
  400: "The request was not understood",
  401: "Not signed in",
  403: "Not allowed",
  404: "Not found",
  409: "Already taken",
  412: "Changed meanwhile",
  413: "Too large",
  422: "Not accepted",
  429: "Too many attempts",
  500: "The service failed",
  503: "Not ready yet",
};

/** Lines of detail from an envelope: validation issues, the taken name, the rule broken. */
function detailLines(details: unknown): string[] {
  if (Array.isArray(details)) {
    return details.map((issue: { loc?: unknown[]; msg?: string }) => {
      const where = (issue.loc ?? []).filter((part) => part !== "body" && part !== "query").join(".");
      return where ? `${where}: ${issue.msg ?? ""}` : (issue.msg ?? "");
    });
  }
  if (details && typeof details === "object") {
    return Object.entries(details as Record<string, unknown>)
      .filter(([key]) => key !== "user_id")
      .map(([key, value]) => `${key.replace(/_/g, " ")}: ${String(value)}`);
  }
  return [];
}

export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div class="notice error" role="alert">
        <strong>Something went wrong in the console.</strong>{" "}
        {error instanceof Error ? error.message : "Reload the page and try again."}
      </div>
    );
  }
  const title = TITLES[error.status] ?? `Error ${error.status}`;
  const message =
    error.status === 0
      ? "Check the connection and try again."
      : error.status >= 500 && error.status !== 503
        ? "An unexpected error occurred; quote the request id when you report it."
        : error.message;
  const lines = detailLines(error.envelope?.details);
  return (
    <div class="notice error" role="alert">
      <strong>{title}.</strong> {message}
      {lines.length > 0 && (
        <ul>
          {lines.map((line) => (
            <li>{line}</li>
          ))}
        </ul>
      )}
      {error.requestId && <small class="request-id">Request id {error.requestId}</small>}
    </div>
  );
}

export function Link({ href, children, class: className }: { href: string; children: Child; class?: string }) {
  return (
    <a href={href} class={className} onClick={onLinkClick}>
      {children}
    </a>
  );
}

export function Time({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} class="time">
      <span class="local">{localTime(iso)}</span>
      <span class="utc">{utcTime(iso)}</span>
    </time>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}

export function EventType({ type }: { type: string }) {
  return <span class={`event-type type-${type.toLowerCase()}`}>{eventLabel(type)}</span>;
}

/** A region that keeps its height while it loads, so the page does not jump. */
export function Busy({ busy, children, class: className }: { busy: boolean; children: Child; class?: string }) {
  return (
    <div class={`${className ?? ""} ${busy ? "busy" : ""}`} aria-busy={busy ? "true" : "false"}>
      {children}
    </div>
  );
}

/** A table's column headings. */
export function ColumnHeads({ names }: { names: readonly string[] }) {
  return (
    <thead>
      <tr>
        {names.map((name) => (
          <th scope="col">{name}</th>
        ))}
      </tr>
    </thead>
  );
}

/** When a polled page last refreshed, announced politely to screen readers. */
export function Refreshed({ at, everyMs }: { at: string | null; everyMs: number }) {
  return (
    <span class="refreshed" role="status">
      {at ? (
        <>
          refreshed every {everyMs / 1000} s, last at <Time iso={at} />
        </>
      ) : (
        "loading…"
      )}
    </span>
  );
}

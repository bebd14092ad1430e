import { useState } from "hono/jsx/dom";
import type { ImportReport } from "../admin-api";
import { api } from "../api";
import { ErrorNotice } from "../components";

/** Under the route's bounds (5,000 lines, 8 MB per request), with room for long lines. */
const CHUNK_LINES = 2_000;
const CHUNK_BYTES = 4 * 1024 * 1024;

interface Progress {
  file: string;
  total: number;
  done: number;
  imported: number;
  skipped: number;
  /** Line numbers in the file, not in the request. */
  rejected: ImportReport["rejected"];
  startedAt: number;
  finishedAt: number | null;
}

/** Cuts the file's non-empty lines into requests, keeping each line's number in the file. */
function chunks(text: string): { firstLine: number; lines: string[] }[] {
  const all = text.split("\n");
  const out: { firstLine: number; lines: string[] }[] = [];
  let current: { firstLine: number; lines: string[]; bytes: number } | null = null;
  all.forEach((line, index) => {
    if (current && (current.lines.length >= CHUNK_LINES || current.bytes + line.length > CHUNK_BYTES)) {
      out.push(current);
      current = null;
    }
    current ??= { firstLine: index + 1, lines: [], bytes: 0 };
    current.lines.push(line);
    current.bytes += line.length + 1;
  });
  if (current) out.push(current);
  return out.filter((chunk) => chunk.lines.some((line) => line.trim() !== ""));
}

/**
 * An import from the browser: an NDJSON file (our export, or rows of the reference's
 * `user_event_stream`) sent to `POST /admin/import` in bounded requests, one after the other (a
 * user's lines arrive in order), with its progress; the status above shows the read model filling.
 * A failed request stops the import; sending the file again is safe (what was imported is skipped).
 */
export function Import({ onProgress }: { onProgress: () => void }) {
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (event: Event) => {
    event.preventDefault();
    const input = (event.target as HTMLFormElement).elements.namedItem("file") as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    setBusy(true);
    setError(null);
    const parts = chunks(await file.text());
    let state: Progress = {
      file: file.name,
      total: parts.reduce((n, part) => n + part.lines.filter((line) => line.trim() !== "").length, 0),
      done: 0,
      imported: 0,
      skipped: 0,
      rejected: [],
      startedAt: Date.now(),
      finishedAt: null,
    };
    setProgress(state);
    try {
      for (const part of parts) {
        const report = await api<ImportReport>("/admin/import", {
          method: "POST",
          raw: part.lines.join("\n"),
          headers: { "Content-Type": "application/x-ndjson" },
        });
        state = {
          ...state,
          done: state.done + report.imported + report.skipped + report.rejected.length,
          imported: state.imported + report.imported,
          skipped: state.skipped + report.skipped,
          rejected: [...state.rejected, ...report.rejected.map((r) => ({ ...r, line: r.line + part.firstLine - 1 }))],
        };
        setProgress(state);
        onProgress();
      }
      setProgress({ ...state, finishedAt: Date.now() });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const percent = progress && progress.total > 0 ? Math.floor((progress.done / progress.total) * 100) : 0;
  const seconds = progress ? ((progress.finishedAt ?? Date.now()) - progress.startedAt) / 1000 : 0;
  return (
    <section class="card import" aria-labelledby="import-heading">
      <h2 id="import-heading">Import</h2>
      <form class="row" onSubmit={(event: Event) => void run(event)}>
        <label>
          NDJSON file (an export, or reference rows)
          <input name="file" type="file" accept=".ndjson,.jsonl,application/x-ndjson" required />
        </label>
        <button type="submit" disabled={busy}>
          Import
        </button>
      </form>
      <label class="progress-label">
        <span role="status">
          {progress
            ? `${progress.file}: ${progress.done} of ${progress.total} lines${progress.finishedAt ? ", done" : ""} · ${progress.imported} imported, ${progress.skipped} already there, ${progress.rejected.length} rejected${seconds > 0 ? ` · ${Math.round(progress.done / seconds)} lines/s` : ""}`
            : "No import from this page yet."}
        </span>
        <progress max={100} value={percent} aria-valuetext={`${percent}%`}>
          {percent}%
        </progress>
      </label>
      <ErrorNotice error={error} />
      {progress && progress.rejected.length > 0 && (
        <ul class="rejected">
          {progress.rejected.slice(0, 50).map((r) => (
            <li>
              line {r.line}
              {r.aggregate_id ? ` (user ${r.aggregate_id})` : ""}: <span class="error-text">{r.error}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

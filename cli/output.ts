/** What the CLI prints: tables for people, JSON for scripts, a progress bar on stderr. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain text table of the given columns; long cells are cut so a row fits a terminal line. */
export function printTable(rows: readonly object[], columns: readonly string[]): void {
  const cell = (value: unknown) => {
    const text = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 59)}…` : text;
  };
  const cells = rows.map((row) => columns.map((column) => cell((row as Record<string, unknown>)[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${[line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join("\n")}\n`);
}

/** `key: value` lines for one record. */
export function printRecord(record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [key, value] of Object.entries(record)) {
    const text = value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
    process.stdout.write(`${key.padEnd(width)}  ${text}\n`);
  }
}

/** A progress bar with rate and ETA, redrawn in place on a terminal, a line every few seconds otherwise. */
export class ProgressBar {
  private readonly started = Date.now();
  private lastDrawn = 0;
  private total: number;
  private readonly unit: string;
  private readonly startAt: number;

  constructor(total: number, unit: string, startAt = 0) {
    this.total = total;
    this.unit = unit;
    this.startAt = startAt;
  }

  /** `total` may grow as it becomes known (a rebuild counts its users as it goes). */
  update(done: number, extra = "", total = this.total): void {
    this.total = total;
    const now = Date.now();
    const tty = process.stderr.isTTY;
    if (!tty && now - this.lastDrawn < 5_000 && done < this.total) return;
    this.lastDrawn = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? (done - this.startAt) / seconds : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const share = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 30;
    const filled = Math.round(share * width);
    const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
    const text = `${bar} ${(share * 100).toFixed(1).padStart(5)}%  ${done}/${this.total} ${this.unit}  ${Math.round(rate)} ${this.unit}/s  ETA ${formatSeconds(eta)}${extra ? `  ${extra}` : ""}`;
    process.stderr.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
  }

  done(): void {
    if (process.stderr.isTTY) process.stderr.write("\n");
  }
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

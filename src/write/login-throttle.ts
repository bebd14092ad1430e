/** Failed logins per user: after MAX_FAILURES within WINDOW_MS, logins answer 429 until it passes. */
export const MAX_FAILURES = 5;
export const WINDOW_MS = 15 * 60 * 1000;

export function loginThrottle(sql: SqlStorage, now: number) {
  sql.exec("DELETE FROM login_failures WHERE at <= ?", now - WINDOW_MS);
  return {
    retryAfterSeconds(): number {
      const { n, oldest } = sql
        .exec<{ n: number; oldest: number | null }>("SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_failures")
        .one();
      if (n < MAX_FAILURES || oldest === null) return 0;
      return Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
    },
    recordFailure() {
      sql.exec("INSERT INTO login_failures (at) VALUES (?)", now);
    },
    clear() {
      sql.exec("DELETE FROM login_failures");
    },
  };
}

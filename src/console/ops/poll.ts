import { useEffect, useRef, useState } from "hono/jsx/dom";

export interface Polled<T> {
  data: T | null;
  error: unknown;
  /** When the last answer arrived (ISO), for "refreshed at". */
  at: string | null;
  /** Ask again now (after an action), without waiting for the interval. */
  refresh: () => void;
}

/**
 * A value refreshed on an interval while the page is open: the next request starts only after the
 * last one ended, so a slow server is not piled on, and a failure is shown without losing the last
 * good answer.
 */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[] = []): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [at, setAt] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const loader = useRef(load);
  loader.current = load;

  useEffect(() => {
    let current = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    loader
      .current()
      .then((value) => current && (setData(value), setError(null), setAt(new Date().toISOString())))
      .catch((caught) => current && setError(caught))
      .finally(() => {
        if (current) timer = setTimeout(() => setTick((n) => n + 1), everyMs);
      });
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [tick, ...deps]);

  return { data, error, at, refresh: () => setTick((n) => n + 1) };
}

import { hc } from "hono/client";
import type { AppType } from "./index";

/**
 * The service's typed client for TypeScript callers: every route, its parameters, bodies and
 * responses come from the Worker's own route definitions (Hono's `hc` over the app's type), so the
 * client cannot drift from the server. Responses are `fetch` responses: check `ok`/`status`, then
 * `await res.json()` is typed by the status.
 *
 *   const api = createClient("https://users.example.com", { token });
 *   const res = await api.v1.users[":user_id"].$get({ param: { user_id }, query: {} });
 */
export function createClient(baseUrl: string, options: { token?: string | undefined; fetch?: typeof fetch } = {}) {
  return hc<AppType>(baseUrl, {
    headers: (): Record<string, string> => (options.token ? { Authorization: `Bearer ${options.token}` } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

export type Client = ReturnType<typeof createClient>;
export type { AppType };

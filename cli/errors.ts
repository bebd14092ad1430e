/** An error the CLI reports as one line on stderr, exiting non-zero: the service's own message. */
export class CliError extends Error {}

/** The contract's error envelope `{error, message, type, details}` of a failed response, as a CliError. */
export async function failure(res: { status: number; statusText: string; text(): Promise<string> }): Promise<CliError> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { message?: string; details?: unknown };
    const details = body.details ? ` ${JSON.stringify(body.details)}` : "";
    return new CliError(`${res.status}: ${body.message ?? text}${details}`);
  } catch {
    return new CliError(`${res.status}: ${text || res.statusText}`);
  }
}

/** The body of a successful response, typed by the route; the envelope's message otherwise. */
export async function ok<R extends { ok: boolean; json(): Promise<unknown> }>(pending: Promise<R>) {
  const res = await pending;
  if (!res.ok) throw await failure(res as unknown as Response);
  return (await res.json()) as Awaited<ReturnType<Extract<R, { ok: true }>["json"]>>;
}

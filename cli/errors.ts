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

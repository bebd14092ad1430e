import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

const APP = "event-sourced-users";

/** Where CLIs keep their files: $XDG_CONFIG_HOME, else ~/.config (%APPDATA% on Windows). */
export function configDir(): string {
  if (process.env.XDG_CONFIG_HOME) return join(process.env.XDG_CONFIG_HOME, APP);
  if (process.platform === "win32" && process.env.APPDATA) return join(process.env.APPDATA, APP);
  return join(homedir(), ".config", APP);
}

const credentialsFile = () => join(configDir(), "credentials.json");

/** One token per service URL, so a local and a production service do not share a login. */
type Credentials = Record<string, { username: string; token: string; saved_at: string }>;

async function readCredentials(): Promise<Credentials> {
  try {
    return JSON.parse(await readFile(credentialsFile(), "utf8")) as Credentials;
  } catch {
    return {};
  }
}

export async function saveToken(baseUrl: string, username: string, token: string): Promise<string> {
  await mkdir(configDir(), { recursive: true, mode: 0o700 });
  const all = await readCredentials();
  all[baseUrl] = { username, token, saved_at: new Date().toISOString() };
  const file = credentialsFile();
  await writeFile(file, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  // `mode` applies only when the file is created: an older file is narrowed too.
  await chmod(file, 0o600);
  return file;
}

/** `USERS_API_TOKEN` wins over the stored login, for scripts and CI. */
export async function loadToken(baseUrl: string): Promise<string | undefined> {
  return process.env.USERS_API_TOKEN || (await readCredentials())[baseUrl]?.token;
}

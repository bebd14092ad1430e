import type { UserCommand } from "../domain/commands";
import type { EventMetadata } from "../domain/events";
import { publicUser } from "../domain/user";
import { log } from "../observability";
import type { CommandHandler } from "./command-handler";
import { services } from "./prepare";
import { loginThrottle } from "./login-throttle";
import { checkPassword, needsRehash } from "./passwords";
import type { LoginResult } from "./protocol";
import type { StreamContext } from "./stream-context";

/** Logins to one user's object: the password is the credential, the stream records each success. */
export class Logins {
  constructor(
    private readonly stream: StreamContext,
    private readonly commands: CommandHandler,
  ) {}

  /**
   * A login: the password checked, failures throttled, and a success recorded as USER_LOGGED_IN in
   * the same way as any command. The token is issued at the revision of that event.
   */
  async logIn(password: string, requestId: string | null): Promise<LoginResult> {
    const { stream, commands } = this;
    const { user } = stream.current;
    if (!stream.stored || !user) return { ok: false, reason: "invalid" };
    const throttle = loginThrottle(stream.sql, Date.now());
    const retryAfterSeconds = throttle.retryAfterSeconds();
    if (retryAfterSeconds > 0) return { ok: false, reason: "throttled", retryAfterSeconds };
    const check = await checkPassword(password, user.password_hash);
    // A stored hash that cannot be run (imported out of bounds, or malformed) fails like a wrong
    // password; the operator learns of it by the user's id, never by the hash.
    if (typeof check === "object")
      log("warn", "stored password hash refused", { user_id: user.id, problem: check.unusable });
    if (check !== "match" || stream.current.user?.status !== "active") {
      throttle.recordFailure();
      return { ok: false, reason: "invalid" };
    }
    throttle.clear();
    // An imported hash is upgraded first (PASSWORD_REHASHED), then the login is recorded.
    if (needsRehash(user.password_hash)) await this.rehash(password, user.password_hash, requestId);
    const metadata: EventMetadata = {
      actor_id: user.id,
      actor_username: user.username,
      request_id: requestId,
      idempotency_key: null,
      reason: null,
    };
    const command: UserCommand = { type: "RecordLogin", method: "password" };
    const { outcome, events } = commands.commit({ userId: user.id, metadata }, command, () => true);
    if (outcome === "stale" || !outcome.ok) return { ok: false, reason: "invalid" };
    commands.afterCommit(events);
    const now = stream.current;
    if (!now.user) return { ok: false, reason: "invalid" };
    return { ok: true, revision: now.revision, user: publicUser(now.user, now.revision) };
  }

  /**
   * After a login with an imported hash: the same password under our own hash, by PASSWORD_REHASHED,
   * carrying the login's request id (the login caused it).
   */
  private async rehash(password: string, verified_hash: string, requestId: string | null): Promise<void> {
    const { stream, commands } = this;
    const userId = stream.userId!;
    const result = await commands.execute({
      userId,
      input: { type: "RehashPassword", verified_hash, new_password_hash: await services(stream.env).hash(password) },
      metadata: {
        actor_id: userId,
        actor_username: stream.current.user?.username ?? null,
        request_id: requestId,
        idempotency_key: null,
        reason: "password hash upgraded at login",
      },
    });
    // A password changed meanwhile only means there is nothing to upgrade: the login stands.
    if (!result.ok) log("warn", "password rehash skipped", { userId, code: result.rejection.code });
  }
}

import { DurableObject } from "cloudflare:workers";
import type { RevertTarget } from "../domain/commands";
import type { StoredEvent } from "../domain/import";
import { PING, PONG, type WatchTarget } from "../live/protocol";
import { CommandHandler } from "./command-handler";
import { startWatching, stopWatching, ticketFor, ticketHolder, tokenHolder } from "./credentials";
import { Logins } from "./login";
import type { AuditTrailQuery, CommandRequest, ImportOptions, SelfCaller, UserStreamRpc } from "./protocol";
import { heldInStream } from "./personal-data";
import { Publisher } from "./publisher";
import { StreamImport } from "./stream-import";
import {
  auditTrail,
  currentUser,
  exportedEvents,
  heldIdentities,
  holdsIdentity,
  publicEvents,
  streamStatus,
  userAsOf,
} from "./stream-reads";
import { StreamContext } from "./stream-context";
import { StreamWatchers } from "./stream-watchers";

/**
 * One user's Durable Object: it serialises the user's writes and owns the user's event stream. It
 * holds what only the object can (its storage, its alarm, its sockets, its RPC surface, documented
 * by `UserStreamRpc`) and hands each call to the module that does the work, all sharing one
 * `StreamContext`: commands (`command-handler.ts`), imports, logins, reads, credentials, the
 * watchers and the publisher.
 */
export class UserStream extends DurableObject<Env> implements UserStreamRpc {
  private readonly stream = new StreamContext(this.ctx, this.env);
  private readonly publisher = new Publisher(this.stream);
  private readonly watchers = new StreamWatchers(this.stream);
  private readonly commands = new CommandHandler(this.stream, this.publisher, this.watchers);
  private readonly imports = new StreamImport(this.stream, this.publisher, this.watchers);
  private readonly logins = new Logins(this.stream, this.commands);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    // The wake reads storage synchronously, so no call runs before it: `blockConcurrencyWhile` is
    // for the outbox that holds rows, whose alarm `rearm` puts back if it was lost (decision 0014).
    this.stream.load();
    if (!this.stream.stored) return;
    this.watchers.sockets.wake();
    if (this.stream.outboxOnWake) void ctx.blockConcurrencyWhile(() => this.publisher.rearm());
  }

  execute(request: CommandRequest) {
    return this.commands.execute(request);
  }

  previewRevert(to: RevertTarget, reason: string) {
    return this.commands.previewRevert(to, reason);
  }

  importEvents(events: StoredEvent[], options: ImportOptions = { ontoExisting: false }) {
    return this.imports.run(events, options);
  }

  importConfirmed(revision: number) {
    return this.imports.confirmed(revision);
  }

  authenticate(password: string, requestId: string | null = null) {
    return this.logins.logIn(password, requestId);
  }

  getUser() {
    return currentUser(this.stream);
  }

  history(until: { revision?: number; timestamp?: string }, caller?: SelfCaller) {
    return userAsOf(this.stream, until, caller);
  }

  readStream(fromRevision: number, limit: number) {
    return publicEvents(this.stream, fromRevision, limit);
  }

  exportEvents(fromRevision: number, limit: number, secrets: boolean) {
    return exportedEvents(this.stream, fromRevision, limit, secrets);
  }

  auditTrail(query: AuditTrailQuery, caller?: SelfCaller) {
    return auditTrail(this.stream, query, caller);
  }

  status() {
    return streamStatus(this.stream);
  }

  holdsIdentity(key: string) {
    return holdsIdentity(this.stream, key);
  }

  heldIdentities() {
    return heldIdentities(this.stream);
  }

  heldInStream(caller?: SelfCaller) {
    return heldInStream(this.stream, caller);
  }

  tokenHolder(issuedAtRevision: number) {
    return tokenHolder(this.stream, issuedAtRevision);
  }

  ticket(now: number, caller: SelfCaller) {
    return ticketFor(this.stream, now, caller);
  }

  redeemTicket(secret: string, now: number) {
    return ticketHolder(this.stream, secret, now);
  }

  watching(target: WatchTarget, authRevision: number) {
    return startWatching(this.stream, target, authRevision);
  }

  unwatched(target: WatchTarget) {
    stopWatching(this.stream, target);
  }

  revokeWatcher(watcher: string, revokedAt: number) {
    this.watchers.sockets.revoke(watcher, revokedAt);
  }

  watcherCount() {
    return this.watchers.sockets.count();
  }

  override async alarm(): Promise<void> {
    await this.publisher.reconcile();
    await this.watchers.revokeElsewhere();
  }

  override fetch(request: Request): Response {
    return this.watchers.upgrade(request);
  }

  override webSocketMessage(ws: WebSocket): void {
    this.watchers.sockets.messageFromClient(ws);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.watchers.sockets.closedByClient(ws, code);
  }
}

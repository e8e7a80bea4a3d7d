// The WebSocket client: one socket per signed-in tab, reconnecting with backoff and jitter,
// and closing the gap after each reconnect: every open room is re-subscribed with `since` =
// the last message id seen there, so the server replays what was missed (SPEC §4).

import type { Clock, Timer } from '../api/http';
import { realClock } from '../api/http';
import type { ServerFrame } from '../api/types';
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff';

export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed';

/** The part of the browser's WebSocket this client uses (a fake one in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export const OPEN = 1;

export interface ResumePoint {
  room_id: string;
  /** Last message id seen in the room; absent when nothing was loaded yet. */
  since?: string;
}

export interface RealtimeOptions {
  /** ws(s)://host/ws, without the token. */
  url: () => string;
  /** A valid access token, refreshed when needed; null when signed out. */
  getToken: () => Promise<string | null>;
  /** A new access token even if the current one looks valid (after close 4001). */
  forceRefresh: () => Promise<string | null>;
  createSocket?: (url: string) => SocketLike;
  clock?: Clock;
  random?: () => number;
  backoff?: BackoffOptions;
  /** Rooms to re-subscribe after each (re)connect, with the last id seen in each. */
  resumePoints: () => ResumePoint[];
  onFrame: (frame: ServerFrame) => void;
  onStatus?: (status: ConnectionStatus, detail?: { attempt: number; retryInMs?: number; lastError?: string }) => void;
  onSessionRevoked?: (reason: string) => void;
  /** Called when the server refused the token and no new one could be had. */
  onUnauthenticated?: () => void;
  requestTimeoutMs?: number;
  heartbeatMs?: number;
}

export class RealtimeError extends Error {
  readonly code: string;
  readonly retryAfterMs?: number;
  constructor(code: string, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'RealtimeError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

interface Pending {
  resolve: (frame: ServerFrame) => void;
  reject: (error: Error) => void;
  timer: Timer;
}

/** Frame types that answer a request carrying `ref`. */
const REPLY_TYPES = new Set(['ack', 'error', 'pong', 'subscribed', 'call_participants']);

export class RealtimeClient {
  private readonly options: RealtimeOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: BackoffOptions;
  private socket: SocketLike | null = null;
  private status: ConnectionStatus = 'idle';
  private attempt = 0;
  private reconnectTimer: Timer | null = null;
  private heartbeatTimer: Timer | null = null;
  private pongTimer: Timer | null = null;
  private stopped = true;
  private nextRef = 1;
  private pending = new Map<string, Pending>();
  private welcomed = false;
  private lastError: string | undefined;
  /** connection_id from the latest welcome. */
  connectionId: string | null = null;
  /** How many welcomes were received (1 = first connect; more = reconnects). */
  connections = 0;

  constructor(options: RealtimeOptions) {
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  get state(): ConnectionStatus {
    return this.status;
  }

  get isOpen(): boolean {
    return this.status === 'open' && this.socket?.readyState === OPEN;
  }

  private setStatus(status: ConnectionStatus, retryInMs?: number): void {
    this.status = status;
    this.options.onStatus?.(status, { attempt: this.attempt, retryInMs, lastError: this.lastError });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.connect();
  }

  /** Closes for good (sign-out). */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.detach(1000, 'bye');
    this.failPending(new RealtimeError('closed', 'The connection was closed.'));
    this.setStatus('closed');
  }

  /** The browser came back online, or the user asked: reconnect right now. */
  reconnectNow(): void {
    if (this.stopped) return;
    if (this.status === 'open' || this.status === 'connecting' || this.socket) return;
    if (this.reconnectTimer !== null) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    void this.connect();
  }

  /** The browser says the network is gone: stop hammering and say so. */
  wentOffline(): void {
    if (this.stopped) return;
    this.detach(4000, 'offline');
    this.failPending(new RealtimeError('disconnected', 'The connection was lost.'));
    if (this.reconnectTimer !== null) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.lastError = 'The network is gone.';
    this.scheduleReconnect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setStatus(this.connections === 0 && this.attempt === 0 ? 'connecting' : 'reconnecting');
    let token: string | null;
    try {
      token = await this.options.getToken();
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : 'Cannot reach the server.';
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    if (!token) {
      this.stopped = true;
      this.setStatus('closed');
      this.options.onUnauthenticated?.();
      return;
    }
    const url = `${this.options.url()}?token=${encodeURIComponent(token)}`;
    let socket: SocketLike;
    try {
      socket = (this.options.createSocket ?? ((u) => new WebSocket(u) as unknown as SocketLike))(url);
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : 'Could not open a WebSocket.';
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.welcomed = false;
    socket.onmessage = (event) => this.handleMessage(socket, event.data);
    socket.onclose = (event) => this.handleClose(socket, event.code, event.reason);
    socket.onerror = () => {
      this.lastError = 'The connection to the server failed.';
    };
  }

  private handleMessage(socket: SocketLike, data: unknown): void {
    if (socket !== this.socket || typeof data !== 'string') return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    this.resetHeartbeat();
    if (frame.type === 'welcome') {
      this.welcomed = true;
      this.connectionId = frame.connection_id;
      this.connections += 1;
      this.attempt = 0;
      this.lastError = undefined;
      this.setStatus('open');
      this.options.onFrame(frame);
      this.resubscribe();
      return;
    }
    if (frame.type === 'session_revoked') {
      this.stopped = true;
      this.options.onFrame(frame);
      this.options.onSessionRevoked?.(frame.reason);
      return;
    }
    const ref = 'ref' in frame ? frame.ref : undefined;
    if (ref !== undefined && REPLY_TYPES.has(frame.type)) {
      const pending = this.pending.get(String(ref));
      if (pending) {
        this.pending.delete(String(ref));
        this.clock.clearTimeout(pending.timer);
        if (frame.type === 'error') pending.reject(new RealtimeError(frame.code, frame.message, frame.retry_after_ms));
        else pending.resolve(frame);
      }
    }
    this.options.onFrame(frame);
  }

  /** After every welcome: follow each open room again, replaying what was missed. */
  private resubscribe(): void {
    for (const point of this.options.resumePoints()) {
      const frame: Record<string, unknown> = { type: 'subscribe', room_id: point.room_id };
      if (point.since) frame.since = point.since;
      this.request(frame).catch(() => undefined);
    }
  }

  private handleClose(socket: SocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.clearHeartbeat();
    this.failPending(new RealtimeError('disconnected', 'The connection was lost before the server answered.'));
    if (this.stopped) {
      this.setStatus('closed');
      return;
    }
    if (code === 4003) {
      this.stopped = true;
      this.setStatus('closed');
      this.options.onSessionRevoked?.(reason || 'revoked');
      return;
    }
    if (code === 4001) {
      // The token was refused (expired, or the session ended): get a new one first.
      void this.options
        .forceRefresh()
        .then((token) => {
          if (!token) {
            this.stopped = true;
            this.setStatus('closed');
            this.options.onUnauthenticated?.();
          } else this.scheduleReconnect();
        })
        .catch(() => this.scheduleReconnect());
      return;
    }
    this.lastError = describeClose(code, reason, this.welcomed);
    // Abuse (1008): back off hard.
    if (code === 1008) this.attempt = Math.max(this.attempt, 5);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    // navigator.onLine is only a hint (false negatives happen): keep retrying either way;
    // the browser's "online" event just makes the next try immediate.
    const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
    const delay = backoffDelay(this.attempt, this.random, this.backoff);
    this.attempt += 1;
    this.setStatus(offline ? 'offline' : 'reconnecting', delay);
    if (this.reconnectTimer !== null) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  private detach(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = null;
    this.clearHeartbeat();
    if (socket) {
      socket.onopen = socket.onclose = socket.onerror = socket.onmessage = null;
      try {
        socket.close(code, reason);
      } catch {
        // already closed
      }
    }
  }

  private clearTimers(): void {
    if (this.reconnectTimer !== null) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.clearHeartbeat();
  }

  private failPending(error: Error): void {
    for (const [ref, pending] of this.pending) {
      this.clock.clearTimeout(pending.timer);
      pending.reject(error);
      this.pending.delete(ref);
    }
  }

  // ---- heartbeat: a silent socket (dead network path) is noticed within ~35 s ----------

  private resetHeartbeat(): void {
    this.clearHeartbeat();
    const interval = this.options.heartbeatMs ?? 25_000;
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = null;
      if (!this.isOpen) return;
      this.sendRaw({ type: 'ping' });
      this.pongTimer = this.clock.setTimeout(() => {
        this.pongTimer = null;
        const socket = this.socket;
        if (!socket) return;
        this.lastError = 'The server stopped answering.';
        this.detach(4000, 'heartbeat timeout');
        this.failPending(new RealtimeError('disconnected', 'The connection was lost.'));
        this.scheduleReconnect();
      }, 10_000);
    }, interval);
  }

  private clearHeartbeat(): void {
    if (this.heartbeatTimer !== null) this.clock.clearTimeout(this.heartbeatTimer);
    if (this.pongTimer !== null) this.clock.clearTimeout(this.pongTimer);
    this.heartbeatTimer = null;
    this.pongTimer = null;
  }

  // ---- sending ----------------------------------------------------------------------

  private sendRaw(frame: Record<string, unknown>): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN || !this.welcomed) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  /** Fire and forget (typing, read, signaling); false when not connected. */
  send(frame: Record<string, unknown>): boolean {
    return this.sendRaw(frame);
  }

  /** Sends with a `ref` and resolves with the reply (ack, subscribed, …) or rejects with its error. */
  request(frame: Record<string, unknown>, timeoutMs = this.options.requestTimeoutMs ?? 15_000): Promise<ServerFrame> {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      if (!this.sendRaw({ ...frame, ref })) {
        reject(new RealtimeError('disconnected', 'Not connected to the server.'));
        return;
      }
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(ref);
        reject(new RealtimeError('timeout', 'The server did not answer in time.'));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
    });
  }
}

function describeClose(code: number, reason: string, welcomed: boolean): string {
  switch (code) {
    case 1001:
      return 'The server is restarting.';
    case 1008:
      return 'Too many requests: the server closed the connection.';
    case 1009:
      return 'A message was too large for the server.';
    case 4009:
      return 'The connection was too slow to keep up.';
    default:
      if (!welcomed) return 'Cannot reach the server.';
      return reason ? `Connection lost (${reason}).` : 'Connection lost.';
  }
}

/** ws:// or wss:// on this page's origin. */
export function sameOriginSocketUrl(location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

// The HTTP client: JSON in and out, the access token kept in memory only, and silent refresh
// through the HttpOnly refresh cookie, before expiry and on a 401, one refresh at a time.

import { ApiError, NetworkError, errorFromResponse } from './errors';
import type { Me, TokenResponse } from './types';

export type Timer = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (timer) => globalThis.clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/** Why the signed-in session ended without the user asking. */
export type SessionEndReason = 'expired' | 'revoked' | 'logout';

export interface ApiClientOptions {
  baseUrl?: string;
  fetch?: typeof fetch;
  deviceId: () => string;
  clock?: Clock;
  /** Serializes refreshes across tabs (the refresh token rotates: two at once would revoke it). */
  lock?: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** Refresh this long before the access token expires (capped at a fifth of its lifetime). */
  refreshLeadMs?: number;
  /**
   * Remembers (not the token, just a yes/no) whether this browser was signed in, so a first
   * visit does not ask the server for a refresh that can only fail.
   */
  sessionHint?: { get(): boolean; set(signedIn: boolean): void };
}

/** The session hint kept in localStorage. */
export const storageSessionHint = {
  get(): boolean {
    try {
      return globalThis.localStorage?.getItem('chatter.signed_in') === '1';
    } catch {
      return true;
    }
  },
  set(signedIn: boolean): void {
    try {
      if (signedIn) globalThis.localStorage?.setItem('chatter.signed_in', '1');
      else globalThis.localStorage?.removeItem('chatter.signed_in');
    } catch {
      // storage unavailable: the hint is only an optimisation
    }
  },
};

export interface RequestOptions {
  query?: Record<string, string | number | undefined | null>;
  body?: unknown;
  /** Send without an access token (login, register). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export interface SessionState {
  user: Me | null;
  token: string | null;
}

type Listener = (state: SessionState) => void;

/**
 * The Web Locks name refreshes run under. The refresh cookie is shared by the browser's tabs and
 * rotates on every refresh; presenting a rotated one revokes the session. So tabs take turns:
 * one that waited simply refreshes with the cookie the previous holder left behind.
 */
export const REFRESH_LOCK = 'chatter-refresh';

/**
 * Uses the Web Locks API when there is one, so tabs of one browser never refresh at once.
 * Without it (old browsers, plain-http origins that are not localhost, tests) refreshes are
 * still single-flight within the tab, just not across tabs.
 */
export function browserLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks && typeof locks.request === 'function') return locks.request(name, fn) as Promise<T>;
  return fn();
}

export class ApiClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly deviceId: () => string;
  private readonly clock: Clock;
  private readonly lock: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  private readonly refreshLeadMs: number;
  private readonly sessionHint?: { get(): boolean; set(signedIn: boolean): void };

  private token: string | null = null;
  private expiresAt = 0;
  private user: Me | null = null;
  private refreshing: Promise<string | null> | null = null;
  private refreshTimer: Timer | null = null;
  private retryDelayMs = 0;
  private listeners = new Set<Listener>();
  private endListeners = new Set<(reason: SessionEndReason, detail?: string) => void>();
  /** Counts refresh round trips (for tests and diagnostics). */
  refreshCount = 0;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl ?? '';
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.deviceId = options.deviceId;
    this.clock = options.clock ?? realClock;
    this.lock = options.lock ?? browserLock;
    this.refreshLeadMs = options.refreshLeadMs ?? 60_000;
    this.sessionHint = options.sessionHint;
  }

  // ---- session state ----------------------------------------------------------------

  get session(): SessionState {
    return { user: this.user, token: this.token };
  }

  get currentToken(): string | null {
    return this.token;
  }

  get tokenExpiresAt(): number {
    return this.expiresAt;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onSessionEnded(listener: (reason: SessionEndReason, detail?: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  private emit(): void {
    const state = this.session;
    for (const listener of this.listeners) listener(state);
  }

  /** Adopts a token response (login, register, refresh) and plans the next refresh. */
  setSession(response: TokenResponse): void {
    this.token = response.access_token;
    this.expiresAt = this.clock.now() + response.expires_in * 1000;
    this.user = response.user;
    this.retryDelayMs = 0;
    this.sessionHint?.set(true);
    this.scheduleRefresh(response.expires_in * 1000);
    this.emit();
  }

  setUser(user: Me): void {
    this.user = user;
    this.emit();
  }

  /** Forgets the session locally (the server side is the caller's business). */
  clear(reason?: SessionEndReason, detail?: string): void {
    const hadSession = this.token !== null || this.user !== null;
    this.sessionHint?.set(false);
    this.token = null;
    this.user = null;
    this.expiresAt = 0;
    if (this.refreshTimer !== null) this.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.emit();
    if (reason && hadSession) for (const listener of this.endListeners) listener(reason, detail);
  }

  private scheduleRefresh(lifetimeMs: number): void {
    if (this.refreshTimer !== null) this.clock.clearTimeout(this.refreshTimer);
    const lead = Math.min(this.refreshLeadMs, lifetimeMs / 5);
    const delay = Math.max(1_000, lifetimeMs - lead);
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh().catch(() => undefined);
    }, delay);
  }

  /** True when the token expires within `marginMs`. */
  private nearExpiry(marginMs = 10_000): boolean {
    return this.token === null || this.clock.now() + marginMs >= this.expiresAt;
  }

  /** A usable access token: the current one, or a fresh one when it is (about to be) expired. */
  async accessToken(): Promise<string | null> {
    if (this.token && !this.nearExpiry()) return this.token;
    return this.refresh();
  }

  /**
   * Trades the refresh cookie for a new access token. Only one refresh is ever in flight:
   * concurrent callers share it. Resolves null when there is no session (401); rejects on
   * network trouble (the session may still be good; a retry is planned).
   */
  refresh(): Promise<string | null> {
    if (!this.refreshing) {
      this.refreshing = this.lock(REFRESH_LOCK, () => this.doRefresh()).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<string | null> {
    this.refreshCount += 1;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}/api/v1/auth/refresh`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-Device-ID': this.deviceId() },
      });
    } catch {
      this.planRetry();
      throw new NetworkError();
    }
    if (response.ok) {
      this.setSession((await response.json()) as TokenResponse);
      return this.token;
    }
    const error = await errorFromResponse(response);
    if (response.status === 401) {
      this.clear('expired', error.message);
      return null;
    }
    this.planRetry(error.retryAfterMs);
    throw error;
  }

  /** After a failed refresh that did not end the session, try again later (while signed in). */
  private planRetry(afterMs?: number): void {
    if (this.token === null && this.user === null) return;
    this.retryDelayMs = afterMs ?? Math.min(60_000, Math.max(2_000, this.retryDelayMs * 2));
    if (this.refreshTimer !== null) this.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh().catch(() => undefined);
    }, this.retryDelayMs);
  }

  // ---- requests ---------------------------------------------------------------------

  url(path: string, query?: RequestOptions['query']): string {
    let url = `${this.baseUrl}/api/v1${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += `?${text}`;
    }
    return url;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    let token = options.anonymous ? null : await this.accessToken();
    if (!options.anonymous && token === null) {
      throw new ApiError(401, 'unauthorized', 'You are signed out. Sign in again.');
    }
    let response = await this.send(method, path, options, token);
    if (response.status === 401 && !options.anonymous) {
      // Another request may have refreshed already: then just retry with the newer token.
      token = this.token !== null && this.token !== token ? this.token : await this.refresh();
      if (token === null) throw await errorFromResponse(response);
      response = await this.send(method, path, options, token);
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async send(method: string, path: string, options: RequestOptions, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { 'X-Device-ID': this.deviceId() };
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: BodyInit | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    try {
      return await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body,
        credentials: 'same-origin',
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new NetworkError();
    }
  }

  get<T>(path: string, query?: RequestOptions['query'], signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { query, signal });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  patch<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }

  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, { body });
  }

  // ---- sign in and out --------------------------------------------------------------

  async login(username: string, password: string): Promise<Me> {
    const response = await this.request<TokenResponse>('POST', '/auth/login', {
      body: username.includes('@') ? { email: username, password } : { username, password },
      anonymous: true,
    });
    this.setSession(response);
    return response.user;
  }

  async register(input: { username: string; password: string; email?: string; display_name?: string }): Promise<Me> {
    const response = await this.request<TokenResponse>('POST', '/auth/register', { body: input, anonymous: true });
    this.setSession(response);
    return response.user;
  }

  /** Restores a session from the refresh cookie at start; false when there is none. */
  async resume(): Promise<boolean> {
    if (this.sessionHint && !this.sessionHint.get()) return false;
    return (await this.refresh()) !== null;
  }

  async logout(): Promise<void> {
    try {
      if (this.token) await this.request<void>('POST', '/auth/logout');
    } finally {
      this.clear();
    }
  }
}

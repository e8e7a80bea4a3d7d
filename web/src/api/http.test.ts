import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, REFRESH_LOCK, browserLock } from './http';
import { ApiError, NetworkError, describeError } from './errors';
import { flush, jsonResponse, tokenResponse } from '../test/fakes';

type Call = { url: string; init: RequestInit };

/** A fake server: /auth/refresh hands out token-1, token-2, …; other routes accept only the newest token. */
function fakeServer(options: { refreshDelayMs?: number; refreshStatus?: number } = {}) {
  const calls: Call[] = [];
  let issued = 0;
  let valid = 'token-0';
  const fetch = vi.fn(async (url: string | URL | Request, init: RequestInit = {}) => {
    const href = String(url);
    calls.push({ url: href, init });
    if (href.endsWith('/auth/refresh')) {
      if (options.refreshDelayMs) await new Promise((r) => setTimeout(r, options.refreshDelayMs));
      if (options.refreshStatus) return jsonResponse(options.refreshStatus, { error: { code: 'unauthorized', message: 'the refresh token is invalid or expired' } });
      issued += 1;
      valid = `token-${issued}`;
      return jsonResponse(200, tokenResponse(valid));
    }
    const auth = new Headers(init.headers).get('Authorization');
    if (auth !== `Bearer ${valid}`) return jsonResponse(401, { error: { code: 'unauthorized', message: 'token expired' } });
    return jsonResponse(200, { ok: true, path: href });
  });
  return {
    fetch: fetch as unknown as typeof globalThis.fetch,
    calls,
    refreshCalls: () => calls.filter((c) => c.url.endsWith('/auth/refresh')).length,
    invalidate: () => {
      valid = 'nobody';
    },
    expire: (next: string) => {
      valid = next;
    },
  };
}

describe('ApiClient token refresh', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-06-01T12:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('concurrent 401s trigger exactly one refresh, and every request is retried with the new token', async () => {
    const server = fakeServer({ refreshDelayMs: 50 });
    const client = new ApiClient({ fetch: server.fetch, deviceId: () => 'device-1' });
    client.setSession(tokenResponse('token-0') as never);
    // The server stops accepting token-0 (e.g. it was revoked by rotation elsewhere).
    server.expire('token-stale');

    const results = Promise.all([client.get('/a'), client.get('/b'), client.get('/c'), client.get('/d')]);
    await vi.advanceTimersByTimeAsync(100);
    const answers = await results;

    expect(server.refreshCalls()).toBe(1);
    expect(answers).toHaveLength(4);
    const retried = server.calls.filter((c) => !c.url.endsWith('/auth/refresh') && new Headers(c.init.headers).get('Authorization') === 'Bearer token-1');
    expect(retried.map((c) => new URL(c.url, 'http://x').pathname).sort()).toEqual(['/api/v1/a', '/api/v1/b', '/api/v1/c', '/api/v1/d']);
    expect(client.currentToken).toBe('token-1');
  });

  it('refreshes silently before the access token expires', async () => {
    const server = fakeServer();
    const client = new ApiClient({ fetch: server.fetch, deviceId: () => 'device-1', refreshLeadMs: 60_000 });
    client.setSession(tokenResponse('token-0', 900) as never);

    await vi.advanceTimersByTimeAsync(839_000);
    expect(server.refreshCalls()).toBe(0);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(server.refreshCalls()).toBe(1);
    expect(client.currentToken).toBe('token-1');

    // And again before the new token expires.
    await vi.advanceTimersByTimeAsync(840_000);
    expect(server.refreshCalls()).toBe(2);
    expect(client.currentToken).toBe('token-2');
  });

  it('a token about to expire is refreshed before use; concurrent callers share that refresh', async () => {
    const server = fakeServer({ refreshDelayMs: 20 });
    const client = new ApiClient({ fetch: server.fetch, deviceId: () => 'device-1' });
    client.setSession(tokenResponse('token-0', 900) as never);
    vi.setSystemTime(Date.now() + 895_000); // the planned refresh timer did not fire (e.g. the tab slept)

    const tokens = Promise.all([client.accessToken(), client.accessToken(), client.accessToken()]);
    await vi.advanceTimersByTimeAsync(50);
    expect(await tokens).toEqual(['token-1', 'token-1', 'token-1']);
    expect(server.refreshCalls()).toBe(1);
  });

  it('sends the refresh with cookies and the device id, never a token in storage', async () => {
    const server = fakeServer();
    const client = new ApiClient({ fetch: server.fetch, deviceId: () => 'device-42' });
    await client.resume();
    const call = server.calls[0];
    expect(call.url).toBe('/api/v1/auth/refresh');
    expect(call.init.method).toBe('POST');
    expect(call.init.credentials).toBe('same-origin');
    expect(new Headers(call.init.headers).get('X-Device-ID')).toBe('device-42');
  });

  it('a refused refresh ends the session and says why', async () => {
    const server = fakeServer({ refreshStatus: 401 });
    const client = new ApiClient({ fetch: server.fetch, deviceId: () => 'd' });
    client.setSession(tokenResponse('token-0') as never);
    server.invalidate();
    const ended = vi.fn();
    client.onSessionEnded(ended);
    await expect(client.get('/rooms/joined')).rejects.toBeInstanceOf(ApiError);
    expect(ended).toHaveBeenCalledWith('expired', 'the refresh token is invalid or expired');
    expect(client.currentToken).toBeNull();
  });

  it('a refresh that cannot reach the server keeps the session and tries again later', async () => {
    let fail = true;
    const fetch = vi.fn(async (url: string | URL | Request) => {
      if (fail) throw new TypeError('Failed to fetch');
      return String(url).endsWith('/auth/refresh') ? jsonResponse(200, tokenResponse('token-9')) : jsonResponse(200, {});
    }) as unknown as typeof globalThis.fetch;
    const client = new ApiClient({ fetch, deviceId: () => 'd' });
    client.setSession(tokenResponse('token-0', 900) as never);
    vi.setSystemTime(Date.now() + 899_000);
    await expect(client.accessToken()).rejects.toBeInstanceOf(NetworkError);
    expect(client.session.user).not.toBeNull();
    fail = false;
    await vi.advanceTimersByTimeAsync(2_100);
    await flush();
    expect(client.currentToken).toBe('token-9');
  });
});

/**
 * Tabs of one browser: one cookie jar, and a server that rotates the refresh cookie like
 * Chatter's (a rotated cookie presented again revokes the session). The cookie is read when a
 * request starts and replaced when its answer arrives, as in a browser.
 */
function sharedCookieServer() {
  let cookie = 'refresh-0';
  let rotations = 0;
  const retired = new Set<string>();
  let revoked = false;
  const presented: string[] = [];
  const fetch = vi.fn(async (url: string | URL | Request) => {
    if (!String(url).endsWith('/auth/refresh')) return jsonResponse(200, {});
    const sent = cookie;
    presented.push(sent);
    await new Promise((r) => setTimeout(r, 30));
    if (revoked || retired.has(sent)) {
      revoked = true;
      return jsonResponse(401, { error: { code: 'unauthorized', message: 'the refresh token was already used; the session has been revoked' } });
    }
    retired.add(sent);
    rotations += 1;
    cookie = `refresh-${rotations}`;
    return jsonResponse(200, tokenResponse(`token-${rotations}`));
  }) as unknown as typeof globalThis.fetch;
  return { fetch, presented, revoked: () => revoked };
}

/** An in-memory stand-in for navigator.locks shared by the "tabs" of a test. */
function sharedLocks() {
  const tails = new Map<string, Promise<unknown>>();
  const names: string[] = [];
  const lock = <T,>(name: string, fn: () => Promise<T>): Promise<T> => {
    names.push(name);
    const run = (tails.get(name) ?? Promise.resolve()).then(fn, fn);
    tails.set(name, run.catch(() => undefined));
    return run;
  };
  return { lock, names };
}

describe('refresh across tabs', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('two tabs refreshing at once take turns under the lock: the second uses the rotated cookie and both stay signed in', async () => {
    const server = sharedCookieServer();
    const locks = sharedLocks();
    const tabs = [1, 2].map(() => new ApiClient({ fetch: server.fetch, deviceId: () => 'device-1', lock: locks.lock }));
    for (const tab of tabs) tab.setSession(tokenResponse('token-0') as never);

    const tokens = Promise.all(tabs.map((tab) => tab.refresh()));
    await vi.advanceTimersByTimeAsync(100);

    expect(await tokens).toEqual(['token-1', 'token-2']);
    expect(server.presented).toEqual(['refresh-0', 'refresh-1']);
    expect(server.revoked()).toBe(false);
    expect(locks.names).toEqual([REFRESH_LOCK, REFRESH_LOCK]);
    // Within one tab refreshes stay single-flight: one lock request for many callers.
    const again = Promise.all([tabs[0].refresh(), tabs[0].refresh(), tabs[0].refresh()]);
    await vi.advanceTimersByTimeAsync(100);
    expect(await again).toEqual(['token-3', 'token-3', 'token-3']);
    expect(locks.names).toHaveLength(3);
  });

  it('without the lock the same two refreshes present one cookie twice, and the server ends the session', async () => {
    const server = sharedCookieServer();
    const tabs = [1, 2].map(() => new ApiClient({ fetch: server.fetch, deviceId: () => 'device-1', lock: (_name, fn) => fn() }));
    for (const tab of tabs) tab.setSession(tokenResponse('token-0') as never);
    const tokens = Promise.all(tabs.map((tab) => tab.refresh()));
    await vi.advanceTimersByTimeAsync(100);
    expect(await tokens).toEqual(['token-1', null]);
    expect(server.presented).toEqual(['refresh-0', 'refresh-0']);
    expect(server.revoked()).toBe(true);
  });

  it('uses navigator.locks by default, and runs the refresh unlocked where there is none', async () => {
    const request = vi.fn((_name: string, fn: () => Promise<unknown>) => fn());
    vi.stubGlobal('navigator', { locks: { request } });
    const server = sharedCookieServer();
    const client = new ApiClient({ fetch: server.fetch, deviceId: () => 'd' });
    const token = client.refresh();
    await vi.advanceTimersByTimeAsync(50);
    expect(await token).toBe('token-1');
    expect(request).toHaveBeenCalledTimes(1);
    expect(request.mock.calls[0][0]).toBe(REFRESH_LOCK);

    vi.stubGlobal('navigator', undefined);
    const direct = browserLock('anything', async () => 42);
    expect(await direct).toBe(42);
  });
});

describe('describeError', () => {
  it('spells out field problems and rate limits', () => {
    expect(describeError(new ApiError(422, 'validation_failed', 'invalid', { username: 'is taken', password: 'must be at least 8 characters' }))).toBe(
      'Username is taken. Password must be at least 8 characters.',
    );
    expect(describeError(new ApiError(429, 'rate_limited', 'slow down', {}, 3000))).toBe('Too many requests. Try again in 3 s.');
    expect(describeError(new ApiError(404, 'not_found', 'no such room'))).toBe('No such room.');
    expect(describeError(new NetworkError())).toMatch(/Cannot reach the server/);
  });
});

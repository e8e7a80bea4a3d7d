import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../api/http';
import type { SecurityNotice } from '../api/types';
import { timeOfDay } from '../util/format';
import { ChatController } from './chat';
import { securityNoticeText, securityNoticeToast, withNotice } from './security';
import { FakeSocket, flush, jsonResponse, tokenResponse } from '../test/fakes';

const throttled: SecurityNotice = { kind: 'login_throttled', failed_logins: 23, throttled_until: '2026-12-07T15:40:00Z' };

describe('security notices in words', () => {
  it('says how many sign-ins failed, until when, and that the password still works', () => {
    const text = securityNoticeText(throttled);
    expect(text).toBe(
      `Sign-in to your account was throttled after 23 failed sign-in attempts in the last hour (until ${timeOfDay('2026-12-07T15:40:00Z')}). ` +
        'Your password still works for you. If these attempts were not yours, consider changing your password.',
    );
    expect(securityNoticeText({ ...throttled, failed_logins: 1 })).toContain('after 1 failed sign-in attempt in');
    expect(securityNoticeToast(throttled)).toContain(`23 failed sign-in attempts to your account in the last hour: sign-in is throttled until ${timeOfDay(throttled.throttled_until)}.`);
  });

  it('a newer notice replaces the one of its kind', () => {
    const later = { ...throttled, failed_logins: 30 };
    expect(withNotice([throttled], later)).toEqual([later]);
    expect(withNotice([], throttled)).toEqual([throttled]);
  });
});

/** A controller whose server answers GET /auth/security-notices with `notices` (or 404). */
function setup(notices: SecurityNotice[] | 'missing') {
  const requests: string[] = [];
  const fetch = vi.fn(async (input: string | URL | Request) => {
    const path = new URL(String(input), 'http://chat.test').pathname.replace('/api/v1', '');
    requests.push(path);
    if (path === '/auth/security-notices') {
      return notices === 'missing' ? jsonResponse(404, { error: { code: 'not_found', message: 'no such route' } }) : jsonResponse(200, { items: notices });
    }
    if (path === '/rooms/joined') return jsonResponse(200, { items: [] });
    return jsonResponse(404, { error: { code: 'not_found', message: 'no such route' } });
  }) as unknown as typeof globalThis.fetch;
  const client = new ApiClient({ fetch, deviceId: () => 'dev' });
  client.setSession(tokenResponse('tok') as never);
  const chat = new ChatController({ client, socketUrl: () => 'ws://chat.test/ws', createSocket: (url) => new FakeSocket(url), random: () => 0.5, isVisible: () => true });
  return { chat, noticeLoads: () => requests.filter((p) => p === '/auth/security-notices').length };
}

describe('ChatController: security notices', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.reset();
  });
  afterEach(() => vi.useRealTimers());

  it('the sessions view loads the notices; an older server without the route has none', async () => {
    const { chat } = setup([throttled]);
    const unwatch = chat.watchSecurityNotices();
    await vi.advanceTimersByTimeAsync(0);
    expect(chat.securityNotices.get()).toEqual([throttled]);
    unwatch();

    const old = setup('missing');
    old.chat.watchSecurityNotices();
    await vi.advanceTimersByTimeAsync(0);
    expect(old.chat.securityNotices.get()).toEqual([]);
  });

  it('a security_notice event shows a toast that stays, and updates the notices (reloaded while the sessions view is open)', async () => {
    const later = { ...throttled, failed_logins: 24 };
    const { chat, noticeLoads } = setup([later]);
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.latest().open();

    // Not on the sessions view: the event alone tells, no request.
    FakeSocket.latest().receive({ type: 'security_notice', ...throttled });
    expect(chat.securityNotices.get()).toEqual([throttled]);
    expect(noticeLoads()).toBe(0);
    const toasts = chat.notices.store.get();
    expect(toasts).toHaveLength(1);
    expect(toasts[0]).toMatchObject({ kind: 'warning', text: securityNoticeToast(throttled) });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(chat.notices.store.get()).toHaveLength(1);

    // On the sessions view: the list is loaded again from the server.
    const unwatch = chat.watchSecurityNotices();
    await flush();
    expect(noticeLoads()).toBe(1);
    FakeSocket.latest().receive({ type: 'security_notice', ...later });
    await vi.advanceTimersByTimeAsync(0);
    expect(noticeLoads()).toBe(2);
    expect(chat.securityNotices.get()).toEqual([later]);
    unwatch();
  });
});

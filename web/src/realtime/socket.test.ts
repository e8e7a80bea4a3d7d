import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeClient, RealtimeError, type ResumePoint } from './socket';
import { backoffDelay } from './backoff';
import { FakeSocket, flush, mid } from '../test/fakes';
import type { ServerFrame } from '../api/types';

function makeClient(resume: () => ResumePoint[] = () => [], overrides: Partial<ConstructorParameters<typeof RealtimeClient>[0]> = {}) {
  const frames: ServerFrame[] = [];
  const statuses: string[] = [];
  const client = new RealtimeClient({
    url: () => 'ws://chat.test/ws',
    getToken: async () => 'tok',
    forceRefresh: async () => 'tok2',
    createSocket: (url) => new FakeSocket(url),
    random: () => 0.5,
    resumePoints: resume,
    onFrame: (f) => frames.push(f),
    onStatus: (s) => statuses.push(s),
    ...overrides,
  });
  return { client, frames, statuses };
}

describe('RealtimeClient', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.reset();
  });
  afterEach(() => vi.useRealTimers());

  it('connects to /ws?token= and is open after the welcome', async () => {
    const { client, statuses } = makeClient();
    client.start();
    await flush();
    const socket = FakeSocket.latest();
    expect(socket.url).toBe('ws://chat.test/ws?token=tok');
    socket.open({ connection_id: 'c1' });
    expect(client.state).toBe('open');
    expect(client.connectionId).toBe('c1');
    expect(statuses).toEqual(['connecting', 'open']);
  });

  it('reconnects with exponential backoff and jitter, resetting after a welcome', async () => {
    const { client, statuses } = makeClient();
    client.start();
    await flush();
    FakeSocket.latest().open();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = FakeSocket.all.length;
      FakeSocket.latest().drop(1006);
      expect(client.state).toBe('reconnecting');
      const expected = backoffDelay(attempt, () => 0.5);
      delays.push(expected);
      await vi.advanceTimersByTimeAsync(expected - 1);
      expect(FakeSocket.all.length).toBe(before); // not yet
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeSocket.all.length).toBe(before + 1); // a new attempt, which fails again below
    }
    expect(delays).toEqual([375, 750, 1500, 3000, 6000]);
    // A successful connection resets the schedule.
    FakeSocket.latest().open();
    FakeSocket.latest().drop(1006);
    await vi.advanceTimersByTimeAsync(375);
    expect(FakeSocket.all.length).toBe(7);
    expect(statuses).toContain('reconnecting');
  });

  it('after a reconnect, subscribes every open room with since = the last message id seen there', async () => {
    const seen = new Map<string, string | undefined>([
      ['room-a', mid(41)],
      ['room-b', mid(7)],
      ['room-c', undefined],
    ]);
    const { client } = makeClient(() => [...seen].map(([room_id, since]) => ({ room_id, since })));
    client.start();
    await flush();
    FakeSocket.latest().open();
    // More messages were seen before the drop.
    seen.set('room-a', mid(45));
    FakeSocket.latest().drop(1001, 'going away');
    await vi.advanceTimersByTimeAsync(10_000);
    const second = FakeSocket.latest();
    expect(FakeSocket.all.length).toBe(2);
    second.open();
    const subscribes = second.framesOfType('subscribe').map(({ room_id, since }) => ({ room_id, since }));
    expect(subscribes).toEqual([
      { room_id: 'room-a', since: mid(45) },
      { room_id: 'room-b', since: mid(7) },
      { room_id: 'room-c', since: undefined },
    ]);
  });

  it('matches replies to requests by ref, and fails pending requests when the socket drops', async () => {
    const { client } = makeClient();
    client.start();
    await flush();
    const socket = FakeSocket.latest();
    socket.open();
    const ok = client.request({ type: 'send_message', room_id: 'r', content: 'hi' });
    const bad = client.request({ type: 'send_message', room_id: 'r', content: '' });
    const lost = client.request({ type: 'read', room_id: 'r', message_id: 'm' });
    const [f1, f2] = socket.framesOfType('send_message');
    socket.receive({ type: 'ack', ref: f1.ref, message: { id: 'm1' } });
    socket.receive({ type: 'error', ref: f2.ref, code: 'validation_failed', message: 'content: must not be empty' });
    expect(await ok).toMatchObject({ type: 'ack', message: { id: 'm1' } });
    await expect(bad).rejects.toMatchObject({ code: 'validation_failed' });
    socket.drop(1006);
    await expect(lost).rejects.toBeInstanceOf(RealtimeError);
    await expect(client.request({ type: 'ping' })).rejects.toMatchObject({ code: 'disconnected' });
  });

  it('close 4003 (session revoked) ends it for good', async () => {
    const revoked = vi.fn();
    const { client } = makeClient(() => [], { onSessionRevoked: revoked });
    client.start();
    await flush();
    FakeSocket.latest().open();
    FakeSocket.latest().drop(4003, 'session revoked');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(revoked).toHaveBeenCalled();
    expect(FakeSocket.all.length).toBe(1);
    expect(client.state).toBe('closed');
  });

  it('close 4001 gets a new token, then reconnects with it', async () => {
    const forceRefresh = vi.fn(async () => 'fresh');
    let token = 'old';
    const { client } = makeClient(() => [], { forceRefresh, getToken: async () => token });
    client.start();
    await flush();
    FakeSocket.latest().drop(4001, 'unauthenticated');
    token = 'fresh';
    await vi.advanceTimersByTimeAsync(1_000);
    expect(forceRefresh).toHaveBeenCalledTimes(1);
    expect(FakeSocket.latest().url).toBe('ws://chat.test/ws?token=fresh');
  });

  it('a silent connection is detected by the app-level ping and replaced', async () => {
    const { client } = makeClient(() => [], { heartbeatMs: 25_000 });
    client.start();
    await flush();
    const socket = FakeSocket.latest();
    socket.open();
    await vi.advanceTimersByTimeAsync(25_000);
    expect(socket.framesOfType('ping')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000); // no pong
    expect(socket.closedWith).toBe(4000);
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeSocket.all.length).toBe(2);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../api/http';
import type { Message, PublicProfile } from '../api/types';
import { ChatController } from './chat';
import { FakeSocket, bob, flush, jsonResponse, me, mid, msg, room, tokenResponse } from '../test/fakes';

/** A fake REST server with per-room histories; POST /messages can be made to fail. */
function setup() {
  const histories = new Map<string, Message[]>([
    ['room-1', [msg(1), msg(2), msg(3)]],
    ['room-2', [msg(10, { room_id: 'room-2' }), msg(11, { room_id: 'room-2' })]],
  ]);
  const posted: Record<string, unknown>[] = [];
  let networkDown = false;
  const fetch = vi.fn(async (input: string | URL | Request, init: RequestInit = {}) => {
    if (networkDown) throw new TypeError('Failed to fetch');
    const url = new URL(String(input), 'http://chat.test');
    const path = url.pathname.replace('/api/v1', '');
    if (path === '/rooms/joined') return jsonResponse(200, { items: [room('room-1'), room('room-2')] });
    let m = path.match(/^\/rooms\/([^/]+)\/messages$/);
    if (m && (init.method ?? 'GET') === 'GET') return jsonResponse(200, { items: histories.get(m[1]) ?? [], has_more: false, next_cursor: null });
    if (m && init.method === 'POST') {
      const body = JSON.parse(String(init.body)) as Record<string, unknown>;
      posted.push(body);
      return jsonResponse(201, msg(99, { room_id: m[1], sender: { id: me.id, username: me.username, display_name: me.display_name }, content: String(body.content), client_msg_id: String(body.client_msg_id) }));
    }
    m = path.match(/^\/rooms\/([^/]+)\/members$/);
    if (m) return jsonResponse(200, { items: [], next_cursor: null });
    m = path.match(/^\/rooms\/([^/]+)$/);
    if (m) return jsonResponse(200, room(m[1]));
    return jsonResponse(404, { error: { code: 'not_found', message: 'no such route' } });
  }) as unknown as typeof globalThis.fetch;
  const client = new ApiClient({ fetch, deviceId: () => 'dev' });
  client.setSession(tokenResponse('tok') as never);
  const chat = new ChatController({
    client,
    socketUrl: () => 'ws://chat.test/ws',
    createSocket: (url) => new FakeSocket(url),
    random: () => 0.5,
    isVisible: () => true,
  });
  return {
    chat,
    posted,
    setNetworkDown: (down: boolean) => {
      networkDown = down;
    },
    timeline: (roomId: string) => chat.messages.get(roomId)?.messages ?? [],
  };
}

describe('ChatController: reconnect and gap recovery', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.reset();
  });
  afterEach(() => vi.useRealTimers());

  it('re-subscribes open rooms with since = last seen id and merges replayed and live messages without duplicates', async () => {
    const { chat, timeline } = setup();
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.latest().open({ rooms: [room('room-1'), room('room-2')] });
    await chat.openRoom('room-1');
    await chat.openRoom('room-2');
    FakeSocket.latest().receive({ type: 'message_new', message: msg(4) });
    expect(timeline('room-1').map((m) => m.id)).toEqual([1, 2, 3, 4].map(mid));

    // The server restarts.
    FakeSocket.latest().drop(1001, 'going away');
    expect(chat.connection.get().status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1_000);
    const socket = FakeSocket.latest();
    expect(FakeSocket.all).toHaveLength(2);
    socket.open({ rooms: [room('room-1'), room('room-2')] });

    const subscribes = socket.framesOfType('subscribe');
    expect(subscribes.map(({ room_id, since }) => ({ room_id, since }))).toEqual([
      { room_id: 'room-1', since: mid(4) },
      { room_id: 'room-2', since: mid(11) },
    ]);

    // A live message slips in before the replay, then the replay (overlapping it), then more live ones.
    socket.receive({ type: 'message_new', message: msg(6) });
    for (const n of [5, 6]) socket.receive({ type: 'message_new', message: msg(n) });
    socket.receive({ type: 'subscribed', ref: subscribes[0].ref, room_id: 'room-1', replayed: 2, has_more: false });
    socket.receive({ type: 'message_new', message: msg(8) });
    socket.receive({ type: 'message_new', message: msg(7) });
    socket.receive({ type: 'message_new', message: msg(8) });

    expect(timeline('room-1').map((m) => m.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map(mid));
    expect(timeline('room-2').map((m) => m.id)).toEqual([mid(10), mid(11)]);
    expect(chat.connection.get().status).toBe('open');
  });

  it('shows an optimistic message at once and replaces it with the ack of the same client_msg_id', async () => {
    const { chat, timeline } = setup();
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeSocket.latest();
    socket.open({ rooms: [room('room-1')] });
    await chat.openRoom('room-1');

    chat.sendMessage('room-1', 'hello there');
    expect(timeline('room-1').at(-1)).toMatchObject({ content: 'hello there', local: { status: 'sending' } });
    await flush();
    const [frame] = socket.framesOfType('send_message');
    expect(frame).toMatchObject({ room_id: 'room-1', content: 'hello there' });
    const clientMsgId = frame.client_msg_id as string;
    expect(clientMsgId).toBeTruthy();

    const saved = msg(5, { sender: { id: me.id, username: me.username, display_name: me.display_name }, content: 'hello there', client_msg_id: clientMsgId });
    socket.receive({ type: 'message_new', message: saved }); // the broadcast may come first
    socket.receive({ type: 'ack', ref: frame.ref, message: saved });
    await flush();
    expect(timeline('room-1').map((m) => m.id)).toEqual([1, 2, 3, 5].map(mid));
    expect(timeline('room-1').some((m) => m.local)).toBe(false);
  });

  it('queues a message written while offline and sends it after the reconnect with the same client_msg_id', async () => {
    const { chat, timeline, setNetworkDown, posted } = setup();
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.latest().open({ rooms: [room('room-1')] });
    await chat.openRoom('room-1');

    FakeSocket.latest().drop(1006);
    setNetworkDown(true);
    chat.sendMessage('room-1', 'written offline');
    await flush(30);
    expect(timeline('room-1').at(-1)?.local?.status).toBe('queued');
    expect(posted).toHaveLength(0);

    setNetworkDown(false);
    await vi.advanceTimersByTimeAsync(1_000);
    const socket = FakeSocket.latest();
    socket.open({ rooms: [room('room-1')] });
    await flush(30);
    const frames = socket.framesOfType('send_message');
    expect(frames).toHaveLength(1);
    const pendingId = timeline('room-1').at(-1)?.local?.clientMsgId;
    expect(frames[0].client_msg_id).toBe(pendingId);
    socket.receive({ type: 'ack', ref: frames[0].ref, message: msg(7, { content: 'written offline', client_msg_id: pendingId ?? null }) });
    await flush(30);
    expect(timeline('room-1').map((m) => m.content)).toEqual(['message 1', 'message 2', 'message 3', 'written offline']);
  });

  it('keeps unread counts and last messages of the sidebar current from live events', async () => {
    const { chat } = setup();
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeSocket.latest();
    socket.open({ rooms: [room('room-1'), room('room-2')] });
    socket.receive({ type: 'message_new', message: msg(20, { room_id: 'room-2' }) });
    socket.receive({ type: 'message_new', message: msg(21, { room_id: 'room-2' }) });
    const r2 = chat.rooms.get('room-2');
    expect(r2?.unread_count).toBe(2);
    expect(r2?.last_message?.id).toBe(mid(21));
    expect(chat.rooms.list()[0].id).toBe('room-2');
    socket.receive({ type: 'read', room_id: 'room-2', user_id: me.id, message_id: mid(21) });
    expect(chat.rooms.get('room-2')?.unread_count).toBe(0);
  });

  it('places the "new messages" line at my read cursor before marking the room read, even when opened twice at once', async () => {
    const { chat } = setup();
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeSocket.latest();
    socket.open({ rooms: [room('room-1', { unread_count: 2 })] });
    // Members say I read up to message 1; the page reports the room on screen at once.
    chat.api.members = async () => [
      { user: { ...me, online: true, last_seen_at: null }, role: 'member', joined_at: '2026-01-01T00:00:00Z', read_up_to: mid(1) },
    ];
    chat.setViewport('room-1', true);
    await Promise.all([chat.openRoom('room-1'), chat.openRoom('room-1')]);
    expect(chat.unreadMarkers.get().get('room-1')).toBe(mid(1));
    const reads = socket.framesOfType('read');
    expect(reads.map((f) => f.message_id)).toEqual([mid(3)]);
    expect(chat.rooms.get('room-1')?.unread_count).toBe(0);
  });

  it('a revoked session signs out and stops reconnecting', async () => {
    const { chat } = setup();
    const ended = vi.fn();
    chat.client.onSessionEnded(ended);
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeSocket.latest();
    socket.open();
    socket.receive({ type: 'session_revoked', reason: 'revoked' });
    socket.drop(4003, 'session revoked');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ended).toHaveBeenCalledWith('revoked', 'revoked');
    expect(chat.client.currentToken).toBeNull();
    expect(FakeSocket.all).toHaveLength(1);
  });
});

describe('ChatController: user_updated', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.reset();
  });
  afterEach(() => vi.useRealTimers());

  const bobProfile: PublicProfile = { ...bob, avatar_url: null, status_text: '', online: true, last_seen_at: null };

  it("shows a user's new name and avatar in members, DMs and their messages", async () => {
    const { chat, timeline } = setup();
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeSocket.latest();
    const dm = room('dm-1', { kind: 'direct', name: 'Bob', other_user: bobProfile, last_message: msg(12, { room_id: 'dm-1' }) });
    socket.open({ rooms: [room('room-1'), dm] });
    await chat.openRoom('room-1');
    chat.people.setMembers('room-1', [{ user: bobProfile, role: 'member', joined_at: '2026-01-01T00:00:00Z', read_up_to: null }]);
    // Offline meanwhile: the profile change does not bring presence back.
    socket.receive({ type: 'presence', user_id: bob.id, status: 'offline', last_seen_at: '2026-01-01T00:05:00Z' });

    const renamed: PublicProfile = { ...bobProfile, display_name: 'Robert', avatar_url: 'http://chat.test/a.png', online: true };
    socket.receive({ type: 'user_updated', user: renamed });

    expect(timeline('room-1').map((m) => m.sender?.display_name)).toEqual(['Robert', 'Robert', 'Robert']);
    expect(chat.people.members.get().get('room-1')?.[0].user).toMatchObject({ display_name: 'Robert', avatar_url: 'http://chat.test/a.png' });
    expect(chat.people.profiles.get().get(bob.id)?.display_name).toBe('Robert');
    expect(chat.people.presence.get().get(bob.id)?.online).toBe(false);
    const dmNow = chat.rooms.get('dm-1');
    expect(dmNow?.name).toBe('Robert');
    expect(dmNow?.other_user?.avatar_url).toBe('http://chat.test/a.png');
    expect(dmNow?.last_message?.sender?.display_name).toBe('Robert');
    // Rooms not about Bob are left as they were.
    expect(chat.rooms.get('room-1')?.name).toBe('room-1');
  });

  it('takes my own profile change from another device', async () => {
    const { chat } = setup();
    chat.start();
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeSocket.latest();
    socket.open({ rooms: [room('room-1')] });
    socket.receive({ type: 'user_updated', user: { ...me, display_name: 'Alice L.', status_text: 'away', online: true, last_seen_at: null } });
    expect(chat.me.get()).toMatchObject({ id: me.id, display_name: 'Alice L.', status_text: 'away', email: me.email });
    expect(chat.client.session.user?.display_name).toBe('Alice L.');
  });
});

// Test doubles: a scriptable WebSocket and a fetch that answers from a handler.

import type { SocketLike } from '../realtime/socket';
import type { Message, Room, Me } from '../api/types';

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  sent: Record<string, unknown>[] = [];
  closedWith: number | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static reset(): void {
    FakeSocket.all = [];
  }

  static latest(): FakeSocket {
    const socket = FakeSocket.all[FakeSocket.all.length - 1];
    if (!socket) throw new Error('no socket was opened');
    return socket;
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000): void {
    this.closedWith = code;
    this.readyState = 3;
  }

  /** The server accepts the upgrade and says welcome. */
  open(welcome: Partial<{ connection_id: string; user: Me; rooms: Room[] }> = {}): void {
    this.readyState = 1;
    this.onopen?.({});
    this.receive({
      type: 'welcome',
      connection_id: welcome.connection_id ?? `conn-${FakeSocket.all.length}`,
      user: welcome.user ?? me,
      session_id: 'session-1',
      rooms: welcome.rooms ?? [],
      heartbeat_secs: 30,
    });
  }

  receive(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The server (or the network) drops the connection. */
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  framesOfType(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.type === type);
  }
}

export const me: Me = {
  id: '01900000-0000-7000-8000-00000000000a',
  username: 'alice',
  email: null,
  display_name: 'Alice',
  status_text: '',
  avatar_url: null,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
};

export const bob = { id: '01900000-0000-7000-8000-00000000000b', username: 'bob', display_name: 'Bob' };

/** A message id that sorts by `n` (UUIDv7-like: same length, hex). */
export function mid(n: number): string {
  return `01900000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;
}

export function msg(n: number, overrides: Partial<Message> = {}): Message {
  return {
    id: mid(n),
    room_id: 'room-1',
    sender: bob,
    content: `message ${n}`,
    attachments: [],
    reactions: [],
    client_msg_id: null,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    deleted: false,
    ...overrides,
  };
}

export function room(id: string, overrides: Partial<Room> = {}): Room {
  return {
    id,
    kind: 'public',
    name: id,
    topic: '',
    alias: null,
    created_by: null,
    created_at: '2026-01-01T00:00:00.000Z',
    member_count: 2,
    my_role: 'member',
    unread_count: 0,
    ws_url: `ws://localhost/ws/${id}`,
    ...overrides,
  };
}

export function jsonResponse(status: number, body?: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export function tokenResponse(token: string, expiresIn = 900): Record<string, unknown> {
  return { user: me, access_token: token, token_type: 'Bearer', expires_in: expiresIn };
}

/** Lets queued promise callbacks run. */
export async function flush(times = 10): Promise<void> {
  for (let i = 0; i < times; i++) await Promise.resolve();
}

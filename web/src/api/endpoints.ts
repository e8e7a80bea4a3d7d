// Typed calls of the REST API (SPEC §3). Paths are relative to /api/v1.

import type { ApiClient } from './http';
import { ApiError } from './errors';
import type {
  Ban,
  HistoryPage,
  IceServersResponse,
  Me,
  Member,
  Message,
  Page,
  PublicProfile,
  Room,
  SecurityNotice,
  Session,
} from './types';

const enc = encodeURIComponent;

/** Lists come as `{items, next_cursor}` (SPEC §2); older servers sent some as bare arrays. */
export function itemsOf<T>(body: T[] | { items: T[] }): T[] {
  return Array.isArray(body) ? body : body.items;
}

export function createApi(client: ApiClient) {
  return {
    client,

    // account
    me: () => client.get<Me>('/users/me'),
    updateMe: (changes: Partial<{ display_name: string; status_text: string; username: string; email: string | null; avatar_upload_id: string | null }>) =>
      client.patch<Me>('/users/me', changes),
    changePassword: (current_password: string, new_password: string) =>
      client.put<void>('/users/me/password', { current_password, new_password }),
    sessions: async () => itemsOf(await client.get<Session[] | Page<Session>>('/auth/sessions')),
    revokeSession: (id: string) => client.delete<void>(`/auth/sessions/${enc(id)}`),
    revokeOtherSessions: () => client.delete<void>('/auth/sessions'),
    securityNotices: async (): Promise<SecurityNotice[]> => {
      try {
        return (await client.get<{ items: SecurityNotice[] }>('/auth/security-notices')).items;
      } catch (error) {
        // Older servers have no such route, and so nothing to tell.
        if (error instanceof ApiError && error.status === 404) return [];
        throw error;
      }
    },

    // people
    searchUsers: (q: string, signal?: AbortSignal) => client.get<Page<PublicProfile>>('/users', { q, limit: 20 }, signal),
    user: (id: string) => client.get<PublicProfile>(`/users/${enc(id)}`),

    // rooms
    joinedRooms: async () => itemsOf(await client.get<Room[] | { items: Room[] }>('/rooms/joined')),
    directory: (q: string, cursor?: string | null, signal?: AbortSignal) =>
      client.get<Page<Room>>('/rooms', { q, cursor: cursor ?? undefined, limit: 50 }, signal),
    room: (id: string) => client.get<Room>(`/rooms/${enc(id)}`),
    createRoom: (input: { name: string; kind: 'public' | 'private'; topic?: string; member_ids?: string[] }) =>
      client.post<Room>('/rooms', input),
    updateRoom: (id: string, changes: Partial<{ name: string; topic: string }>) => client.patch<Room>(`/rooms/${enc(id)}`, changes),
    deleteRoom: (id: string) => client.delete<void>(`/rooms/${enc(id)}`),
    joinRoom: (id: string) => client.post<Room>(`/rooms/${enc(id)}/join`),
    leaveRoom: (id: string) => client.post<void>(`/rooms/${enc(id)}/leave`),
    openDm: (user_id: string) => client.post<Room>('/dms', { user_id }),

    // members
    members: async (roomId: string): Promise<Member[]> => {
      const all: Member[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 20; page++) {
        const result: Page<Member> = await client.get<Page<Member>>(`/rooms/${enc(roomId)}/members`, { limit: 100, cursor: cursor ?? undefined });
        all.push(...result.items);
        cursor = result.next_cursor;
        if (!cursor) break;
      }
      return all;
    },
    addMembers: (roomId: string, user_ids: string[]) => client.post<{ added: string[] }>(`/rooms/${enc(roomId)}/members`, { user_ids }),
    removeMember: (roomId: string, userId: string) => client.delete<void>(`/rooms/${enc(roomId)}/members/${enc(userId)}`),
    setRole: (roomId: string, userId: string, role: 'admin' | 'member') =>
      client.patch<void>(`/rooms/${enc(roomId)}/members/${enc(userId)}`, { role }),
    bans: async (roomId: string) => itemsOf(await client.get<Ban[] | Page<Ban>>(`/rooms/${enc(roomId)}/bans`)),
    ban: (roomId: string, user_id: string, reason?: string, duration_secs?: number) =>
      client.post<Ban>(`/rooms/${enc(roomId)}/bans`, { user_id, reason: reason || undefined, duration_secs }),
    unban: (roomId: string, userId: string) => client.delete<void>(`/rooms/${enc(roomId)}/bans/${enc(userId)}`),

    // messages
    history: (roomId: string, page: { before?: string; after?: string; limit?: number } = {}) =>
      client.get<HistoryPage>(`/rooms/${enc(roomId)}/messages`, { before: page.before, after: page.after, limit: page.limit ?? 50 }),
    postMessage: (roomId: string, input: { content: string; client_msg_id?: string; reply_to_id?: string; attachment_ids?: string[] }) =>
      client.post<Message>(`/rooms/${enc(roomId)}/messages`, input),
    editMessage: (id: string, content: string) => client.patch<Message>(`/messages/${enc(id)}`, { content }),
    deleteMessage: (id: string) => client.delete<void>(`/messages/${enc(id)}`),
    react: (id: string, emoji: string) => client.put<void>(`/messages/${enc(id)}/reactions/${enc(emoji)}`),
    unreact: (id: string, emoji: string) => client.delete<void>(`/messages/${enc(id)}/reactions/${enc(emoji)}`),
    markRead: (roomId: string, message_id: string) => client.post<void>(`/rooms/${enc(roomId)}/read`, { message_id }),
    searchMessages: (q: string, roomId?: string, cursor?: string | null) =>
      client.get<{ items: Message[]; next_cursor: string | null }>('/search/messages', { q, room_id: roomId, cursor: cursor ?? undefined, limit: 30 }),

    // calls
    iceServers: async (): Promise<RTCIceServer[]> => {
      try {
        const response = await client.get<IceServersResponse>('/rtc/ice-servers');
        return response.ice_servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
      } catch (error) {
        // Older servers have no such route: a same-host call still works without STUN/TURN.
        if (error instanceof ApiError && error.status === 404) return [];
        throw error;
      }
    },
  };
}

export type Api = ReturnType<typeof createApi>;

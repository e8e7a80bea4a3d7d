// Who is in each room, who is online, who is typing and who has read how far.

import type { Member, PublicProfile, Role } from '../api/types';
import { Store } from './store';

export interface Presence {
  online: boolean;
  last_seen_at: string | null;
}

/** Typing entries: room → user → time (ms) the entry expires. */
export type TypingMap = ReadonlyMap<string, ReadonlyMap<string, number>>;

export const TYPING_TTL_MS = 6_000;

export function setTyping(map: TypingMap, roomId: string, userId: string, active: boolean, now: number): TypingMap {
  const room = new Map(map.get(roomId) ?? []);
  if (active) room.set(userId, now + TYPING_TTL_MS);
  else if (!room.delete(userId)) return map;
  const next = new Map(map);
  if (room.size) next.set(roomId, room);
  else next.delete(roomId);
  return next;
}

export function pruneTyping(map: TypingMap, now: number): TypingMap {
  let changed = false;
  const next = new Map<string, ReadonlyMap<string, number>>();
  for (const [roomId, users] of map) {
    const kept = new Map([...users].filter(([, expires]) => expires > now));
    if (kept.size !== users.size) changed = true;
    if (kept.size) next.set(roomId, kept);
  }
  return changed ? next : map;
}

/** Read cursors only move forward. */
export function advanceReceipt(map: ReadonlyMap<string, ReadonlyMap<string, string>>, roomId: string, userId: string, messageId: string) {
  const room = map.get(roomId);
  const current = room?.get(userId);
  if (current && current >= messageId) return map;
  const next = new Map(map);
  const users = new Map(room ?? []);
  users.set(userId, messageId);
  next.set(roomId, users);
  return next;
}

export class PeopleStore {
  readonly presence = new Store<ReadonlyMap<string, Presence>>(new Map());
  readonly typing = new Store<TypingMap>(new Map());
  readonly receipts = new Store<ReadonlyMap<string, ReadonlyMap<string, string>>>(new Map());
  readonly members = new Store<ReadonlyMap<string, Member[]>>(new Map());
  /** Everyone seen anywhere, for names and avatars. */
  readonly profiles = new Store<ReadonlyMap<string, PublicProfile>>(new Map());

  rememberProfiles(profiles: PublicProfile[]): void {
    if (!profiles.length) return;
    const map = new Map(this.profiles.get());
    const presence = new Map(this.presence.get());
    for (const p of profiles) {
      map.set(p.id, p);
      presence.set(p.id, { online: p.online, last_seen_at: p.last_seen_at });
    }
    this.profiles.set(map);
    this.presence.set(presence);
  }

  /** A user's profile changed: names and avatars everywhere; live presence stays as it is. */
  profileUpdated(user: PublicProfile): void {
    const profiles = new Map(this.profiles.get());
    profiles.set(user.id, user);
    this.profiles.set(profiles);
    if (!this.presence.get().has(user.id)) this.setPresence(user.id, user.online, user.last_seen_at);
    let members: Map<string, Member[]> | null = null;
    for (const [roomId, list] of this.members.get()) {
      if (!list.some((m) => m.user.id === user.id)) continue;
      members ??= new Map(this.members.get());
      members.set(
        roomId,
        list.map((m) => (m.user.id === user.id ? { ...m, user } : m)),
      );
    }
    if (members) this.members.set(members);
  }

  setPresence(userId: string, online: boolean, lastSeen: string | null): void {
    const map = new Map(this.presence.get());
    map.set(userId, { online, last_seen_at: lastSeen ?? map.get(userId)?.last_seen_at ?? null });
    this.presence.set(map);
  }

  setMembers(roomId: string, members: Member[]): void {
    const map = new Map(this.members.get());
    map.set(roomId, members);
    this.members.set(map);
    this.rememberProfiles(members.map((m) => m.user));
    const receipts = new Map(this.receipts.get());
    const users = new Map<string, string>();
    for (const m of members) if (m.read_up_to) users.set(m.user.id, m.read_up_to);
    // Keep live cursors that are ahead of what the list says.
    for (const [userId, id] of receipts.get(roomId) ?? []) {
      const listed = users.get(userId);
      if (!listed || listed < id) users.set(userId, id);
    }
    receipts.set(roomId, users);
    this.receipts.set(receipts);
  }

  memberJoined(roomId: string, user: PublicProfile): void {
    this.rememberProfiles([user]);
    const list = this.members.get().get(roomId);
    if (!list || list.some((m) => m.user.id === user.id)) return;
    const map = new Map(this.members.get());
    map.set(roomId, [...list, { user, role: 'member', joined_at: new Date().toISOString(), read_up_to: null }]);
    this.members.set(map);
  }

  memberLeft(roomId: string, userId: string): void {
    const list = this.members.get().get(roomId);
    if (!list) return;
    const map = new Map(this.members.get());
    map.set(
      roomId,
      list.filter((m) => m.user.id !== userId),
    );
    this.members.set(map);
  }

  roleChanged(roomId: string, userId: string, role: Role): void {
    const list = this.members.get().get(roomId);
    if (!list) return;
    const map = new Map(this.members.get());
    map.set(
      roomId,
      list.map((m) => (m.user.id === userId ? { ...m, role } : m)),
    );
    this.members.set(map);
  }

  read(roomId: string, userId: string, messageId: string): void {
    this.receipts.set((prev) => advanceReceipt(prev, roomId, userId, messageId));
  }

  setTyping(roomId: string, userId: string, active: boolean, now = Date.now()): void {
    this.typing.set((prev) => setTyping(prev, roomId, userId, active, now));
  }

  pruneTyping(now = Date.now()): void {
    this.typing.set((prev) => pruneTyping(prev, now));
  }

  clear(): void {
    this.presence.set(new Map());
    this.typing.set(new Map());
    this.receipts.set(new Map());
    this.members.set(new Map());
    this.profiles.set(new Map());
  }
}

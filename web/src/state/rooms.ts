// The rooms I belong to (sidebar), kept current by REST loads and WebSocket events.

import type { Message, PublicProfile, Role, Room } from '../api/types';
import { Store } from './store';

function activity(room: Room): string {
  return room.last_message?.id ?? room.created_at;
}

/** Newest activity first (message ids and RFC 3339 times both sort as strings). */
export function sortRooms(rooms: Room[]): Room[] {
  return [...rooms].sort((a, b) => {
    const x = activity(a);
    const y = activity(b);
    // Ids (UUIDv7) and timestamps are different alphabets; compare times when they differ.
    const tx = a.last_message?.created_at ?? a.created_at;
    const ty = b.last_message?.created_at ?? b.created_at;
    if (tx !== ty) return tx < ty ? 1 : -1;
    return x < y ? 1 : x > y ? -1 : 0;
  });
}

export class RoomsStore {
  readonly store = new Store<Room[]>([]);
  /** Rooms looked at without being a member (public rooms from the directory). */
  readonly visiting = new Store<ReadonlyMap<string, Room>>(new Map());

  list(): Room[] {
    return this.store.get();
  }

  get(id: string): Room | undefined {
    return this.store.get().find((r) => r.id === id) ?? this.visiting.get().get(id);
  }

  isMember(id: string): boolean {
    return this.store.get().some((r) => r.id === id);
  }

  setAll(rooms: Room[]): void {
    this.store.set(sortRooms(rooms));
    const visiting = new Map(this.visiting.get());
    let changed = false;
    for (const room of rooms) if (visiting.delete(room.id)) changed = true;
    if (changed) this.visiting.set(visiting);
  }

  /** Adds or refreshes a room I belong to. Fields a partial view lacks are kept. */
  upsert(room: Room): void {
    this.store.set((prev) => {
      const existing = prev.find((r) => r.id === room.id);
      const merged: Room = existing
        ? {
            ...existing,
            ...room,
            my_role: room.my_role ?? existing.my_role,
            unread_count: room.unread_count ?? existing.unread_count,
            last_message: room.last_message ?? existing.last_message,
            other_user: room.other_user ?? existing.other_user,
            name: room.kind === 'direct' && existing.other_user ? existing.name : room.name,
          }
        : room;
      return sortRooms([...prev.filter((r) => r.id !== room.id), merged]);
    });
    if (this.visiting.get().has(room.id)) {
      const visiting = new Map(this.visiting.get());
      visiting.delete(room.id);
      this.visiting.set(visiting);
    }
  }

  /** Updates a room's details wherever it is (joined or visited). */
  patch(id: string, fn: (room: Room) => Room): void {
    if (this.isMember(id)) {
      this.store.set((prev) => sortRooms(prev.map((r) => (r.id === id ? fn(r) : r))));
    } else if (this.visiting.get().has(id)) {
      const visiting = new Map(this.visiting.get());
      visiting.set(id, fn(visiting.get(id) as Room));
      this.visiting.set(visiting);
    }
  }

  visit(room: Room): void {
    if (this.isMember(room.id)) return;
    const visiting = new Map(this.visiting.get());
    visiting.set(room.id, room);
    this.visiting.set(visiting);
  }

  remove(id: string): void {
    this.store.set((prev) => (prev.some((r) => r.id === id) ? prev.filter((r) => r.id !== id) : prev));
    if (this.visiting.get().has(id)) {
      const visiting = new Map(this.visiting.get());
      visiting.delete(id);
      this.visiting.set(visiting);
    }
  }

  /**
   * A new message: becomes the room's last message; counts as unread unless it is mine or
   * the room is on screen (then it is read at once).
   */
  onMessage(message: Message, options: { mine: boolean; onScreen: boolean }): void {
    this.patch(message.room_id, (room) => {
      const newer = !room.last_message || room.last_message.id <= message.id;
      if (!newer) return room;
      const isNew = room.last_message?.id !== message.id;
      const unread = options.mine || options.onScreen ? (options.mine ? 0 : room.unread_count ?? 0) : (room.unread_count ?? 0) + (isNew ? 1 : 0);
      return { ...room, last_message: message, unread_count: unread };
    });
  }

  /** The last message changed (edit or delete) */
  onMessageChanged(roomId: string, messageId: string, message: Message | null): void {
    this.patch(roomId, (room) => {
      if (room.last_message?.id !== messageId) return room;
      return { ...room, last_message: message ?? { ...room.last_message, deleted: true, content: '' } };
    });
  }

  /**
   * A user's profile changed: a DM with them is named after them, and a last message of theirs
   * shows their new name.
   */
  userUpdated(user: PublicProfile): void {
    const renamed = (room: Room): Room => {
      let next = room;
      if (room.kind === 'direct' && room.other_user?.id === user.id) {
        next = { ...next, name: user.display_name, other_user: user };
      }
      const sender = room.last_message?.sender;
      if (room.last_message && sender?.id === user.id) {
        next = { ...next, last_message: { ...room.last_message, sender: { id: user.id, username: user.username, display_name: user.display_name } } };
      }
      return next;
    };
    this.store.set((prev) => {
      const next = prev.map(renamed);
      return next.some((room, i) => room !== prev[i]) ? next : prev;
    });
    let visiting: Map<string, Room> | null = null;
    for (const [id, room] of this.visiting.get()) {
      const next = renamed(room);
      if (next === room) continue;
      visiting ??= new Map(this.visiting.get());
      visiting.set(id, next);
    }
    if (visiting) this.visiting.set(visiting);
  }

  markRead(id: string): void {
    this.patch(id, (room) => (room.unread_count ? { ...room, unread_count: 0 } : room));
  }

  setRole(id: string, role: Role): void {
    this.patch(id, (room) => ({ ...room, my_role: role }));
  }

  clear(): void {
    this.store.set([]);
    this.visiting.set(new Map());
  }
}

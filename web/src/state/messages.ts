// Per-room timelines: what is loaded, whether older history remains, and the messages.

import type { Message, Sender } from '../api/types';
import { Store } from './store';
import {
  addPending,
  applyDelete,
  applyEdit,
  applyReaction,
  applySender,
  lastConfirmedId,
  mergeMessages,
  oldestConfirmedId,
  removePending,
  setPendingStatus,
  type ChatMessage,
  type LocalStatus,
} from './timeline';

export interface Timeline {
  roomId: string;
  messages: ChatMessage[];
  /** The latest page was loaded: live events may be merged. */
  loaded: boolean;
  hasMoreBefore: boolean;
  loadingOlder: boolean;
  error?: string;
}

function emptyTimeline(roomId: string): Timeline {
  return { roomId, messages: [], loaded: false, hasMoreBefore: true, loadingOlder: false };
}

export class MessagesStore {
  readonly store = new Store<ReadonlyMap<string, Timeline>>(new Map());

  get(roomId: string): Timeline | undefined {
    return this.store.get().get(roomId);
  }

  private update(roomId: string, fn: (timeline: Timeline) => Timeline): void {
    this.store.set((prev) => {
      const current = prev.get(roomId) ?? emptyTimeline(roomId);
      const next = fn(current);
      if (next === current) return prev;
      const map = new Map(prev);
      map.set(roomId, next);
      return map;
    });
  }

  private updateMessages(roomId: string, fn: (messages: ChatMessage[]) => ChatMessage[]): void {
    this.update(roomId, (t) => {
      const messages = fn(t.messages);
      return messages === t.messages ? t : { ...t, messages };
    });
  }

  /** The latest page arrived (first open, or a reload after a long gap). */
  setLatest(roomId: string, items: Message[], hasMore: boolean): void {
    this.update(roomId, (t) => ({
      ...t,
      // Keep what is already known (live messages that came in meanwhile, pending sends).
      messages: mergeMessages(t.loaded ? t.messages : t.messages.filter((m) => m.local), items),
      loaded: true,
      hasMoreBefore: hasMore,
      error: undefined,
    }));
  }

  /** An older page (infinite scroll upwards). */
  prependOlder(roomId: string, items: Message[], hasMore: boolean): void {
    this.update(roomId, (t) => ({ ...t, messages: mergeMessages(t.messages, items), hasMoreBefore: hasMore, loadingOlder: false }));
  }

  setLoadingOlder(roomId: string, loading: boolean, error?: string): void {
    this.update(roomId, (t) => ({ ...t, loadingOlder: loading, error }));
  }

  setError(roomId: string, error: string | undefined): void {
    this.update(roomId, (t) => ({ ...t, error }));
  }

  /** Live or replayed messages, acks: merged only into loaded timelines. */
  receive(roomId: string, items: Message[]): void {
    const timeline = this.get(roomId);
    if (!timeline?.loaded) return;
    this.updateMessages(roomId, (list) => mergeMessages(list, items));
  }

  /** An ack for our own message: the optimistic copy becomes the server's. */
  acknowledge(message: Message): void {
    const timeline = this.get(message.room_id);
    if (!timeline) return;
    this.updateMessages(message.room_id, (list) => mergeMessages(list, [message]));
  }

  addPending(message: ChatMessage): void {
    this.updateMessages(message.room_id, (list) => addPending(list, message));
  }

  setPendingStatus(roomId: string, clientMsgId: string, status: LocalStatus, error?: string): void {
    this.updateMessages(roomId, (list) => setPendingStatus(list, clientMsgId, status, error));
  }

  removePending(roomId: string, clientMsgId: string): void {
    this.updateMessages(roomId, (list) => removePending(list, clientMsgId));
  }

  edited(message: Message): void {
    this.updateMessages(message.room_id, (list) => applyEdit(list, message));
  }

  deleted(roomId: string, messageId: string): void {
    this.updateMessages(roomId, (list) => applyDelete(list, messageId));
  }

  reaction(roomId: string, messageId: string, emoji: string, added: boolean, mine: boolean): void {
    this.updateMessages(roomId, (list) => applyReaction(list, messageId, emoji, added, mine));
  }

  /** A user's profile changed: every loaded message of theirs shows the new name. */
  senderUpdated(sender: Sender): void {
    this.store.set((prev) => {
      let next: Map<string, Timeline> | null = null;
      for (const [roomId, timeline] of prev) {
        const messages = applySender(timeline.messages, sender);
        if (messages === timeline.messages) continue;
        next ??= new Map(prev);
        next.set(roomId, { ...timeline, messages });
      }
      return next ?? prev;
    });
  }

  /** Pending messages of every room, oldest first (to resend after a reconnect). */
  pending(): ChatMessage[] {
    const all: ChatMessage[] = [];
    for (const timeline of this.store.get().values()) for (const m of timeline.messages) if (m.local) all.push(m);
    return all.sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  }

  lastConfirmedId(roomId: string): string | undefined {
    const t = this.get(roomId);
    return t ? lastConfirmedId(t.messages) : undefined;
  }

  oldestConfirmedId(roomId: string): string | undefined {
    const t = this.get(roomId);
    return t ? oldestConfirmedId(t.messages) : undefined;
  }

  /** Rooms whose timeline is loaded, with the id to resume from. */
  resumePoints(): { room_id: string; since?: string }[] {
    const points: { room_id: string; since?: string }[] = [];
    for (const t of this.store.get().values()) {
      if (!t.loaded) continue;
      points.push({ room_id: t.roomId, since: lastConfirmedId(t.messages) });
    }
    return points;
  }

  forget(roomId: string): void {
    this.store.set((prev) => {
      if (!prev.has(roomId)) return prev;
      const map = new Map(prev);
      map.delete(roomId);
      return map;
    });
  }

  clear(): void {
    this.store.set(new Map());
  }
}

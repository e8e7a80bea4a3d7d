// A room's message list as pure functions: ordered by id (the server's order, the same for
// every reader), without duplicates, with optimistic messages kept at the end until the
// server's copy (same client_msg_id) replaces them.

import type { Message, Sender } from '../api/types';

export type LocalStatus = 'sending' | 'queued' | 'failed';

export interface LocalState {
  clientMsgId: string;
  status: LocalStatus;
  error?: string;
  attachmentIds: string[];
  replyToId?: string;
}

/** A message as shown: the server's, or a local one not yet acknowledged (`local` set). */
export interface ChatMessage extends Message {
  local?: LocalState;
}

export function isPending(message: ChatMessage): boolean {
  return message.local !== undefined;
}

/** UUIDv7 ids of one format compare as strings in time order. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byOrder(a: ChatMessage, b: ChatMessage): number {
  const pa = isPending(a);
  const pb = isPending(b);
  if (pa !== pb) return pa ? 1 : -1;
  if (pa && pb) return compareIds(a.created_at, b.created_at);
  return compareIds(a.id, b.id);
}

/** Which of two copies of the same message to keep: deletion is final, later edits win. */
function newer(existing: ChatMessage, incoming: Message): Message {
  if (existing.deleted && !incoming.deleted) return existing;
  if (!incoming.deleted && existing.edited_at && (!incoming.edited_at || incoming.edited_at < existing.edited_at)) return existing;
  return incoming;
}

/**
 * Merges server messages (history pages, live `message_new`, replays after reconnect, acks)
 * into a list: one copy per id, sorted by id, and each optimistic message whose
 * client_msg_id the server confirmed is replaced by the server's copy.
 */
export function mergeMessages(list: readonly ChatMessage[], incoming: readonly Message[]): ChatMessage[] {
  if (incoming.length === 0) return list as ChatMessage[];
  const byId = new Map<string, ChatMessage>();
  const pendingByClientId = new Map<string, ChatMessage>();
  for (const message of list) {
    if (message.local) pendingByClientId.set(message.local.clientMsgId, message);
    else byId.set(message.id, message);
  }
  for (const message of incoming) {
    const existing = byId.get(message.id);
    byId.set(message.id, existing ? newer(existing, message) : { ...message });
    if (message.client_msg_id) pendingByClientId.delete(message.client_msg_id);
  }
  return [...byId.values(), ...pendingByClientId.values()].sort(byOrder);
}

/** Adds an optimistic message (or replaces the one with the same client_msg_id). */
export function addPending(list: readonly ChatMessage[], message: ChatMessage): ChatMessage[] {
  const id = message.local?.clientMsgId;
  const rest = list.filter((m) => m.local?.clientMsgId !== id);
  return [...rest, message].sort(byOrder);
}

export function setPendingStatus(list: readonly ChatMessage[], clientMsgId: string, status: LocalStatus, error?: string): ChatMessage[] {
  return list.map((m) => (m.local?.clientMsgId === clientMsgId ? { ...m, local: { ...m.local, status, error } } : m));
}

export function removePending(list: readonly ChatMessage[], clientMsgId: string): ChatMessage[] {
  return list.filter((m) => m.local?.clientMsgId !== clientMsgId);
}

/** Applies `message_edited`: only to a message the list has. */
export function applyEdit(list: readonly ChatMessage[], message: Message): ChatMessage[] {
  let changed = false;
  const next = list.map((m) => {
    if (m.id !== message.id || m.local) return m;
    changed = true;
    return { ...newer(m, message) };
  });
  return changed ? next : (list as ChatMessage[]);
}

/** Applies `message_deleted`: the tombstone keeps id and times, content goes. */
export function applyDelete(list: readonly ChatMessage[], messageId: string): ChatMessage[] {
  let changed = false;
  const next = list.map((m) => {
    if (m.id !== messageId || m.local) return m;
    changed = true;
    return { ...m, deleted: true, content: '', attachments: [], reactions: [] };
  });
  return changed ? next : (list as ChatMessage[]);
}

/** Applies a `reaction` event; `mine` when it is the viewer's own reaction. */
export function applyReaction(list: readonly ChatMessage[], messageId: string, emoji: string, added: boolean, mine: boolean): ChatMessage[] {
  let changed = false;
  const next = list.map((m) => {
    if (m.id !== messageId) return m;
    changed = true;
    const reactions = m.reactions.map((r) => ({ ...r }));
    const found = reactions.find((r) => r.emoji === emoji);
    if (added) {
      if (found) {
        if (mine && found.me) return m; // already counted
        found.count += 1;
        if (mine) found.me = true;
      } else reactions.push({ emoji, count: 1, me: mine });
    } else if (found) {
      if (mine && !found.me) return m;
      found.count -= 1;
      if (mine) found.me = false;
    }
    return { ...m, reactions: reactions.filter((r) => r.count > 0) };
  });
  return changed ? next : (list as ChatMessage[]);
}

/** Applies `user_updated`: the user's messages show their new name. */
export function applySender(list: readonly ChatMessage[], sender: Sender): ChatMessage[] {
  let changed = false;
  const next = list.map((m) => {
    if (m.sender?.id !== sender.id) return m;
    if (m.sender.username === sender.username && m.sender.display_name === sender.display_name) return m;
    changed = true;
    return { ...m, sender: { ...sender } };
  });
  return changed ? next : (list as ChatMessage[]);
}

/** The newest message the server has confirmed (the `since` for gap recovery). */
export function lastConfirmedId(list: readonly ChatMessage[]): string | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (!list[i].local) return list[i].id;
  return undefined;
}

export function oldestConfirmedId(list: readonly ChatMessage[]): string | undefined {
  return list.find((m) => !m.local)?.id;
}

export function makePending(input: {
  roomId: string;
  sender: Sender;
  content: string;
  clientMsgId: string;
  attachments?: Message['attachments'];
  replyTo?: Message['reply_to'];
  now?: Date;
}): ChatMessage {
  const created = (input.now ?? new Date()).toISOString();
  return {
    id: `local:${input.clientMsgId}`,
    room_id: input.roomId,
    sender: input.sender,
    content: input.content,
    reply_to: input.replyTo,
    attachments: input.attachments ?? [],
    reactions: [],
    client_msg_id: input.clientMsgId,
    created_at: created,
    deleted: false,
    local: {
      clientMsgId: input.clientMsgId,
      status: 'sending',
      attachmentIds: (input.attachments ?? []).map((a) => a.id),
      replyToId: input.replyTo?.id,
    },
  };
}

/** Day key (local time) of a message, for day separators. */
export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/**
 * For read receipts: for each reader, the id of the newest listed message at or before
 * their read cursor. Returns message id → reader ids.
 */
export function receiptsByMessage(list: readonly ChatMessage[], readers: ReadonlyMap<string, string>, exclude?: string): Map<string, string[]> {
  const confirmed = list.filter((m) => !m.local && !m.deleted);
  const result = new Map<string, string[]>();
  for (const [userId, readUpTo] of readers) {
    if (userId === exclude) continue;
    let target: string | undefined;
    // Binary search: last message with id <= readUpTo.
    let lo = 0;
    let hi = confirmed.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (confirmed[mid].id <= readUpTo) {
        target = confirmed[mid].id;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (target) result.set(target, [...(result.get(target) ?? []), userId]);
  }
  return result;
}

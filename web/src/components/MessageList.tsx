// The timeline: infinite scroll upwards, sticks to the bottom for new messages, day
// separators, the "new messages" line with a jump to it, read receipts.

import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { Member, PublicProfile } from '../api/types';
import { useChat, useStore } from '../app/context';
import type { Timeline } from '../state/messages';
import { dayKey, receiptsByMessage, type ChatMessage } from '../state/timeline';
import { dayLabel } from '../util/format';
import { Icon } from './Icon';
import { MessageItem, type MessageActions } from './MessageItem';

interface Props {
  roomId: string;
  timeline: Timeline | undefined;
  members: Member[] | undefined;
  canModerate: boolean;
  actions: MessageActions;
  highlightId: string | null;
  emptyText: string;
}

const GROUP_WINDOW_MS = 5 * 60 * 1000;

function groupedWith(prev: ChatMessage | undefined, m: ChatMessage): boolean {
  if (!prev || prev.deleted || m.reply_to) return false;
  if (prev.sender?.id !== m.sender?.id) return false;
  if (dayKey(prev.created_at) !== dayKey(m.created_at)) return false;
  return new Date(m.created_at).getTime() - new Date(prev.created_at).getTime() < GROUP_WINDOW_MS;
}

export function MessageList({ roomId, timeline, members, canModerate, actions, highlightId, emptyText }: Props) {
  const chat = useChat();
  const me = useStore(chat.me);
  const presence = useStore(chat.people.presence);
  const profiles = useStore(chat.people.profiles);
  const receiptsMap = useStore(chat.people.receipts);
  const markers = useStore(chat.unreadMarkers);
  const scrollRef = useRef<HTMLDivElement>(null);
  const contentRef = useRef<HTMLOListElement>(null);
  const atBottomRef = useRef(true);
  const prevFirstRef = useRef<string | null>(null);
  const prevLastRef = useRef<string | null>(null);
  const prevHeightRef = useRef(0);
  const [atBottom, setAtBottom] = useState(true);
  const [unreadVisible, setUnreadVisible] = useState(true);
  const messages = useMemo(() => timeline?.messages ?? [], [timeline?.messages]);
  const marker = markers.get(roomId);

  const memberById = useMemo(() => {
    const map = new Map<string, PublicProfile>();
    for (const m of members ?? []) map.set(m.user.id, m.user);
    return map;
  }, [members]);
  const profileOf = useCallback((id: string | undefined) => (id ? memberById.get(id) ?? profiles.get(id) : undefined), [memberById, profiles]);

  const receipts = useMemo(() => receiptsByMessage(messages, receiptsMap.get(roomId) ?? new Map(), me?.id), [messages, receiptsMap, roomId, me?.id]);

  const firstUnreadId = useMemo(() => {
    if (marker === null || marker === undefined) return null;
    return messages.find((m) => !m.local && m.id > marker && m.sender?.id !== me?.id)?.id ?? null;
  }, [messages, marker, me?.id]);

  const report = useCallback(
    (bottom: boolean) => {
      if (bottom !== atBottomRef.current) {
        atBottomRef.current = bottom;
        setAtBottom(bottom);
      }
      chat.setViewport(roomId, bottom);
    },
    [chat, roomId],
  );

  const checkUnreadVisible = useCallback(() => {
    const el = scrollRef.current;
    const line = el?.querySelector('[data-unread-line]') as HTMLElement | null;
    if (!el || !line) {
      setUnreadVisible(true);
      return;
    }
    const top = line.offsetTop - el.scrollTop;
    setUnreadVisible(top >= -10 && top <= el.clientHeight);
  }, []);

  const lastScrollTop = useRef(0);
  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    // "Following the latest messages" ends only when the reader scrolls up, not when content
    // grows under a scroll that is still being processed.
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    const movedUp = el.scrollTop < lastScrollTop.current - 2;
    lastScrollTop.current = el.scrollTop;
    report(bottom || (atBottomRef.current && !movedUp));
    if (el.scrollTop < 400 && timeline?.hasMoreBefore && !timeline.loadingOlder) void chat.loadOlder(roomId);
    checkUnreadVisible();
  };

  // Keep the view steady: older pages prepended keep the reader's place; new messages at the
  // bottom are followed only when the reader was at the bottom.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const first = messages.find((m) => !m.local)?.id ?? null;
    const last = messages.at(-1)?.id ?? null;
    if (prevFirstRef.current === null && messages.length > 0) {
      el.scrollTop = el.scrollHeight; // first render of this room
    } else if (first !== prevFirstRef.current && prevFirstRef.current !== null && first !== null && first < prevFirstRef.current) {
      el.scrollTop += el.scrollHeight - prevHeightRef.current;
    } else if (last !== prevLastRef.current && (atBottomRef.current || messages.at(-1)?.local)) {
      el.scrollTop = el.scrollHeight;
    }
    prevFirstRef.current = messages.length ? first : null;
    prevLastRef.current = last;
    prevHeightRef.current = el.scrollHeight;
    checkUnreadVisible();
  }, [messages, checkUnreadVisible]);

  // Images and previews that load later grow the list: stay at the bottom if we were there.
  useEffect(() => {
    const el = scrollRef.current;
    const content = contentRef.current;
    if (!el || !content || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (atBottomRef.current) el.scrollTop = el.scrollHeight;
      prevHeightRef.current = el.scrollHeight;
    });
    observer.observe(content);
    observer.observe(el); // the list itself shrinks when a call panel opens above it
    return () => observer.disconnect();
  }, []);

  // A short history does not fill the screen: load more until it scrolls (or there is no more).
  useEffect(() => {
    const el = scrollRef.current;
    if (!el || !timeline?.loaded || !timeline.hasMoreBefore || timeline.loadingOlder) return;
    if (el.scrollHeight <= el.clientHeight + 50) void chat.loadOlder(roomId);
  }, [timeline, chat, roomId]);

  useEffect(() => {
    report(true);
    return () => chat.setViewport(null);
  }, [chat, report]);

  // Scroll to a highlighted message (search hit, reply quote).
  useEffect(() => {
    if (!highlightId) return;
    const el = scrollRef.current?.querySelector(`[data-message-id="${CSS.escape(highlightId)}"]`);
    el?.scrollIntoView({ block: 'center', behavior: 'smooth' });
  }, [highlightId, messages]);

  const jumpToUnread = async () => {
    if (marker) await chat.loadUntil(roomId, marker);
    requestAnimationFrame(() => {
      scrollRef.current?.querySelector('[data-unread-line]')?.scrollIntoView({ block: 'start', behavior: 'smooth' });
    });
  };

  const jumpToLatest = () => {
    const el = scrollRef.current;
    if (el) el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
  };

  const items: React.ReactNode[] = [];
  let prev: ChatMessage | undefined;
  for (const m of messages) {
    const day = dayKey(m.created_at);
    const newDay = !prev || dayKey(prev.created_at) !== day;
    if (newDay) {
      items.push(
        <li key={`day-${day}`} className="day-separator" role="separator" aria-label={dayLabel(m.created_at)}>
          <span>{dayLabel(m.created_at)}</span>
        </li>,
      );
    }
    if (m.id === firstUnreadId) {
      items.push(
        <li key="unread-line" className="unread-line" data-unread-line role="separator" aria-label="New messages">
          <span>New messages</span>
        </li>,
      );
    }
    const senderProfile = profileOf(m.sender?.id);
    const readers = (receipts.get(m.id) ?? []).map((id) => {
      const p = profileOf(id);
      return { id, name: p?.display_name ?? 'Someone', avatar_url: p?.avatar_url ?? null };
    });
    items.push(
      <MessageItem
        key={m.local ? `local-${m.local.clientMsgId}` : m.id}
        message={m}
        grouped={!newDay && m.id !== firstUnreadId && groupedWith(prev, m)}
        mine={m.sender?.id === me?.id}
        canModerate={canModerate}
        sender={senderProfile}
        online={m.sender ? presence.get(m.sender.id)?.online : undefined}
        readers={readers}
        replySender={m.reply_to?.sender_id ? profileOf(m.reply_to.sender_id)?.display_name : undefined}
        highlighted={m.id === highlightId}
        actions={actions}
      />,
    );
    prev = m;
  }

  return (
    <div className="timeline-wrap">
      <div className="timeline" ref={scrollRef} onScroll={onScroll} tabIndex={0} role="log" aria-label="Messages" aria-live="polite" aria-relevant="additions">
        <ol className="message-list" ref={contentRef}>
          <li className="history-start" aria-hidden={!(timeline?.loaded && !timeline.hasMoreBefore)}>
            {timeline?.loadingOlder && <span className="muted">Loading older messages…</span>}
            {timeline?.loaded && !timeline.hasMoreBefore && <span className="muted">{messages.length ? 'This is the beginning of the conversation.' : emptyText}</span>}
          </li>
          {items}
        </ol>
        {!timeline?.loaded && !timeline?.error && (
          <p className="timeline-loading muted" role="status">
            Loading messages…
          </p>
        )}
        {timeline?.error && (
          <div className="callout error timeline-error" role="alert">
            {timeline.error}
            <button type="button" className="link-button" onClick={() => void chat.openRoom(roomId)}>
              Try again
            </button>
          </div>
        )}
      </div>
      <div className="timeline-jumps">
        {marker !== undefined && marker !== null && !unreadVisible && (
          <button type="button" className="jump-button" onClick={jumpToUnread}>
            <Icon name="arrow-down" size={16} className="flip" /> Jump to first unread
          </button>
        )}
        {!atBottom && (
          <button type="button" className="jump-button" onClick={jumpToLatest}>
            <Icon name="arrow-down" size={16} /> Latest messages
          </button>
        )}
      </div>
    </div>
  );
}

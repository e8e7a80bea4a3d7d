// A room: header, call, timeline, typing, composer; members, search and settings on the side.

import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { ApiError, describeError } from '../api/errors';
import type { Message } from '../api/types';
import { useChat, useStore } from '../app/context';
import { navigate, onLinkClick } from '../app/router';
import { CallPanel } from '../calls/CallPanel';
import { Avatar } from '../components/Avatar';
import { Composer, type ComposerHandle } from '../components/Composer';
import { Dialog } from '../components/Dialog';
import { Icon } from '../components/Icon';
import { MembersPanel } from '../components/MembersPanel';
import type { MessageActions } from '../components/MessageItem';
import { MessageList } from '../components/MessageList';
import { RoomSettingsDialog } from '../components/RoomSettingsDialog';
import { SearchPanel } from '../components/SearchPanel';
import { TypingIndicator } from '../components/TypingIndicator';
import type { ChatMessage } from '../state/timeline';

type Panel = 'members' | 'search' | null;

export function RoomPage({ roomId }: { roomId: string }) {
  const chat = useChat();
  const joined = useStore(chat.rooms.store);
  const visiting = useStore(chat.rooms.visiting);
  const timelines = useStore(chat.messages.store);
  const membersMap = useStore(chat.people.members);
  const presence = useStore(chat.people.presence);
  const call = useStore(chat.calls.view);
  const callPresence = useStore(chat.callPresence);
  const room = joined.find((r) => r.id === roomId) ?? visiting.get(roomId);
  const isMember = joined.some((r) => r.id === roomId);
  const timeline = timelines.get(roomId);
  const members = membersMap.get(roomId);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [panel, setPanel] = useState<Panel>(() => (typeof window !== 'undefined' && window.innerWidth >= 1200 ? 'members' : null));
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Message | null>(null);
  const [dragging, setDragging] = useState(false);
  const [joining, setJoining] = useState(false);
  const composerRef = useRef<ComposerHandle>(null);
  const dragDepth = useRef(0);
  const wasMember = useRef(false);

  // A layout effect: it runs before the message list reports itself on screen (which marks
  // the room read), so the "new messages" line is placed first.
  useLayoutEffect(() => {
    let cancelled = false;
    setLoadError(null);
    chat.openRoom(roomId).catch((error: unknown) => {
      if (cancelled) return;
      setLoadError(error instanceof ApiError && error.status === 404 ? 'This room does not exist, or you do not have access to it.' : describeError(error));
    });
    return () => {
      cancelled = true;
      chat.clearUnreadMarker(roomId);
    };
  }, [chat, roomId]);

  // Removed, banned or the room deleted while looking at it.
  useEffect(() => {
    if (isMember) wasMember.current = true;
    else if (wasMember.current && !room) setLoadError('You are no longer a member of this room.');
  }, [isMember, room]);

  const actions: MessageActions = useMemo(
    () => ({
      reply: (m) => setReplyTo(m),
      edit: (m, content) => chat.editMessage(m, content),
      remove: (m) => setDeleting(m),
      react: (m, emoji) => void chat.toggleReaction(m, emoji),
      retry: (m: ChatMessage) => chat.retry(m),
      discard: (m: ChatMessage) => chat.discard(m),
      jumpTo: (id) => {
        void chat.loadUntil(roomId, id).then((found) => {
          if (found) setHighlightId(id);
          else chat.notices.info('That message is no longer available.');
        });
      },
    }),
    [chat, roomId],
  );

  const jumpToSearchHit = useCallback(
    (m: Message) => {
      actions.jumpTo(m.id);
      if (window.innerWidth < 900) setPanel(null);
    },
    [actions],
  );

  // The side panel overlays the room on narrower screens: close it when the window shrinks.
  useEffect(() => {
    const narrow = window.matchMedia('(max-width: 1100px)');
    const onChange = () => {
      if (narrow.matches) setPanel(null);
    };
    narrow.addEventListener('change', onChange);
    return () => narrow.removeEventListener('change', onChange);
  }, []);

  useEffect(() => {
    if (!highlightId) return;
    const timer = setTimeout(() => setHighlightId(null), 3_000);
    return () => clearTimeout(timer);
  }, [highlightId]);

  if (loadError) {
    return (
      <div className="empty-state">
        <h1>Room unavailable</h1>
        <p className="muted">{loadError}</p>
        <a className="button" href="/" onClick={onLinkClick('/')}>
          Back to your rooms
        </a>
      </div>
    );
  }
  if (!room) {
    return (
      <p className="timeline-loading muted" role="status">
        Loading room…
      </p>
    );
  }

  const isAdmin = room.my_role === 'owner' || room.my_role === 'admin';
  const other = room.other_user;
  const otherOnline = other ? presence.get(other.id)?.online ?? other.online : undefined;
  const inThisCall = call?.roomId === roomId;
  const othersInCall = [...(callPresence.get(roomId) ?? [])].filter((id) => id !== chat.realtime.connectionId).length;
  const placeholder = room.kind === 'direct' ? `Message ${room.name}` : `Message #${room.name}`;
  const replyName = replyTo?.sender?.display_name;

  const onDragEnter = (e: React.DragEvent) => {
    if (!isMember || ![...e.dataTransfer.types].includes('Files')) return;
    e.preventDefault();
    dragDepth.current += 1;
    setDragging(true);
  };
  const onDragLeave = () => {
    dragDepth.current = Math.max(0, dragDepth.current - 1);
    if (dragDepth.current === 0) setDragging(false);
  };
  const onDrop = (e: React.DragEvent) => {
    e.preventDefault();
    dragDepth.current = 0;
    setDragging(false);
    if (e.dataTransfer.files.length) composerRef.current?.addFiles(e.dataTransfer.files);
  };

  const join = async () => {
    setJoining(true);
    try {
      await chat.joinRoom(roomId);
    } catch (error) {
      chat.notices.error(`Could not join: ${describeError(error)}`);
    } finally {
      setJoining(false);
    }
  };

  const leave = async () => {
    try {
      await chat.leaveRoom(roomId);
      navigate('/');
    } catch (error) {
      chat.notices.error(`Could not leave: ${describeError(error)}`);
    }
  };

  return (
    <div className="room" onDragEnter={onDragEnter} onDragOver={(e) => dragging && e.preventDefault()} onDragLeave={onDragLeave} onDrop={onDrop}>
      <header className="room-header">
        <a href="/" onClick={onLinkClick('/')} className="icon-button back-button" aria-label="Back to conversations">
          <Icon name="back" />
        </a>
        <div className="room-title">
          {room.kind === 'direct' && other ? (
            <Avatar id={other.id} name={other.display_name} url={other.avatar_url} size="sm" online={otherOnline} />
          ) : (
            <span className="room-icon" aria-hidden="true">
              <Icon name={room.kind === 'private' ? 'lock' : 'hash'} size={18} />
            </span>
          )}
          <div className="room-title-text">
            <h1>{room.name}</h1>
            <p className="room-topic">
              {room.kind === 'direct' && other
                ? other.status_text || (otherOnline ? 'Online' : 'Offline')
                : room.topic || `${room.member_count} ${room.member_count === 1 ? 'member' : 'members'}`}
            </p>
          </div>
        </div>
        <div className="room-tools">
          {isMember &&
            (inThisCall ? (
              <span className="in-call-chip">
                <span className="call-bar-dot" aria-hidden="true" /> In call
              </span>
            ) : (
              <button type="button" className={`button small ${othersInCall ? 'primary' : ''}`} onClick={() => void chat.calls.join(roomId)} aria-label={othersInCall ? `Join call (${othersInCall} in call)` : 'Start a call'}>
                <Icon name="phone" size={16} /> <span className="hide-narrow">{othersInCall ? `Join call · ${othersInCall}` : 'Call'}</span>
              </button>
            ))}
          <button type="button" className={`icon-button ${panel === 'search' ? 'active' : ''}`} aria-label="Search messages" aria-pressed={panel === 'search'} onClick={() => setPanel((p) => (p === 'search' ? null : 'search'))}>
            <Icon name="search" />
          </button>
          <button
            type="button"
            className={`icon-button ${panel === 'members' ? 'active' : ''}`}
            aria-label={`Members (${room.member_count})`}
            aria-pressed={panel === 'members'}
            onClick={() => setPanel((p) => (p === 'members' ? null : 'members'))}
          >
            <Icon name="users" />
          </button>
          {isAdmin && room.kind !== 'direct' && (
            <button type="button" className="icon-button" aria-label="Room settings" onClick={() => setSettingsOpen(true)}>
              <Icon name="settings" />
            </button>
          )}
        </div>
      </header>
      <div className="room-body">
        <div className="room-main">
          {inThisCall && <CallPanel roomId={roomId} />}
          <MessageList
            roomId={roomId}
            timeline={timeline}
            members={members}
            canModerate={isAdmin}
            actions={actions}
            highlightId={highlightId}
            emptyText={room.kind === 'direct' ? `This is the start of your conversation with ${room.name}.` : `Welcome to #${room.name}! Say hello.`}
          />
          <TypingIndicator roomId={roomId} />
          {isMember ? (
            <Composer
              ref={composerRef}
              roomId={roomId}
              placeholder={placeholder}
              replyTo={replyTo}
              replyName={replyName}
              onCancelReply={() => setReplyTo(null)}
              onSent={() => setReplyTo(null)}
            />
          ) : (
            <div className="join-bar">
              <span>You are looking at #{room.name}. Join to write here.</span>
              <button type="button" className="button primary" onClick={join} disabled={joining}>
                {joining ? 'Joining…' : `Join #${room.name}`}
              </button>
            </div>
          )}
          {dragging && (
            <div className="drop-zone" aria-hidden="true">
              <Icon name="paperclip" size={32} />
              <span>Drop files to attach them</span>
            </div>
          )}
        </div>
        {panel && (
          <aside className="side-panel" aria-label={panel === 'members' ? 'Members' : 'Search'}>
            <header className="side-panel-header">
              <h2>{panel === 'members' ? 'Members' : 'Search'}</h2>
              <button type="button" className="icon-button small" onClick={() => setPanel(null)} aria-label="Close panel">
                <Icon name="close" size={18} />
              </button>
            </header>
            {panel === 'members' ? <MembersPanel room={room} members={members} /> : <SearchPanel roomId={roomId} onJump={jumpToSearchHit} />}
            {panel === 'members' && isMember && room.kind !== 'direct' && (
              <div className="panel-pad">
                <button type="button" className="button small block" onClick={leave}>
                  Leave room
                </button>
              </div>
            )}
          </aside>
        )}
      </div>
      {isAdmin && members && <RoomSettingsDialog room={room} members={members} open={settingsOpen} onClose={() => setSettingsOpen(false)} />}
      <Dialog title="Delete message" open={deleting !== null} onClose={() => setDeleting(null)}>
        <p>This message will be deleted for everyone.</p>
        {deleting && <blockquote className="quote">{deleting.content}</blockquote>}
        <div className="dialog-actions">
          <button type="button" className="button" onClick={() => setDeleting(null)}>
            Cancel
          </button>
          <button
            type="button"
            className="button danger"
            onClick={() => {
              const m = deleting;
              setDeleting(null);
              if (m) void chat.deleteMessage(m);
            }}
          >
            Delete
          </button>
        </div>
      </Dialog>
    </div>
  );
}

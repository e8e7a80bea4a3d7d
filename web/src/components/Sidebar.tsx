// Rooms and direct messages, newest activity first, with unread badges and last messages.

import { useState } from 'react';
import type { Room } from '../api/types';
import { useChat, useStore } from '../app/context';
import { navigate, onLinkClick, type Route } from '../app/router';
import { Avatar } from './Avatar';
import { Icon } from './Icon';
import { CreateRoomDialog } from './CreateRoomDialog';
import { NewDmDialog } from './NewDmDialog';

function preview(room: Room, myId: string | undefined): string {
  const m = room.last_message;
  if (!m) return room.kind === 'direct' ? 'Say hello' : room.topic || 'No messages yet';
  if (m.deleted) return 'Message deleted';
  const who = m.sender?.id === myId ? 'You' : room.kind === 'direct' ? '' : m.sender?.display_name ?? 'Someone';
  const text = m.content || (m.attachments.length ? `📎 ${m.attachments[0].filename}` : '');
  return who ? `${who}: ${text}` : text;
}

function RoomLink({ room, active, myId }: { room: Room; active: boolean; myId?: string }) {
  const chat = useChat();
  const presence = useStore(chat.people.presence);
  const calls = useStore(chat.callPresence);
  const unread = room.unread_count ?? 0;
  const other = room.other_user;
  const online = other ? presence.get(other.id)?.online ?? other.online : undefined;
  const inCall = (calls.get(room.id)?.size ?? 0) > 0;
  const path = `/rooms/${room.id}`;
  return (
    <li>
      <a
        href={path}
        onClick={onLinkClick(path)}
        className={`room-link ${active ? 'active' : ''} ${unread ? 'unread' : ''}`}
        aria-current={active ? 'page' : undefined}
        data-room-id={room.id}
      >
        {room.kind === 'direct' && other ? (
          <Avatar id={other.id} name={other.display_name} url={other.avatar_url} size="sm" online={online} />
        ) : (
          <span className="room-icon" aria-hidden="true">
            <Icon name={room.kind === 'private' ? 'lock' : 'hash'} size={16} />
          </span>
        )}
        <span className="room-link-text">
          <span className="room-link-name">
            {room.name}
            {inCall && (
              <span className="call-chip" title="A call is going on">
                <Icon name="phone" size={12} /> <span className="visually-hidden">call in progress</span>
              </span>
            )}
          </span>
          <span className="room-link-preview">{preview(room, myId)}</span>
        </span>
        {unread > 0 && (
          <span className="badge" aria-label={`${unread} unread`}>
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </a>
    </li>
  );
}

export function Sidebar({ route }: { route: Route }) {
  const chat = useChat();
  const rooms = useStore(chat.rooms.store);
  const me = useStore(chat.me);
  const call = useStore(chat.calls.view);
  const [creating, setCreating] = useState(false);
  const [dming, setDming] = useState(false);
  const activeId = route.name === 'room' ? route.roomId : null;
  const channels = rooms.filter((r) => r.kind !== 'direct');
  const dms = rooms.filter((r) => r.kind === 'direct');
  const callRoom = call ? chat.rooms.get(call.roomId) : undefined;

  return (
    <aside className="sidebar" aria-label="Rooms and conversations">
      <header className="sidebar-header">
        <a className="brand" href="/" onClick={onLinkClick('/')}>
          <span className="brand-mark small" aria-hidden="true">
            <Icon name="message" size={18} />
          </span>
          <span className="brand-name">Chatter</span>
        </a>
        <a
          className="me-button"
          href="/settings/profile"
          onClick={onLinkClick('/settings/profile')}
          aria-label={`Your profile and settings (${me?.display_name ?? ''})`}
          aria-current={route.name === 'settings' ? 'page' : undefined}
        >
          {me && <Avatar id={me.id} name={me.display_name} url={me.avatar_url} size="sm" online={true} />}
        </a>
      </header>
      <nav className="sidebar-actions" aria-label="Actions">
        <a href="/directory" onClick={onLinkClick('/directory')} className={`nav-item ${route.name === 'directory' ? 'active' : ''}`} aria-current={route.name === 'directory' ? 'page' : undefined}>
          <Icon name="compass" size={18} /> Browse rooms
        </a>
        <button type="button" className="nav-item" onClick={() => setCreating(true)}>
          <Icon name="plus" size={18} /> New room
        </button>
        <button type="button" className="nav-item" onClick={() => setDming(true)}>
          <Icon name="message" size={18} /> New message
        </button>
      </nav>
      <div className="sidebar-scroll">
        <section aria-labelledby="rooms-heading">
          <h2 id="rooms-heading" className="sidebar-heading">
            Rooms
          </h2>
          {channels.length === 0 ? (
            <p className="sidebar-empty">
              No rooms yet.{' '}
              <a href="/directory" onClick={onLinkClick('/directory')}>
                Find one
              </a>{' '}
              or{' '}
              <button type="button" className="link-button" onClick={() => setCreating(true)}>
                create one
              </button>
              .
            </p>
          ) : (
            <ul className="room-list" aria-label="Rooms">
              {channels.map((room) => (
                <RoomLink key={room.id} room={room} active={room.id === activeId} myId={me?.id} />
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="dms-heading">
          <h2 id="dms-heading" className="sidebar-heading">
            Direct messages
          </h2>
          {dms.length === 0 ? (
            <p className="sidebar-empty">
              <button type="button" className="link-button" onClick={() => setDming(true)}>
                Start a conversation
              </button>
            </p>
          ) : (
            <ul className="room-list" aria-label="Direct messages">
              {dms.map((room) => (
                <RoomLink key={room.id} room={room} active={room.id === activeId} myId={me?.id} />
              ))}
            </ul>
          )}
        </section>
      </div>
      {call && (
        <div className="call-bar" role="region" aria-label="Current call">
          <span className="call-bar-dot" aria-hidden="true" />
          <a href={`/rooms/${call.roomId}`} onClick={onLinkClick(`/rooms/${call.roomId}`)} className="call-bar-room">
            In call · {callRoom?.name ?? 'room'}
          </a>
          <button type="button" className="icon-button danger small" onClick={() => chat.calls.leave()} aria-label="Leave call">
            <Icon name="phone-off" size={16} />
          </button>
        </div>
      )}
      <CreateRoomDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(room) => {
          setCreating(false);
          navigate(`/rooms/${room.id}`);
        }}
      />
      <NewDmDialog
        open={dming}
        onClose={() => setDming(false)}
        onOpened={(room) => {
          setDming(false);
          navigate(`/rooms/${room.id}`);
        }}
      />
    </aside>
  );
}

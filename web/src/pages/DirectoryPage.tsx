// The public room directory, searchable (GET /rooms?q=).

import { useEffect, useState } from 'react';
import { describeError } from '../api/errors';
import type { Room } from '../api/types';
import { useChat, useStore } from '../app/context';
import { navigate, onLinkClick } from '../app/router';
import { Icon } from '../components/Icon';
import { CreateRoomDialog } from '../components/CreateRoomDialog';

export function DirectoryPage() {
  const chat = useChat();
  const joined = useStore(chat.rooms.store);
  const [q, setQ] = useState('');
  const [items, setItems] = useState<Room[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const joinedIds = new Set(joined.map((r) => r.id));

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    const timer = setTimeout(() => {
      chat.api
        .directory(q.trim(), null, controller.signal)
        .then((page) => {
          setItems(page.items);
          setCursor(page.next_cursor);
          setError('');
        })
        .catch((err: unknown) => {
          if (!controller.signal.aborted) setError(`Could not load the directory. ${describeError(err)}`);
        })
        .finally(() => {
          if (!controller.signal.aborted) setLoading(false);
        });
    }, 250);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [q, chat]);

  const more = async () => {
    if (!cursor) return;
    try {
      const page = await chat.api.directory(q.trim(), cursor);
      setItems((prev) => [...prev, ...page.items.filter((r) => !prev.some((p) => p.id === r.id))]);
      setCursor(page.next_cursor);
    } catch (err) {
      setError(describeError(err));
    }
  };

  const join = async (room: Room) => {
    setBusy(room.id);
    try {
      await chat.joinRoom(room.id);
      navigate(`/rooms/${room.id}`);
    } catch (err) {
      chat.notices.error(`Could not join ${room.name}: ${describeError(err)}`);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="page">
      <header className="page-header">
        <a href="/" onClick={onLinkClick('/')} className="icon-button back-button" aria-label="Back to conversations">
          <Icon name="back" />
        </a>
        <h1>Browse rooms</h1>
        <button type="button" className="button primary small" onClick={() => setCreating(true)}>
          <Icon name="plus" size={16} /> New room
        </button>
      </header>
      <div className="page-body narrow">
        <label className="search-field">
          <Icon name="search" size={18} />
          <span className="visually-hidden">Search public rooms</span>
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Search public rooms" aria-label="Search public rooms" />
        </label>
        {error && (
          <div className="callout error" role="alert">
            {error}
          </div>
        )}
        <ul className="directory-list" aria-label="Public rooms" aria-busy={loading}>
          {items.map((room) => {
            const member = joinedIds.has(room.id) || room.my_role !== undefined;
            return (
              <li key={room.id} className="directory-item">
                <span className="room-icon large" aria-hidden="true">
                  <Icon name="hash" size={20} />
                </span>
                <div className="directory-text">
                  <a href={`/rooms/${room.id}`} onClick={onLinkClick(`/rooms/${room.id}`)} className="directory-name">
                    {room.name}
                  </a>
                  {room.topic && <p className="muted">{room.topic}</p>}
                  <p className="meta">
                    {room.member_count} {room.member_count === 1 ? 'member' : 'members'}
                    {room.alias ? ` · #${room.alias}` : ''}
                  </p>
                </div>
                {member ? (
                  <a className="button small" href={`/rooms/${room.id}`} onClick={onLinkClick(`/rooms/${room.id}`)} aria-label={`Open ${room.name}`}>
                    Open
                  </a>
                ) : (
                  <button type="button" className="button primary small" onClick={() => join(room)} disabled={busy === room.id} aria-label={`Join ${room.name}`}>
                    {busy === room.id ? 'Joining…' : 'Join'}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
        {!loading && items.length === 0 && !error && (
          <div className="empty-state small">
            <p>{q ? `No public room matches “${q}”.` : 'There are no public rooms yet.'}</p>
            <button type="button" className="button" onClick={() => setCreating(true)}>
              Create one
            </button>
          </div>
        )}
        {cursor && (
          <button type="button" className="button block" onClick={more}>
            Show more
          </button>
        )}
      </div>
      <CreateRoomDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(room) => {
          setCreating(false);
          navigate(`/rooms/${room.id}`);
        }}
      />
    </div>
  );
}

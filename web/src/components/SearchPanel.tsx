// Full-text search in this room (GET /search/messages?q=&room_id=).

import { useState } from 'react';
import { describeError } from '../api/errors';
import type { Message } from '../api/types';
import { useChat } from '../app/context';
import { fullTime } from '../util/format';

export function SearchPanel({ roomId, onJump }: { roomId: string; onJump: (message: Message) => void }) {
  const chat = useChat();
  const [q, setQ] = useState('');
  const [results, setResults] = useState<Message[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const search = async (event?: React.FormEvent, more = false) => {
    event?.preventDefault();
    if (!q.trim()) return;
    setBusy(true);
    setError('');
    try {
      const page = await chat.api.searchMessages(q.trim(), roomId, more ? cursor : null);
      setResults((prev) => (more && prev ? [...prev, ...page.items] : page.items));
      setCursor(page.next_cursor);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="search-panel">
      <form onSubmit={(e) => search(e)} className="panel-pad" role="search">
        <label className="field">
          <span className="visually-hidden">Search messages in this room</span>
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Search messages" aria-label="Search messages in this room" autoFocus />
        </label>
      </form>
      {error && (
        <div className="callout error" role="alert">
          {error}
        </div>
      )}
      {results && (
        <ul className="search-results" aria-label="Search results" aria-busy={busy}>
          {results.length === 0 && <li className="muted panel-pad">Nothing found for “{q}”.</li>}
          {results.map((m) => (
            <li key={m.id}>
              <button type="button" className="search-hit" onClick={() => onJump(m)}>
                <span className="search-hit-head">
                  <strong>{m.sender?.display_name ?? 'Deleted user'}</strong>
                  <time dateTime={m.created_at} className="muted small">
                    {fullTime(m.created_at)}
                  </time>
                </span>
                <span className="search-hit-text">{m.content}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" className="button block" onClick={() => search(undefined, true)} disabled={busy}>
          More results
        </button>
      )}
    </div>
  );
}

// Finds people by username or display-name prefix (GET /users?q=).

import { useEffect, useState } from 'react';
import { describeError } from '../api/errors';
import type { PublicProfile } from '../api/types';
import { useChat } from '../app/context';
import { Avatar } from './Avatar';
import { Field } from './Field';

interface Props {
  label: string;
  actionLabel: (user: PublicProfile) => string;
  onPick: (user: PublicProfile) => void;
  exclude?: ReadonlySet<string>;
  busyId?: string | null;
  autoFocus?: boolean;
}

export function UserSearch({ label, actionLabel, onPick, exclude, busyId, autoFocus }: Props) {
  const chat = useChat();
  const me = chat.me.get();
  const [q, setQ] = useState('');
  const [results, setResults] = useState<PublicProfile[]>([]);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setLoading(true);
      chat.api
        .searchUsers(q.trim(), controller.signal)
        .then((page) => {
          setResults(page.items.filter((u) => u.id !== me?.id && !exclude?.has(u.id)));
          setError('');
          chat.people.rememberProfiles(page.items);
        })
        .catch((err: unknown) => {
          if (!controller.signal.aborted) setError(describeError(err));
        })
        .finally(() => {
          if (!controller.signal.aborted) setLoading(false);
        });
    }, 200);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [q, chat, me?.id, exclude]);

  return (
    <div className="user-search">
      <Field label={label}>
        <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name or username" autoFocus={autoFocus} />
      </Field>
      {error && (
        <div className="callout error" role="alert">
          {error}
        </div>
      )}
      <ul className="user-results" aria-label="People" aria-busy={loading}>
        {results.map((user) => (
          <li key={user.id}>
            <Avatar id={user.id} name={user.display_name} url={user.avatar_url} size="sm" online={user.online} />
            <span className="user-result-text">
              <strong>{user.display_name}</strong>
              <span className="muted">@{user.username}</span>
            </span>
            <button type="button" className="button small" onClick={() => onPick(user)} disabled={busyId === user.id} aria-label={`${actionLabel(user)}`}>
              {busyId === user.id ? '…' : actionLabel(user).split(' ')[0]}
            </button>
          </li>
        ))}
        {!loading && results.length === 0 && !error && <li className="muted empty">{q ? 'Nobody found.' : 'Type a name to search.'}</li>}
      </ul>
    </div>
  );
}

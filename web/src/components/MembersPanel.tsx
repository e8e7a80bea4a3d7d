import type { Member, Room } from '../api/types';
import { useChat, useStore } from '../app/context';
import { relativeTime } from '../util/format';
import { Avatar } from './Avatar';

const ROLE_ORDER = { owner: 0, admin: 1, member: 2 } as const;

export function MembersPanel({ room, members }: { room: Room; members: Member[] | undefined }) {
  const chat = useChat();
  const presence = useStore(chat.people.presence);
  const me = useStore(chat.me);
  if (!members) return <p className="muted panel-pad">Loading members…</p>;
  const online = (m: Member) => presence.get(m.user.id)?.online ?? m.user.online;
  const sorted = [...members].sort(
    (a, b) => Number(online(b)) - Number(online(a)) || ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.user.display_name.localeCompare(b.user.display_name),
  );
  const onlineCount = members.filter(online).length;
  return (
    <div className="members-panel">
      <p className="muted panel-pad small">
        {members.length} {members.length === 1 ? 'member' : 'members'} · {onlineCount} online
      </p>
      <ul className="member-list" aria-label={`Members of ${room.name}`}>
        {sorted.map((m) => {
          const isOnline = online(m);
          const lastSeen = presence.get(m.user.id)?.last_seen_at ?? m.user.last_seen_at;
          return (
            <li key={m.user.id} className="member" data-testid="member" data-online={isOnline}>
              <Avatar id={m.user.id} name={m.user.display_name} url={m.user.avatar_url} size="sm" online={isOnline} />
              <span className="member-text">
                <span className="member-name">
                  {m.user.display_name}
                  {m.user.id === me?.id && <span className="muted"> (you)</span>}
                </span>
                <span className="muted small">
                  {m.user.status_text || (isOnline ? 'Online' : `Last seen ${relativeTime(lastSeen)}`)}
                </span>
              </span>
              {m.role !== 'member' && room.kind !== 'direct' && <span className={`role-badge ${m.role}`}>{m.role}</span>}
              <span className="visually-hidden">{isOnline ? 'online' : 'offline'}</span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

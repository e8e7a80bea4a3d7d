// Room settings for admins: name and topic, members and roles, bans; delete for the owner.

import { useEffect, useMemo, useState } from 'react';
import { ApiError, describeError } from '../api/errors';
import type { Ban, Member, Room } from '../api/types';
import { useChat } from '../app/context';
import { navigate } from '../app/router';
import { fullTime } from '../util/format';
import { Avatar } from './Avatar';
import { Dialog } from './Dialog';
import { Field } from './Field';
import { UserSearch } from './UserSearch';

type Tab = 'general' | 'members' | 'bans';

export function RoomSettingsDialog({ room, members, open, onClose }: { room: Room; members: Member[]; open: boolean; onClose: () => void }) {
  const chat = useChat();
  const me = chat.me.get();
  const [tab, setTab] = useState<Tab>('general');
  const [name, setName] = useState(room.name);
  const [topic, setTopic] = useState(room.topic);
  const [error, setError] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  const [bans, setBans] = useState<Ban[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const isOwner = room.my_role === 'owner';
  const memberIds = useMemo(() => new Set(members.map((m) => m.user.id)), [members]);

  useEffect(() => {
    if (open) {
      setName(room.name);
      setTopic(room.topic);
      setError('');
      setFields({});
    }
  }, [open, room.name, room.topic]);

  useEffect(() => {
    if (!open || tab !== 'bans') return;
    chat.api
      .bans(room.id)
      .then(setBans)
      .catch((err: unknown) => setError(describeError(err)));
  }, [open, tab, chat, room.id]);

  const run = async (key: string, action: () => Promise<unknown>, done?: string) => {
    setBusy(key);
    setError('');
    try {
      await action();
      if (done) chat.notices.push('success', done);
      void chat.loadMembers(room.id, true);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(null);
    }
  };

  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaving(true);
    setError('');
    setFields({});
    try {
      await chat.updateRoom(room.id, { name: name.trim(), topic: topic.trim() });
      chat.notices.push('success', 'Room settings saved.');
    } catch (err) {
      if (err instanceof ApiError) setFields(err.fields);
      setError(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  const outranks = (m: Member) => m.user.id !== me?.id && (isOwner ? m.role !== 'owner' : m.role === 'member');
  const profileName = (id: string) => chat.people.profiles.get().get(id)?.display_name ?? id.slice(0, 8);

  return (
    <Dialog title={`Settings · ${room.name}`} open={open} onClose={onClose} wide>
      <div className="tabs" role="tablist" aria-label="Room settings">
        {(['general', 'members', 'bans'] as Tab[]).map((t) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} className={`tab ${tab === t ? 'active' : ''}`} onClick={() => setTab(t)}>
            {t === 'general' ? 'General' : t === 'members' ? 'Members' : 'Bans'}
          </button>
        ))}
      </div>
      {error && (
        <div className="callout error" role="alert">
          {error}
        </div>
      )}
      {tab === 'general' && (
        <form onSubmit={save} className="dialog-form" role="tabpanel">
          <Field label="Room name" error={fields.name}>
            <input value={name} onChange={(e) => setName(e.target.value)} maxLength={80} required />
          </Field>
          <Field label="Topic" error={fields.topic}>
            <textarea value={topic} onChange={(e) => setTopic(e.target.value)} rows={2} maxLength={300} />
          </Field>
          <p className="muted small">
            {room.kind === 'public' ? 'Public: anyone can find and join this room.' : 'Private: only members can see this room.'}
          </p>
          <div className="dialog-actions">
            <button type="submit" className="button primary" disabled={saving || !name.trim()}>
              {saving ? 'Saving…' : 'Save changes'}
            </button>
          </div>
          {isOwner && (
            <div className="danger-zone">
              <h3>Delete this room</h3>
              <p className="muted small">Every message and file in it is deleted for everyone. This cannot be undone.</p>
              {confirmDelete ? (
                <div className="row">
                  <button
                    type="button"
                    className="button danger"
                    disabled={busy === 'delete'}
                    onClick={() =>
                      run('delete', async () => {
                        await chat.api.deleteRoom(room.id);
                        chat.rooms.remove(room.id);
                        onClose();
                        navigate('/');
                      })
                    }
                  >
                    Yes, delete {room.name}
                  </button>
                  <button type="button" className="button" onClick={() => setConfirmDelete(false)}>
                    Cancel
                  </button>
                </div>
              ) : (
                <button type="button" className="button danger" onClick={() => setConfirmDelete(true)}>
                  Delete room
                </button>
              )}
            </div>
          )}
        </form>
      )}
      {tab === 'members' && (
        <div role="tabpanel" className="settings-members">
          <ul className="member-list manage">
            {members.map((m) => (
              <li key={m.user.id} className="member">
                <Avatar id={m.user.id} name={m.user.display_name} url={m.user.avatar_url} size="sm" />
                <span className="member-text">
                  <span className="member-name">{m.user.display_name}</span>
                  <span className="muted small">@{m.user.username}</span>
                </span>
                {isOwner && m.role !== 'owner' ? (
                  <select
                    aria-label={`Role of ${m.user.display_name}`}
                    value={m.role}
                    disabled={busy === m.user.id}
                    onChange={(e) => run(m.user.id, () => chat.api.setRole(room.id, m.user.id, e.target.value as 'admin' | 'member'), `${m.user.display_name} is now ${e.target.value === 'admin' ? 'an admin' : 'a member'}.`)}
                  >
                    <option value="member">Member</option>
                    <option value="admin">Admin</option>
                  </select>
                ) : (
                  <span className={`role-badge ${m.role}`}>{m.role}</span>
                )}
                {outranks(m) && (
                  <>
                    <button type="button" className="button small" disabled={busy === m.user.id} onClick={() => run(m.user.id, () => chat.api.removeMember(room.id, m.user.id), `${m.user.display_name} was removed.`)} aria-label={`Remove ${m.user.display_name}`}>
                      Remove
                    </button>
                    <button type="button" className="button small danger" disabled={busy === m.user.id} onClick={() => run(m.user.id, () => chat.api.ban(room.id, m.user.id), `${m.user.display_name} was banned.`)} aria-label={`Ban ${m.user.display_name}`}>
                      Ban
                    </button>
                  </>
                )}
              </li>
            ))}
          </ul>
          {room.kind !== 'direct' && (
            <UserSearch
              label="Add people"
              exclude={memberIds}
              busyId={busy}
              actionLabel={(u) => `Add ${u.display_name}`}
              onPick={(u) => run(u.id, () => chat.api.addMembers(room.id, [u.id]), `${u.display_name} was added.`)}
            />
          )}
        </div>
      )}
      {tab === 'bans' && (
        <div role="tabpanel">
          {bans === null ? (
            <p className="muted">Loading bans…</p>
          ) : bans.length === 0 ? (
            <p className="muted">Nobody is banned from this room.</p>
          ) : (
            <ul className="member-list manage">
              {bans.map((b) => (
                <li key={b.user_id} className="member">
                  <span className="member-text">
                    <span className="member-name">{profileName(b.user_id)}</span>
                    <span className="muted small">
                      {b.until ? `until ${fullTime(b.until)}` : 'permanently'}
                      {b.reason ? ` · ${b.reason}` : ''}
                    </span>
                  </span>
                  <button
                    type="button"
                    className="button small"
                    disabled={busy === b.user_id}
                    onClick={() =>
                      run(b.user_id, async () => {
                        await chat.api.unban(room.id, b.user_id);
                        setBans((prev) => prev?.filter((x) => x.user_id !== b.user_id) ?? null);
                      }, 'Ban lifted.')
                    }
                  >
                    Lift ban
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </Dialog>
  );
}

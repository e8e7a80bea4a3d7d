// Profile (name, status, avatar, password) and signed-in devices.

import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, describeError } from '../api/errors';
import { deviceId } from '../api/device';
import type { Session } from '../api/types';
import { uploadFile } from '../api/upload';
import { useChat, useStore } from '../app/context';
import { onLinkClick } from '../app/router';
import { Avatar } from '../components/Avatar';
import { Icon } from '../components/Icon';
import { Field } from '../components/Field';
import { SecurityNotices } from '../components/SecurityNotices';
import { describeDevice, fullTime, relativeTime } from '../util/format';

export function SettingsPage({ tab }: { tab: 'profile' | 'sessions' }) {
  const chat = useChat();
  return (
    <div className="page">
      <header className="page-header">
        <a href="/" onClick={onLinkClick('/')} className="icon-button back-button" aria-label="Back to conversations">
          <Icon name="back" />
        </a>
        <h1>Settings</h1>
        <button type="button" className="button small" onClick={() => void chat.logout()}>
          <Icon name="logout" size={16} /> Sign out
        </button>
      </header>
      <nav className="tabs page-tabs" aria-label="Settings sections">
        <a href="/settings/profile" onClick={onLinkClick('/settings/profile')} className={`tab ${tab === 'profile' ? 'active' : ''}`} aria-current={tab === 'profile' ? 'page' : undefined}>
          Profile
        </a>
        <a href="/settings/sessions" onClick={onLinkClick('/settings/sessions')} className={`tab ${tab === 'sessions' ? 'active' : ''}`} aria-current={tab === 'sessions' ? 'page' : undefined}>
          Devices
        </a>
      </nav>
      <div className="page-body narrow">{tab === 'profile' ? <ProfileSettings /> : <SessionsSettings />}</div>
    </div>
  );
}

function ProfileSettings() {
  const chat = useChat();
  const me = useStore(chat.me);
  const [displayName, setDisplayName] = useState(me?.display_name ?? '');
  const [status, setStatus] = useState(me?.status_text ?? '');
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [avatarProgress, setAvatarProgress] = useState<number | null>(null);
  const [avatarError, setAvatarError] = useState('');
  const fileRef = useRef<HTMLInputElement>(null);

  if (!me) return null;

  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaving(true);
    setError('');
    setFields({});
    try {
      await chat.updateProfile({ display_name: displayName.trim(), status_text: status.trim() });
      chat.notices.push('success', 'Profile saved.');
    } catch (err) {
      if (err instanceof ApiError) setFields(err.fields);
      setError(describeError(err));
    } finally {
      setSaving(false);
    }
  };

  const pickAvatar = async (file: File) => {
    setAvatarError('');
    if (!file.type.startsWith('image/')) {
      setAvatarError('Pick an image (PNG, JPEG, GIF or WebP).');
      return;
    }
    setAvatarProgress(0);
    try {
      const upload = await uploadFile(chat.client, file, setAvatarProgress, deviceId()).promise;
      await chat.updateProfile({ avatar_upload_id: upload.id });
      chat.notices.push('success', 'Avatar updated.');
    } catch (err) {
      setAvatarError(describeError(err));
    } finally {
      setAvatarProgress(null);
    }
  };

  return (
    <>
      <section className="card" aria-labelledby="profile-heading">
        <h2 id="profile-heading">Profile</h2>
        <div className="avatar-row">
          <Avatar id={me.id} name={me.display_name} url={me.avatar_url} size="xl" />
          <div>
            <p>
              <strong>{me.display_name}</strong> <span className="muted">@{me.username}</span>
            </p>
            {me.email && <p className="muted small">{me.email}</p>}
            <input ref={fileRef} type="file" accept="image/png,image/jpeg,image/gif,image/webp" hidden aria-label="Upload avatar" onChange={(e) => e.target.files?.[0] && void pickAvatar(e.target.files[0])} />
            <div className="row">
              <button type="button" className="button small" onClick={() => fileRef.current?.click()} disabled={avatarProgress !== null}>
                <Icon name="image" size={16} /> {me.avatar_url ? 'Change avatar' : 'Upload avatar'}
              </button>
              {me.avatar_url && (
                <button
                  type="button"
                  className="button small"
                  onClick={() => chat.updateProfile({ avatar_upload_id: null }).catch((err: unknown) => setAvatarError(describeError(err)))}
                >
                  Remove
                </button>
              )}
            </div>
            {avatarProgress !== null && <progress max={1} value={avatarProgress} aria-label="Uploading avatar" />}
            {avatarError && (
              <p className="field-error" role="alert">
                {avatarError}
              </p>
            )}
          </div>
        </div>
        <form onSubmit={save} className="dialog-form">
          <Field label="Display name" error={fields.display_name}>
            <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} maxLength={64} required />
          </Field>
          <Field label="Status" error={fields.status_text}>
            <input value={status} onChange={(e) => setStatus(e.target.value)} maxLength={140} placeholder="What are you up to?" />
          </Field>
          {error && (
            <div className="callout error" role="alert">
              {error}
            </div>
          )}
          <div className="dialog-actions">
            <button type="submit" className="button primary" disabled={saving || !displayName.trim()}>
              {saving ? 'Saving…' : 'Save profile'}
            </button>
          </div>
        </form>
      </section>
      <PasswordSettings />
    </>
  );
}

function PasswordSettings() {
  const chat = useChat();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});
  const mismatch = confirm.length > 0 && next !== confirm;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (mismatch) return;
    setBusy(true);
    setError('');
    setFields({});
    try {
      await chat.api.changePassword(current, next);
      setCurrent('');
      setNext('');
      setConfirm('');
      chat.notices.push('success', 'Password changed. Your other devices were signed out.');
    } catch (err) {
      if (err instanceof ApiError) setFields(err.fields);
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <form onSubmit={submit} className="dialog-form">
        <input type="text" name="username" autoComplete="username" value={chat.me.get()?.username ?? ''} readOnly hidden />
        <Field label="Current password" error={fields.current_password}>
          <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
        </Field>
        <Field label="New password" hint="At least 8 characters. Other devices will be signed out." error={fields.new_password}>
          <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required />
        </Field>
        <Field label="Repeat new password" error={mismatch ? 'The passwords do not match.' : undefined}>
          <input type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} required />
        </Field>
        {error && (
          <div className="callout error" role="alert">
            {error}
          </div>
        )}
        <div className="dialog-actions">
          <button type="submit" className="button primary" disabled={busy || !current || !next || mismatch}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}

function SessionsSettings() {
  const chat = useChat();
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const securityNotices = useStore(chat.securityNotices);

  useEffect(() => chat.watchSecurityNotices(), [chat]);

  const load = useCallback(() => {
    chat.api
      .sessions()
      .then((list) => {
        setSessions(list);
        setError('');
      })
      .catch((err: unknown) => setError(`Could not load your devices. ${describeError(err)}`));
  }, [chat]);

  useEffect(load, [load]);

  const revoke = async (session: Session) => {
    setBusy(session.id);
    try {
      await chat.api.revokeSession(session.id);
      setSessions((prev) => prev?.filter((s) => s.id !== session.id) ?? null);
      chat.notices.push('success', `${describeDevice(session.user_agent)} was signed out.`);
    } catch (err) {
      chat.notices.error(`Could not sign that device out: ${describeError(err)}`);
    } finally {
      setBusy(null);
    }
  };

  const revokeOthers = async () => {
    setBusy('others');
    try {
      await chat.api.revokeOtherSessions();
      load();
      chat.notices.push('success', 'All your other devices were signed out.');
    } catch (err) {
      chat.notices.error(`Could not sign the other devices out: ${describeError(err)}`);
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="card" aria-labelledby="sessions-heading">
      <div className="card-header">
        <h2 id="sessions-heading">Signed-in devices</h2>
        {sessions && sessions.length > 1 && (
          <button type="button" className="button small danger" onClick={revokeOthers} disabled={busy !== null}>
            Sign out all other devices
          </button>
        )}
      </div>
      <SecurityNotices notices={securityNotices} />
      {error && (
        <div className="callout error" role="alert">
          {error}
        </div>
      )}
      {!sessions && !error && <p className="muted">Loading…</p>}
      <ul className="session-list" aria-label="Devices">
        {sessions?.map((s) => (
          <li key={s.id} className={`session ${s.current ? 'current' : ''}`} data-testid="session" data-current={s.current}>
            <span className="session-icon" aria-hidden="true">
              <Icon name="devices" size={22} />
            </span>
            <div className="session-text">
              <p>
                <strong>{describeDevice(s.user_agent)}</strong>
                {s.current && <span className="this-device">This device</span>}
              </p>
              <p className="muted small">
                {s.ip} · active {relativeTime(s.last_seen_at)} · signed in {fullTime(s.created_at)}
              </p>
            </div>
            {s.current ? (
              <button type="button" className="button small" onClick={() => void chat.logout()}>
                Sign out
              </button>
            ) : (
              <button type="button" className="button small danger" onClick={() => revoke(s)} disabled={busy === s.id} aria-label={`Revoke ${describeDevice(s.user_agent)} (${s.ip}, ${relativeTime(s.last_seen_at)})`}>
                {busy === s.id ? 'Revoking…' : 'Revoke'}
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

import { useState } from 'react';
import { ApiError, describeError } from '../api/errors';
import type { Room } from '../api/types';
import { useChat } from '../app/context';
import { Dialog } from './Dialog';
import { Field } from './Field';

export function CreateRoomDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (room: Room) => void }) {
  const chat = useChat();
  const [name, setName] = useState('');
  const [topic, setTopic] = useState('');
  const [kind, setKind] = useState<'public' | 'private'>('public');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});

  const close = () => {
    setError('');
    setFields({});
    onClose();
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    setFields({});
    try {
      const room = await chat.createRoom({ name: name.trim(), kind, topic: topic.trim() || undefined });
      setName('');
      setTopic('');
      setKind('public');
      onCreated(room);
    } catch (err) {
      if (err instanceof ApiError) setFields(err.fields);
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Create a room" open={open} onClose={close}>
      <form onSubmit={submit} className="dialog-form">
        <Field label="Room name" error={fields.name}>
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={80} autoFocus placeholder="e.g. design-team" />
        </Field>
        <Field
          label={
            <>
              Topic <span className="muted">(optional)</span>
            </>
          }
          error={fields.topic}
        >
          <input value={topic} onChange={(e) => setTopic(e.target.value)} maxLength={300} placeholder="What is this room about?" />
        </Field>
        <fieldset className="field radio-group">
          <legend>Who can join</legend>
          <label className="radio">
            <input type="radio" name="kind" value="public" checked={kind === 'public'} onChange={() => setKind('public')} />
            <span>
              <strong>Public</strong>
              <span className="muted">Anyone can find it in the directory and join.</span>
            </span>
          </label>
          <label className="radio">
            <input type="radio" name="kind" value="private" checked={kind === 'private'} onChange={() => setKind('private')} />
            <span>
              <strong>Private</strong>
              <span className="muted">Only people you add can see it.</span>
            </span>
          </label>
        </fieldset>
        {error && (
          <div className="callout error" role="alert">
            {error}
          </div>
        )}
        <div className="dialog-actions">
          <button type="button" className="button" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy || !name.trim()}>
            {busy ? 'Creating…' : 'Create room'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

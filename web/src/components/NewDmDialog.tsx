import { useState } from 'react';
import { describeError } from '../api/errors';
import type { Room } from '../api/types';
import { useChat } from '../app/context';
import { Dialog } from './Dialog';
import { UserSearch } from './UserSearch';

export function NewDmDialog({ open, onClose, onOpened }: { open: boolean; onClose: () => void; onOpened: (room: Room) => void }) {
  const chat = useChat();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState('');
  return (
    <Dialog title="New direct message" open={open} onClose={onClose}>
      <UserSearch
        label="Find a person"
        autoFocus
        busyId={busy}
        actionLabel={(u) => `Message ${u.display_name}`}
        onPick={async (user) => {
          setBusy(user.id);
          setError('');
          try {
            onOpened(await chat.openDm(user.id));
          } catch (err) {
            setError(describeError(err));
          } finally {
            setBusy(null);
          }
        }}
      />
      {error && (
        <div className="callout error" role="alert">
          {error}
        </div>
      )}
    </Dialog>
  );
}

import { useChat, useStore } from '../app/context';
import { Icon } from './Icon';

export function Toasts() {
  const chat = useChat();
  const notices = useStore(chat.notices.store);
  return (
    <div className="toasts" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} className={`toast ${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
          <span>{n.text}</span>
          <button type="button" className="icon-button small" onClick={() => chat.notices.dismiss(n.id)} aria-label="Dismiss">
            <Icon name="close" size={16} />
          </button>
        </div>
      ))}
    </div>
  );
}

// Says when the live connection is down, and what happens meanwhile.

import { useEffect, useState } from 'react';
import { useChat, useStore } from '../app/context';
import { Icon } from './Icon';

export function ConnectionBanner() {
  const chat = useChat();
  const info = useStore(chat.connection);
  const [now, setNow] = useState(Date.now());
  const [showConnecting, setShowConnecting] = useState(false);

  useEffect(() => {
    if (info.status !== 'reconnecting' && info.status !== 'offline') return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [info.status]);

  // The first connection gets a moment before anyone is told about it.
  useEffect(() => {
    if (info.status !== 'connecting') {
      setShowConnecting(false);
      return;
    }
    const timer = setTimeout(() => setShowConnecting(true), 2_000);
    return () => clearTimeout(timer);
  }, [info.status]);

  let text: string | null = null;
  let action = false;
  const secs = info.retryAt ? Math.max(0, Math.ceil((info.retryAt - now) / 1000)) : 0;
  if (info.status === 'offline') {
    text = `You seem to be offline. Messages you send will go out once the connection is back. Retrying${secs > 0 ? ` in ${secs} s` : '…'}`;
    action = secs > 0;
  } else if (info.status === 'reconnecting') {
    text = `${info.lastError ?? 'Connection lost.'} Reconnecting${secs > 0 ? ` in ${secs} s` : '…'}`;
    action = secs > 0;
  } else if (info.status === 'connecting' && showConnecting) text = 'Connecting to Chatter…';

  return (
    <div className={`connection-banner ${text ? 'visible' : ''} ${info.status}`} role="status" aria-live="polite" data-testid="connection-banner" data-status={info.status}>
      {text && (
        <>
          <Icon name={info.status === 'offline' ? 'wifi-off' : 'refresh'} size={16} className={info.status === 'reconnecting' ? 'spin' : ''} />
          <span>{text}</span>
          {action && (
            <button type="button" className="link-button" onClick={() => chat.realtime.reconnectNow()}>
              Retry now
            </button>
          )}
        </>
      )}
    </div>
  );
}

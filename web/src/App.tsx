// Start-up: restore the session from the refresh cookie, then show the app or the sign-in page.

import { useEffect, useMemo, useState } from 'react';
import { ApiClient, browserLock, storageSessionHint, type SessionEndReason } from './api/http';
import { deviceId } from './api/device';
import { NetworkError, describeError } from './api/errors';
import { ChatController } from './state/chat';
import { ChatContext, useStore } from './app/context';
import { navigate, parseRoute, usePath } from './app/router';
import { AuthPage } from './pages/AuthPage';
import { Shell } from './pages/Shell';
import { Icon } from './components/Icon';

type Phase = 'starting' | 'unreachable' | 'signed-in' | 'signed-out';

function endMessage(reason: SessionEndReason, detail?: string): string {
  if (reason === 'revoked') {
    if (detail === 'password_changed') return 'Your password was changed on another device. Sign in again.';
    if (detail === 'replaced_on_device') return 'You signed in again on this device.';
    if (detail === 'logout') return 'You signed out in another tab.';
    if (detail === 'account_deleted') return 'This account was deleted.';
    if (detail === 'refresh_token_reused') return 'For your safety this session was ended (its sign-in token was used twice). Sign in again.';
    return 'This session was signed out from another device. Sign in again to continue.';
  }
  if (reason === 'expired') return 'Your session has ended. Sign in again to continue.';
  return '';
}

export function App() {
  const chat = useMemo(() => new ChatController({ client: new ApiClient({ deviceId: () => deviceId(), lock: browserLock, sessionHint: storageSessionHint }) }), []);
  if (import.meta.env.DEV) (window as unknown as { __chat?: ChatController }).__chat = chat;
  const [phase, setPhase] = useState<Phase>('starting');
  const [startError, setStartError] = useState('');
  const [endNotice, setEndNotice] = useState('');
  const me = useStore(chat.me);
  const path = usePath();
  const route = parseRoute(path);

  useEffect(() => {
    const offChange = chat.client.onChange((state) => {
      setPhase((prev) => (state.user ? 'signed-in' : prev === 'starting' ? prev : 'signed-out'));
    });
    const offEnd = chat.client.onSessionEnded((reason, detail) => setEndNotice(endMessage(reason, detail)));
    let cancelled = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const resume = () => {
      chat.client
        .resume()
        .then((ok) => {
          if (!cancelled) setPhase(ok ? 'signed-in' : 'signed-out');
        })
        .catch((error: unknown) => {
          if (cancelled) return;
          if (error instanceof NetworkError || (error as { status?: number }).status === 502 || (error as { status?: number }).status === 503) {
            setStartError(describeError(error));
            setPhase('unreachable');
            retry = setTimeout(resume, 5_000);
          } else {
            setStartError(describeError(error));
            setPhase('signed-out');
          }
        });
    };
    resume();
    return () => {
      cancelled = true;
      clearTimeout(retry);
      offChange();
      offEnd();
    };
  }, [chat]);

  useEffect(() => {
    if (phase === 'signed-in') {
      setEndNotice('');
      chat.start();
      if (route.name === 'login' || route.name === 'register') navigate('/', { replace: true });
    }
    if (phase === 'signed-out' && route.name !== 'login' && route.name !== 'register') navigate('/login', { replace: true });
  }, [phase, chat, route.name]);

  if (phase === 'starting') {
    return (
      <div className="splash" role="status">
        <div className="brand-mark" aria-hidden="true">
          <Icon name="message" size={28} />
        </div>
        <p>Loading Chatter…</p>
      </div>
    );
  }
  if (phase === 'unreachable') {
    return (
      <div className="splash" role="alert">
        <div className="brand-mark" aria-hidden="true">
          <Icon name="wifi-off" size={28} />
        </div>
        <h1>Chatter can’t be reached</h1>
        <p>{startError} Retrying every few seconds…</p>
        <button className="button primary" onClick={() => window.location.reload()}>
          Retry now
        </button>
      </div>
    );
  }
  return (
    <ChatContext.Provider value={chat}>
      {phase === 'signed-in' ? (
        me ? (
          <Shell route={route} />
        ) : (
          <div className="splash" role="status">
            <p>Loading Chatter…</p>
          </div>
        )
      ) : (
        <AuthPage mode={route.name === 'register' ? 'register' : 'login'} notice={endNotice || startError} />
      )}
    </ChatContext.Provider>
  );
}

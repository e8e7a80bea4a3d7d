// The signed-in layout: sidebar, main area, connection banner, notices, call audio.

import { useEffect } from 'react';
import { useChat, useStore } from '../app/context';
import type { Route } from '../app/router';
import { Sidebar } from '../components/Sidebar';
import { ConnectionBanner } from '../components/ConnectionBanner';
import { Toasts } from '../components/Toasts';
import { CallAudio } from '../calls/CallAudio';
import { RoomPage } from './RoomPage';
import { DirectoryPage } from './DirectoryPage';
import { SettingsPage } from './SettingsPage';
import { HomePage } from './HomePage';

export function Shell({ route }: { route: Route }) {
  const chat = useChat();
  const rooms = useStore(chat.rooms.store);

  // Unread total in the tab title.
  useEffect(() => {
    const unread = rooms.reduce((sum, r) => sum + (r.unread_count ?? 0), 0);
    document.title = unread > 0 ? `(${unread}) Chatter` : 'Chatter';
  }, [rooms]);

  // On a phone the list is the home screen; anything else shows the main area.
  const view = route.name === 'home' ? 'list' : 'main';
  return (
    <div className="shell" data-view={view}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Sidebar route={route} />
      <main className="main" id="main" tabIndex={-1}>
        <ConnectionBanner />
        {route.name === 'room' && <RoomPage key={route.roomId} roomId={route.roomId} />}
        {route.name === 'directory' && <DirectoryPage />}
        {route.name === 'settings' && <SettingsPage tab={route.tab} />}
        {(route.name === 'home' || route.name === 'not-found' || route.name === 'login' || route.name === 'register') && (
          <HomePage notFound={route.name === 'not-found'} />
        )}
      </main>
      <CallAudio />
      <Toasts />
    </div>
  );
}

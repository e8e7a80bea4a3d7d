// A tiny History-API router: the server falls back to index.html for every path.

import { useSyncExternalStore } from 'react';

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

const getPath = () => window.location.pathname;

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (path === window.location.pathname) return;
  if (options.replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  for (const listener of listeners) listener();
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, getPath, getPath);
}

export type Route =
  | { name: 'home' }
  | { name: 'login' }
  | { name: 'register' }
  | { name: 'room'; roomId: string }
  | { name: 'directory' }
  | { name: 'settings'; tab: 'profile' | 'sessions' }
  | { name: 'not-found' };

export function parseRoute(path: string): Route {
  const clean = path.replace(/\/+$/, '') || '/';
  if (clean === '/') return { name: 'home' };
  if (clean === '/login') return { name: 'login' };
  if (clean === '/register') return { name: 'register' };
  if (clean === '/directory') return { name: 'directory' };
  if (clean === '/settings' || clean === '/settings/profile') return { name: 'settings', tab: 'profile' };
  if (clean === '/settings/sessions') return { name: 'settings', tab: 'sessions' };
  const room = clean.match(/^\/rooms\/([0-9a-fA-F-]{10,40})$/);
  if (room) return { name: 'room', roomId: room[1].toLowerCase() };
  return { name: 'not-found' };
}

/** A link that navigates without a page load (and still works with a middle click). */
export function onLinkClick(path: string) {
  return (event: React.MouseEvent<HTMLAnchorElement>) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(path);
  };
}

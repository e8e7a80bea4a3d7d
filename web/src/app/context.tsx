// React glue: the controller is created once; components read stores with useStore.

import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ChatController } from '../state/chat';
import type { Store } from '../state/store';

export const ChatContext = createContext<ChatController | null>(null);

export function useChat(): ChatController {
  const chat = useContext(ChatContext);
  if (!chat) throw new Error('useChat outside ChatContext');
  return chat;
}

export function useStore<T>(store: Store<T>): T {
  return useSyncExternalStore(store.subscribe, store.get, store.get);
}

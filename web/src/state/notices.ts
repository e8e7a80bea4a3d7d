// Short messages to the user (errors in words, confirmations). Never swallowed silently.

import { Store } from './store';

export interface Notice {
  id: number;
  kind: 'error' | 'warning' | 'info' | 'success';
  text: string;
}

export class Notices {
  readonly store = new Store<Notice[]>([]);
  private next = 1;

  push(kind: Notice['kind'], text: string, ttlMs = kind === 'error' ? 8_000 : 4_000): number {
    const id = this.next++;
    // The same text twice in a row is shown once.
    this.store.set((prev) => [...prev.filter((n) => n.text !== text), { id, kind, text }].slice(-4));
    if (ttlMs > 0 && typeof setTimeout !== 'undefined') setTimeout(() => this.dismiss(id), ttlMs);
    return id;
  }

  error(text: string): number {
    return this.push('error', text);
  }

  info(text: string): number {
    return this.push('info', text);
  }

  dismiss(id: number): void {
    this.store.set((prev) => prev.filter((n) => n.id !== id));
  }
}

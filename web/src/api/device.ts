// One stable X-Device-ID per browser profile: the server keeps one session per user and device.

const KEY = 'chatter.device_id';

function randomId(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

let memoryId: string | null = null;

export function deviceId(storage: Pick<Storage, 'getItem' | 'setItem'> | undefined = globalThis.localStorage): string {
  try {
    const stored = storage?.getItem(KEY);
    if (stored) return stored;
    const id = `web-${randomId()}`;
    storage?.setItem(KEY, id);
    return id;
  } catch {
    // Storage disabled (private mode): stable for this page's life at least.
    memoryId ??= `web-${randomId()}`;
    return memoryId;
  }
}

// Shared pieces of the end-to-end run: browser launch, the ICE init script, console capture.

import { execSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

export const BASE_URL = (process.env.CHATTER_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const RESTART_CMD = process.env.CHATTER_RESTART_CMD ?? '';
export const OUTPUT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-output');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

mkdirSync(OUTPUT_DIR, { recursive: true });

export const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // calls: fake camera and microphone, granted without a prompt; loopback ICE allowed
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  // screen sharing: pick the whole (virtual) screen without a picker
  '--auto-select-desktop-capture-source=Entire screen',
  '--autoplay-policy=no-user-gesture-required',
];

// ---- network isolation ---------------------------------------------------------------------
//
// Chromium offers host candidates on every interface, and a check from another interface's
// address (192.0.2.2 here) to a 127.0.0.1 candidate succeeds too, so dropping candidates alone
// cannot guarantee a 127.0.0.1 pair. When it can (root, `unshare`, a loopback CHATTER_URL), the
// browser runs in a private network namespace that has only `lo`; its HTTP and WebSocket
// traffic to CHATTER_URL goes through a unix-socket bridge. Set CHATTER_E2E_NETNS=0 to opt out.

const FORWARDER = `
import { createServer, connect } from 'node:net';
const [host, port, path] = process.argv.slice(2);
createServer((client) => {
  const upstream = connect(path);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}).listen(Number(port), host);
`;

let isolation: { dir: string; bridge: Server } | null = null;

function startIsolation(): string | null {
  if (process.env.CHATTER_E2E_NETNS === '0') return null;
  const url = new URL(BASE_URL);
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) {
    console.log(`NOTICE: ${BASE_URL} is not on loopback; browsers share the host network (ICE candidates filtered only).`);
    return null;
  }
  if (spawnSync('unshare', ['--net', '--fork', 'true']).status !== 0) {
    console.log('NOTICE: cannot create a network namespace here; browsers share the host network (ICE candidates filtered only).');
    return null;
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const dir = mkdtempSync(join(tmpdir(), 'chatter-e2e-ns-'));
  const socket = join(dir, 'bridge.sock');
  const bridge = createServer((client) => {
    const upstream = connect(Number(port), '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }).listen(socket);
  writeFileSync(join(dir, 'forward.mjs'), FORWARDER);
  const wrapper = join(dir, 'chromium-netns.sh');
  writeFileSync(
    wrapper,
    `#!/bin/bash
# Chromium in a network namespace with only loopback; CHATTER_URL's port is bridged in.
exec unshare --net --fork -- /bin/bash -c '
  ip link set lo up
  ${JSON.stringify(process.execPath)} ${JSON.stringify(join(dir, 'forward.mjs'))} 127.0.0.1 ${port} ${JSON.stringify(socket)} 3>&- 4>&- &
  forwarder=$!
  for _ in $(seq 1 100); do (exec 9<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.05; done
  ${JSON.stringify(CHROMIUM)} "$@"
  status=$?
  kill $forwarder 2>/dev/null
  exit $status
' chromium-netns "$@"
`,
  );
  chmodSync(wrapper, 0o755);
  isolation = { dir, bridge };
  console.log('browsers run in a private network namespace (loopback only), bridged to ' + BASE_URL);
  return wrapper;
}

export async function launch(): Promise<Browser> {
  const executablePath = startIsolation() ?? CHROMIUM;
  return chromium.launch({ executablePath, args: LAUNCH_ARGS });
}

export function stopIsolation(): void {
  if (!isolation) return;
  isolation.bridge.close();
  rmSync(isolation.dir, { recursive: true, force: true });
  isolation = null;
}

/**
 * Keeps WebRTC media on 127.0.0.1: every ICE candidate not on 127.0.0.1 is dropped, local
 * and remote, and every RTCPeerConnection is recorded in window.__pcs for getStats.
 */
export const ICE_LOOPBACK_ONLY = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__pcs = [];
  const address = (text) => (typeof text === 'string' ? text.replace(/^a=/, '').split(' ')[4] : undefined);
  const keep = (c) => {
    const text = typeof c === 'string' ? c : c && c.candidate;
    if (!text) return true; // end-of-candidates
    return address(text) === '127.0.0.1';
  };
  const stripSdp = (desc) => {
    if (!desc || !desc.sdp) return desc;
    const sdp = desc.sdp.split('\\r\\n').filter((line) => !line.startsWith('a=candidate:') || keep(line)).join('\\r\\n');
    return { type: desc.type, sdp };
  };
  class LoopbackOnly extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
    addIceCandidate(candidate, ...rest) {
      if (candidate && candidate.candidate && !keep(candidate)) return Promise.resolve();
      return super.addIceCandidate(candidate, ...rest);
    }
    setRemoteDescription(desc, ...rest) {
      return super.setRemoteDescription(stripSdp(desc), ...rest);
    }
    set onicecandidate(handler) {
      super.onicecandidate = handler
        ? (event) => {
            if (event.candidate && event.candidate.candidate && !keep(event.candidate)) return;
            handler.call(this, event);
          }
        : null;
    }
    get onicecandidate() {
      return super.onicecandidate;
    }
  }
  window.RTCPeerConnection = LoopbackOnly;
})();`;

export interface ConsoleEntry {
  who: string;
  type: string;
  text: string;
  url: string;
  at: number;
}

export const consoleErrors: ConsoleEntry[] = [];

/** Times during which connection errors are expected (the server is restarting). */
export const expectedOutages: { from: number; to: number }[] = [];

export function watchConsole(page: Page, who: string): void {
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    consoleErrors.push({ who, type: msg.type(), text: msg.text(), url: msg.location().url ?? '', at: Date.now() });
  });
  page.on('pageerror', (error) => {
    consoleErrors.push({ who, type: 'pageerror', text: error.message, url: '', at: Date.now() });
  });
}

/** Console errors that are not explained by the test itself. */
export function unexpectedConsoleErrors(): ConsoleEntry[] {
  return consoleErrors.filter((e) => {
    // The server has no /rtc/ice-servers yet: the client falls back to no ICE servers (404 logged by the browser).
    if (e.url.includes('/rtc/ice-servers') || e.text.includes('/rtc/ice-servers')) return false;
    // Older servers have no security notices: the sessions view shows none (404 logged by the browser).
    if (e.url.includes('/auth/security-notices') && e.text.includes('404')) return false;
    // While the server restarts, the browser logs the failed WebSocket and proxy errors.
    if (expectedOutages.some((o) => e.at >= o.from && e.at <= o.to + 2_000)) return false;
    return true;
  });
}

export async function newUser(browser: Browser, who: string, options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {}) {
  const context: BrowserContext = await browser.newContext({
    baseURL: BASE_URL,
    viewport: options.viewport ?? { width: 1280, height: 800 },
    colorScheme: options.colorScheme ?? 'light',
    permissions: ['camera', 'microphone'],
  });
  await context.addInitScript(ICE_LOOPBACK_ONLY);
  const page = await context.newPage();
  watchConsole(page, who);
  return { context, page };
}

export const PASSWORD = 'e2e-Passw0rd-long';

/** Signs a new account up in the page and waits for the signed-in home screen. */
export async function register(page: Page, user: { username: string; display: string }): Promise<void> {
  await page.goto('/register');
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel(/Display name/).fill(user.display);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Welcome to Chatter' }).waitFor();
}

export function shot(name: string): string {
  return join(OUTPUT_DIR, `${name}.png`);
}

export async function api<T>(path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${BASE_URL}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      'X-Device-ID': 'e2e-node',
    },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export async function waitForServer(timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const response = await fetch(`${BASE_URL}/api/v1/stats`);
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the server at ${BASE_URL} did not answer within ${timeoutMs} ms (${last})`);
}

export function restartServer(): void {
  execSync(RESTART_CMD, { stdio: 'inherit', shell: '/bin/bash', timeout: 60_000 });
}

export async function poll<T>(fn: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 15_000, everyMs = 200): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

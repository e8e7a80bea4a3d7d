import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The Chatter server (REST under /api, WebSocket at /ws). `npm run dev` and `npm run preview`
// proxy both to it, so the app is always same-origin with its API, as when the binary serves it.
const target = process.env.CHATTER_API ?? 'http://localhost:8080';

const proxy = {
  '/api': { target, changeOrigin: true },
  // The server checks the Origin of WebSocket upgrades against its allowed origins; the dev
  // proxy presents the server's own origin so any dev host (localhost, 127.0.0.1) works.
  '/ws': { target, ws: true, changeOrigin: true, headers: { origin: new URL(target).origin } },
};

export default defineConfig({
  plugins: [react()],
  server: { port: 5173, strictPort: true, proxy },
  preview: { port: 5173, strictPort: true, proxy },
  build: { outDir: 'dist', sourcemap: true, target: 'es2022' },
  test: {
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'node',
  },
});

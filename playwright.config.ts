// Browser tests: real Chromium tabs as volunteers against the real server, started in-process by
// each spec (buildApp on port 0, serving dist/web-test, the test build), so there is no webServer
// block here. `npm run test:browser` builds it first (`vite build --mode test`). The system Chromium is used; nothing is downloaded.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'test/browser',
  testMatch: '**/*.spec.ts',
  workers: 1,
  fullyParallel: false,
  timeout: 300_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    headless: true,
    actionTimeout: 30_000,
    navigationTimeout: 60_000,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-unsafe-webgpu'],
    },
  },
});

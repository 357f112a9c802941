// Headless Chromium for the browser tests: Debian's `chromium` driven by playwright-core (Playwright's own
// browser download does not work offline). .ci/run installs the package; without it the tests skip.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
export const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/browser');

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export interface Chromium {
  browser: Browser;
  newPage(viewport?: { width: number; height: number }, mobile?: boolean, credentials?: { username: string; password: string }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Chromium> {
  mkdirSync(ARTIFACTS, { recursive: true });
  // a fresh profile each run: no cache, no leftovers from another run
  const profile = mkdtempSync(path.join(os.tmpdir(), 'md-chromium-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--disk-cache-dir=${profile}/cache`],
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async newPage(viewport = DESKTOP, mobile = false, credentials?: { username: string; password: string }) {
      const ctx = await browser.newContext({ viewport, isMobile: mobile, hasTouch: mobile, deviceScaleFactor: 1, locale: 'en-GB', timezoneId: 'Europe/Berlin', ...(credentials ? { httpCredentials: credentials } : {}) });
      contexts.push(ctx);
      return ctx.newPage();
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

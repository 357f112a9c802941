// The dashboard's lists a person acts on, in a real browser (headless Chromium): the suppressed recipients (filtered,
// and lifted with a button) and the webhook events that failed (retried one by one or all at once), against an app
// whose webhook receiver is down until the test brings one up.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Page } from 'playwright-core';
import { formatSecret } from '../../src/core/signature';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';
import { CHROMIUM, chromiumAvailable, launchChromium, screenshot, type Chromium } from './browser';

/** A port nothing listens on until `listen()`: the receiver is down, then up. */
class LateReceiver {
  readonly received: string[] = [];
  private server: Server | null = null;
  port = 0;

  async reserve(): Promise<this> {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    this.port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    return this;
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      this.received.push(String(req.headers['webhook-id']));
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
  }

  async stop(): Promise<void> {
    if (this.server) await new Promise((r) => this.server!.close(r));
  }
}

if (!chromiumAvailable) {
  describe('the dashboard\'s lists in a browser', () => {
    test.skip(`skipped: no Chromium at ${CHROMIUM} (bash .ci/run installs Debian's chromium when run as root; or set CHROMIUM_PATH)`, () => undefined);
  });
} else {
  describe('the dashboard\'s lists in a browser', () => {
    let f: Fixture;
    let chrome: Chromium;
    const receiver = new LateReceiver();

    beforeAll(async () => {
      await receiver.reserve();
      f = await startFixture({ env: { DEV_FAULTS: 'true', WEBHOOK_URL: `http://127.0.0.1:${receiver.port}/hooks`, WEBHOOK_SECRET: formatSecret(randomBytes(32)), MAX_TRIES: '2' } });
      chrome = await launchChromium();
    });

    afterAll(async () => {
      await chrome?.close();
      await f?.stop();
      await receiver.stop();
    });

    const open = async (): Promise<Page> => {
      const page = await chrome.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      (page as unknown as { errors: string[] }).errors = errors;
      await page.goto(`${f.app.url}/dashboard`);
      await page.locator('#live[data-state="live"]').waitFor({ timeout: 10_000 });
      return page;
    };
    const errorsOf = (page: Page) => (page as unknown as { errors: string[] }).errors;
    const bounce = async (to: string) => {
      const res = await request(f.app.url).post('/mail/send').set('x-dev-fault', 'smtp-unknown').send({ subject: 'Unknown', content: 'c', tos: [to] });
      await waitFor('dead', async () => (await rowOf(f.db.pool, res.body.msgId))?.status === Status.dead);
      return res.body.msgId as string;
    };

    test('the suppressed recipients are listed with their refusal and mail, filtered by the start of the address, and lifted with a button', async () => {
      const msgId = await bounce('gone.browser@example.com');
      await bounce('other.browser@example.com');
      const page = await open();
      const row = page.locator('#sup-list tr[data-address="gone.browser@example.com"]');
      await row.waitFor({ timeout: 15_000 });
      expect(await row.innerText()).toContain('550 5.1.1');
      expect(await row.getByRole('button', { name: `Open mail ${msgId}` }).count()).toBe(1);
      await page.getByLabel('Address starts with').fill('gone.');
      await page.locator('#sup-filter').getByRole('button', { name: 'Filter' }).click();
      await page.locator('#sup-list tr[data-address="other.browser@example.com"]').waitFor({ state: 'detached' });
      await screenshot(page, 'desktop-suppressions');
      await row.getByRole('button', { name: 'Lift the suppression of gone.browser@example.com' }).click();
      await page.locator('#sup-result', { hasText: 'Lifted' }).waitFor();
      await row.waitFor({ state: 'detached' });
      expect((await request(f.app.url).get('/suppressions/gone.browser@example.com')).status).toBe(404);
      expect((await request(f.app.url).get('/suppressions/other.browser@example.com')).status).toBe(200);
      expect(errorsOf(page)).toEqual([]);
    });

    test('webhook events that failed while the receiver was down are listed, retried one from its row and the rest all at once, and then delivered', async () => {
      // only this test's events (the bounces above made some too)
      await waitFor('no event pending', async () => (await request(f.app.url).get('/webhooks/events?state=pending')).body.counts.pending === 0, 20_000);
      await f.db.pool.query('DELETE FROM webhook_event');
      const sent = await Promise.all(['w1@example.com', 'w2@example.com', 'w3@example.com'].map((to) => request(f.app.url).post('/mail/send').send({ subject: 'Hook', content: 'c', tos: [to] })));
      const ids = sent.map((r) => r.body.msgId as string);
      const failedCount = async () => (await request(f.app.url).get('/webhooks/events?state=failed')).body.counts.failed as number;
      await waitFor('three failed events', async () => (await failedCount()) >= 3, 20_000);
      const page = await open();
      await page.locator('#webhooks').waitFor();
      await page.locator('#wh-failed', { hasText: '3' }).waitFor({ timeout: 10_000 });
      const first = page.locator('#wh-list tbody tr').filter({ hasText: ids[0]! });
      await first.waitFor();
      expect(await first.innerText()).toMatch(/delivered[\s\S]*w1@example\.com[\s\S]*could not reach the receiver/);
      await screenshot(page, 'desktop-webhooks-failed');
      await receiver.listen();
      await first.getByRole('button', { name: 'Retry the delivered event of w1@example.com' }).click();
      await page.locator('#wh-result', { hasText: 'pending again' }).waitFor();
      await waitFor('the retried event delivered', () => receiver.received.length >= 1);
      await page.getByRole('button', { name: 'Retry all failed' }).click();
      await page.locator('#wh-result', { hasText: 'Retried 2 failed events' }).waitFor();
      await waitFor('every event delivered', () => receiver.received.length >= 3);
      await page.locator('#wh-failed', { hasText: '0' }).waitFor({ timeout: 10_000 });
      expect(new Set(receiver.received).size).toBe(3);
      expect(errorsOf(page)).toEqual([]);
    });
  });
}

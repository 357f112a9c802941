// The dashboard in a real browser (headless Chromium), used as a person would: send from the form and watch the
// row turn consumed; make a mail dead and retry it from the page; bulk retry with its dry run; keyboard and
// labels; desktop and phone widths; behind API keys, a form that a page of another origin posts to the app retries
// nothing. Screenshots go to test-artifacts/browser/.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Page } from 'playwright-core';
import { encodeMailMessage } from '../../src/core/mail-message';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { insertRows } from '../support/seed-rows';
import { rowOf } from '../support/services';
import { KEY_A, SECURED } from '../support/security';
import { waitFor } from '../support/wait';
import { CHROMIUM, PHONE, chromiumAvailable, launchChromium, screenshot, type Chromium } from './browser';

if (!chromiumAvailable) {
  describe('the dashboard in a browser', () => {
    test.skip(`skipped: no Chromium at ${CHROMIUM} (bash .ci/run installs Debian's chromium when run as root; or set CHROMIUM_PATH)`, () => undefined);
  });
} else {
  describe('the dashboard in a browser', () => {
    let f: Fixture;
    let db: Fixture['db'];
    let sink: Fixture['sink'];
    let app: Fixture['app'];
    let chrome: Chromium;

    beforeAll(async () => {
      f = await startFixture({ env: { DEV_FAULTS: 'true' } });
      ({ db, sink, app } = f);
      chrome = await launchChromium();
    });

    afterAll(async () => {
      await chrome?.close();
      await f?.stop();
    });

    beforeEach(() => {
      sink.mode = 'accept';
    });

    const open = async (viewport?: { width: number; height: number }, mobile = false): Promise<Page> => {
      const page = await chrome.newPage(viewport, mobile);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      (page as unknown as { errors: string[] }).errors = errors;
      await page.goto(`${app.url}/dashboard`);
      await page.locator('#live[data-state="live"]').waitFor({ timeout: 10_000 });
      return page;
    };
    const errorsOf = (page: Page) => (page as unknown as { errors: string[] }).errors;

    const sendFromForm = async (page: Page, to: string, fault = ''): Promise<string> => {
      await page.getByLabel('To', { exact: true }).fill(to);
      await page.getByLabel('Subject').fill(`Browser test to ${to}`);
      if (fault) await page.locator('#send-fault').selectOption(fault);
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      const link = page.locator('#send-result button[data-msg-id]');
      await link.waitFor({ timeout: 10_000 });
      return (await link.getAttribute('data-msg-id'))!;
    };
    const row = (page: Page, msgId: string) => page.locator(`#mails tr[data-msg-id="${msgId}"]`);

    test('a mail sent from the form appears in the list and turns consumed, live, with its timeline', async () => {
      const page = await open();
      const msgId = await sendFromForm(page, 'browser@example.com');
      await row(page, msgId).waitFor({ timeout: 10_000 });
      await page.locator(`#mails tr[data-msg-id="${msgId}"][data-status="consumed"]`).waitFor({ timeout: 20_000 });
      expect(await row(page, msgId).locator('td.status').innerText()).toBe('consumed');
      expect((await rowOf(db.pool, msgId))?.status).toBe(Status.consumed);
      await page.locator('[data-count="consumed"]').filter({ hasNotText: /^[–0]$/ }).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(300);
      await screenshot(page, 'desktop-consumed');

      await row(page, msgId).getByRole('button').click();
      const dialog = page.getByRole('dialog', { name: `Mail ${msgId}` });
      await dialog.locator('.timeline li.k-consumed').waitFor();
      expect(await dialog.locator('#detail-why').innerText()).toMatch(/^Consumed: the SMTP server accepted it at \d\d:\d\d:\d\d/);
      const labels = await dialog.locator('.timeline .label').allInnerTexts();
      expect(labels[0]).toMatch(/^Accepted/);
      expect(labels).toContain('Accepted by the SMTP server');
      expect(await dialog.locator('.timeline').innerText()).toMatch(/confirm \d+ ms/);
      expect(await dialog.locator('.timeline').innerText()).toMatch(/SMTP \d+ ms/);
      await screenshot(page, 'desktop-timeline');
      await page.keyboard.press('Escape');
      await expect(dialog.isVisible()).resolves.toBe(false);
      expect(errorsOf(page)).toEqual([]);
    });

    test('a dead mail is explained, retried from the page, and turns consumed', async () => {
      const page = await open();
      sink.mode = 'permfail';
      const msgId = await sendFromForm(page, 'refused@example.com');
      await page.locator(`#mails tr[data-msg-id="${msgId}"][data-status="dead"]`).waitFor({ timeout: 20_000 });
      expect(await row(page, msgId).locator('.why').innerText()).toMatch(/^Dead: SMTP answered 550 5\.7\.1 at \d\d:\d\d:\d\d, a permanent failure/);
      await row(page, msgId).getByRole('button').click();
      const dialog = page.getByRole('dialog', { name: `Mail ${msgId}` });
      const retry = dialog.getByRole('button', { name: 'Retry this mail' });
      await retry.waitFor();
      await screenshot(page, 'desktop-dead');
      sink.mode = 'accept';
      await retry.click();
      await dialog.locator('#detail-result', { hasText: 'Retried' }).waitFor();
      await page.locator('#detail[data-status="consumed"]').waitFor({ timeout: 20_000 });
      expect(await dialog.locator('.timeline .label').allInnerTexts()).toEqual(expect.arrayContaining(['Dead: no more automatic tries', 'Retried by a person', 'Accepted by the SMTP server']));
      await screenshot(page, 'desktop-retried');
      await page.keyboard.press('Escape');
      await page.locator(`#mails tr[data-msg-id="${msgId}"][data-status="consumed"]`).waitFor({ timeout: 10_000 });
      expect((await rowOf(db.pool, msgId))?.status).toBe(Status.consumed);
      expect(sink.countFor(msgId)).toBe(1);
      expect(errorsOf(page)).toEqual([]);
    });

    test('bulk retry counts first with a dry run, then retries the dead mails that match', async () => {
      sink.mode = 'permfail';
      const ids: string[] = [];
      for (const to of ['one@bulk-page.example.com', 'two@bulk-page.example.com']) {
        const res = await request(app.url).post('/mail/send').send({ subject: 'bulk', content: 'c', tos: to });
        ids.push(res.body.msgId as string);
      }
      for (const id of ids) await waitFor('dead', async () => (await rowOf(db.pool, id))?.status === Status.dead);
      sink.mode = 'accept';
      const page = await open();
      await page.getByLabel(/Only dead mails whose msgId starts with/).fill('bulk-page.example.com');
      await page.getByRole('button', { name: 'Count (dry run)' }).click();
      await page.locator('#bulk-result', { hasText: '2 dead mails match.' }).waitFor();
      expect((await rowOf(db.pool, ids[0]!))?.status).toBe(Status.dead);
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Retry 2 dead mails' }).click();
      await page.locator('#bulk-result', { hasText: 'Retried 2.' }).waitFor();
      for (const id of ids) await waitFor('consumed', async () => (await rowOf(db.pool, id))?.status === Status.consumed);
      await page.getByRole('button', { name: /dead$/ }).first().click(); // the dead card filters the list
      await page.locator('#list-status', { hasText: 'dead mails' }).waitFor();
      await screenshot(page, 'desktop-bulk');
      expect(errorsOf(page)).toEqual([]);
    });

    test('the page works from the keyboard, every control has a label, and it fits a phone', async () => {
      const page = await open();
      // every form control has an accessible label
      // (page scripts are strings: this project compiles without the DOM types)
      const unlabelled = await page.evaluate(
        "Array.from(document.querySelectorAll('input, select, textarea')).filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.id)",
      );
      expect(unlabelled).toEqual([]);
      // the first Tab reaches the skip link, and it leads to the mails
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement && document.activeElement.textContent')).toBe('Skip to the mails');
      await page.keyboard.press('Enter');
      expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('mails-h');
      // a row opens from the keyboard and Escape gives focus back
      const first = page.locator('#mails tbody tr[data-msg-id] button').first();
      await first.focus();
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').locator('.timeline li').first().waitFor();
      await page.keyboard.press('Escape');
      expect(await page.evaluate("!!(document.activeElement && document.activeElement.closest('tr[data-msg-id]'))")).toBe(true);
      await screenshot(page, 'desktop-overview');

      const phone = await open(PHONE, true);
      const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(phone, 'phone-overview');
      await phone.locator('#mails tbody tr[data-msg-id] button').first().click();
      await phone.getByRole('dialog').locator('.timeline li').first().waitFor();
      await screenshot(phone, 'phone-timeline');
      expect(errorsOf(page)).toEqual([]);
      expect(errorsOf(phone)).toEqual([]);
    });

    test('the API docs page renders every operation from /openapi.json', async () => {
      const page = await chrome.newPage();
      await page.goto(`${app.url}/docs`);
      await page.locator('.op').first().waitFor();
      const spec = (await request(app.url).get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
      const operations = Object.values(spec.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
      expect(await page.locator('.op').count()).toBe(operations);
      expect(await page.locator('#toc li').count()).toBe(operations);
      await screenshot(page, 'desktop-docs');
    });
  });
}

if (chromiumAvailable) {
  describe('the dashboard behind API keys, in a browser', () => {
    let f: Fixture;
    let chrome: Chromium;

    beforeAll(async () => {
      f = await startFixture({ env: SECURED, roles: 'api,listener,job' });
      chrome = await launchChromium();
    });

    afterAll(async () => {
      await chrome?.close();
      await f?.stop();
    });

    test('without the key the page is refused; with the key as the password the browser sends, it runs live', async () => {
      // Headless Chromium cannot show the credentials prompt the Basic challenge asks for, so it gives up on the page.
      const anonymous = await chrome.newPage();
      await expect(anonymous.goto(`${f.app.url}/dashboard`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      const page = await chrome.newPage(undefined, false, { username: 'operator', password: KEY_A });
      await page.goto(`${f.app.url}/dashboard`);
      await page.locator('#live[data-state="live"]').waitFor({ timeout: 10_000 });
      const sent = await request(f.app.url).post('/mail/send').set('authorization', `Bearer ${KEY_A}`).send({ subject: 'behind keys', content: 'c', tos: 'keys@example.com' });
      expect(sent.status).toBe(202);
      await page.locator(`#mails tr[data-msg-id="${sent.body.msgId}"][data-status="consumed"]`).waitFor({ timeout: 20_000 });
      await screenshot(page, 'desktop-behind-keys');
    });

    test('a page of another origin that auto-submits a form to POST /mail/:msgId/retry, with the key in the browser, retries nothing', async () => {
      // a dead mail, as the table holds one that ran out of tries
      const msgId = String(Date.now() * 1000);
      await insertRows(f.db.pool, f.topology, [{ msgId, msg: encodeMailMessage({ msgId, subject: 'dead', content: 'c', tos: ['csrf@example.com'] }) }], { status: Status.dead, tryCount: 3, dueInMs: 3_600_000 });
      const target = `${f.app.url}/mail/${msgId}/retry`;
      // the other site: a page on another port (another origin) whose form posts itself to the app once it loads
      const other = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><title>You won</title><form method="post" action="${target}"><input type="hidden" name="confirm" value="1"></form><script>document.forms[0].submit()</script>`);
      });
      other.listen(0, '127.0.0.1');
      await once(other, 'listening');
      const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      try {
        // the person has the dashboard open: the browser holds the key as Basic credentials
        const page = await chrome.newPage(undefined, false, { username: 'operator', password: KEY_A });
        await page.goto(`${f.app.url}/dashboard`);
        await page.locator('#live[data-state="live"]').waitFor({ timeout: 10_000 });
        // then visits the other site
        const answered = page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST', { timeout: 15_000 });
        await page.goto(`${otherOrigin}/`, { waitUntil: 'commit' }); // its form leaves as the page is parsed
        const res = await answered;
        expect(await res.request().headerValue('origin')).toBe(otherOrigin);
        // 403, not 401: the browser did send the key, and the post was refused for where it came from
        expect(res.status()).toBe(403);
        expect(JSON.parse(await res.text())).toMatchObject({ code: 'CROSS_SITE_REQUEST', detail: expect.stringContaining(otherOrigin) });
        expect(await rowOf(f.db.pool, msgId)).toMatchObject({ status: Status.dead, try_count: 3 });
        // the dashboard itself, same browser and key, still retries it
        await page.goto(`${f.app.url}/dashboard`);
        await page.locator('#live[data-state="live"]').waitFor({ timeout: 10_000 });
        expect(await page.evaluate(`fetch('/mail/${msgId}/retry', { method: 'POST' }).then((r) => r.status)`)).toBe(202);
        expect((await rowOf(f.db.pool, msgId))?.status).not.toBe(Status.dead);
      } finally {
        other.closeAllConnections();
        other.close();
      }
    });
  });
}

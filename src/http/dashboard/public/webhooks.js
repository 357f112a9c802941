// mail-dispatch dashboard: the Webhooks panel, shown when the app delivers webhooks (WEBHOOK_URL; /api/info says so).
// The events not delivered yet: pending and failed counts, and the failed ones with a retry button each
// (GET /webhooks/events?state=failed, POST /webhooks/events/:id/retry). Uses app.js's API calls (window.mailDashboard).
'use strict';
(function () {
  const D = window.mailDashboard;
  if (!D) return;
  const { $, nf } = D;
  const TYPE_LABEL = { delivered: 'delivered', deferred: 'deferred', bounced: 'bounced', suppressed: 'suppressed', dead: 'dead' };
  const EVERY_MS = 5000;
  let timer = null;
  let busy = false;

  async function load() {
    if (busy) return;
    busy = true;
    try {
      const r = await D.api('/webhooks/events?state=failed&limit=50');
      render(r);
    } catch (err) {
      $('#wh-status').textContent = 'Could not load the webhook events: ' + err.message;
    } finally {
      busy = false;
    }
  }

  function render(r) {
    $('#wh-pending').textContent = nf.format(r.counts.pending);
    const failed = $('#wh-failed');
    failed.textContent = nf.format(r.counts.failed);
    failed.classList.toggle('warn', r.counts.failed > 0);
    $('#wh-retry-all').disabled = r.counts.failed === 0;
    const rows = r.events.map((e) => D.el('tr', { 'data-event-id': e.id }, [
      D.el('td', { className: 'msgid' }, D.el('button', { type: 'button', className: 'link', 'aria-label': 'Open mail ' + e.msgId, text: e.msgId, onclick: (ev) => D.openDetail(e.msgId, ev.currentTarget) })),
      D.el('td', { 'data-label': 'Event', text: TYPE_LABEL[e.type] || e.type }),
      D.el('td', { className: 'tos', 'data-label': 'Recipient', text: e.recipient }),
      D.el('td', { className: 'try', 'data-label': 'Tries', text: e.tries }),
      D.el('td', { 'data-label': 'Last error' }, [D.el('span', { className: 'err', text: e.lastError || '–' }), D.el('span', { className: 'why', text: 'failed at ' + D.when(e.updateTime) })]),
      D.el('td', {}, D.el('button', { type: 'button', className: 'secondary', 'aria-label': 'Retry the ' + (TYPE_LABEL[e.type] || e.type) + ' event of ' + e.recipient, text: 'Retry', onclick: (ev) => retry(e, ev.currentTarget) })),
    ]));
    if (!rows.length) rows.push(D.el('tr', {}, D.el('td', { colspan: 6, className: 'empty', text: 'No failed webhook event.' })));
    $('#wh-list tbody').replaceChildren(...rows);
    $('#wh-status').textContent = r.events.length ? r.events.length + ' failed event' + (r.events.length === 1 ? '' : 's') + ' shown, most recent first. Receivers get each again with the same webhook-id.' : '';
  }

  async function retry(e, button) {
    button.disabled = true;
    try {
      await D.api('/webhooks/events/' + encodeURIComponent(e.id) + '/retry', { method: 'POST' });
      D.setResult($('#wh-result'), 'Retried: the ' + (TYPE_LABEL[e.type] || e.type) + ' event of ' + e.recipient + ' is pending again.', 'ok');
      await load();
    } catch (err) {
      D.setResult($('#wh-result'), 'Not retried: ' + err.message, 'error');
      button.disabled = false;
    }
  }

  async function retryAll(button) {
    button.disabled = true;
    try {
      const r = await D.api('/webhooks/events/retry', { method: 'POST' });
      D.setResult($('#wh-result'), 'Retried ' + nf.format(r.retried) + ' failed event' + (r.retried === 1 ? '' : 's') + (r.left ? '; ' + nf.format(r.left) + ' still failed: retry again once these are through.' : '.'), 'ok');
    } catch (err) {
      D.setResult($('#wh-result'), 'Not retried: ' + err.message, 'error');
    }
    await load();
  }

  function start(info) {
    if (!info || !info.webhooks || timer) return;
    $('#webhooks').hidden = false;
    $('#wh-retry-all').addEventListener('click', (ev) => retryAll(ev.currentTarget));
    load();
    timer = setInterval(() => { if (document.visibilityState === 'visible') load(); }, EVERY_MS);
  }

  if (D.info) start(D.info);
  else document.addEventListener('dashboard:info', (ev) => start(ev.detail), { once: true });
})();

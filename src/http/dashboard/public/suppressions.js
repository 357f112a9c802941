// mail-dispatch dashboard: the Suppressed recipients panel. Addresses refused for good as unknown are not sent to
// again; this lists them (GET /suppressions, filtered by the start of the address) with the refusal and the mail that
// caused it, and lifts one with a button (DELETE /suppressions/:address). Uses app.js's API calls (window.mailDashboard).
'use strict';
(function () {
  const D = window.mailDashboard;
  if (!D) return;
  const { $, nf } = D;
  const EVERY_MS = 10000;
  const PAGE = 50;
  let busy = false;

  const reasonOf = (r) => (r ? (r.code ? r.code + (r.enhanced ? ' ' + r.enhanced : '') : r.kind) + (r.detail ? ': ' + r.detail : '') : '–');

  async function load() {
    if (busy) return;
    busy = true;
    try {
      const prefix = $('#sup-prefix').value.trim();
      render(await D.api('/suppressions?limit=' + PAGE + (prefix ? '&prefix=' + encodeURIComponent(prefix) : '')));
    } catch (err) {
      $('#sup-status').textContent = 'Could not load the suppression list: ' + err.message;
    } finally {
      busy = false;
    }
  }

  function render(r) {
    $('#sup-total').textContent = nf.format(r.total);
    const rows = r.suppressions.map((s) => D.el('tr', { 'data-address': s.address }, [
      D.el('td', { className: 'tos', 'data-label': 'Address', text: s.address }),
      D.el('td', { 'data-label': 'Refusal' }, D.el('span', { className: 'err', text: reasonOf(s.reason) })),
      D.el('td', { 'data-label': 'Since', text: D.when(s.since) }),
      D.el('td', { className: 'msgid', 'data-label': 'Mail' }, s.msgId ? D.el('button', { type: 'button', className: 'link', 'aria-label': 'Open mail ' + s.msgId, text: s.msgId, onclick: (ev) => D.openDetail(s.msgId, ev.currentTarget) }) : '–'),
      D.el('td', {}, D.el('button', { type: 'button', className: 'secondary', 'aria-label': 'Lift the suppression of ' + s.address, text: 'Lift', onclick: (ev) => lift(s.address, ev.currentTarget) })),
    ]));
    if (!rows.length) rows.push(D.el('tr', {}, D.el('td', { colspan: 5, className: 'empty', text: 'No suppressed recipient.' })));
    $('#sup-list tbody').replaceChildren(...rows);
    $('#sup-status').textContent = r.next ? 'The first ' + r.suppressions.length + ' in address order; narrow them by the start of the address.' : '';
  }

  async function lift(address, button) {
    button.disabled = true;
    try {
      await D.api('/suppressions/' + encodeURIComponent(address), { method: 'DELETE' });
      D.setResult($('#sup-result'), 'Lifted: the next mail to ' + address + ' is sent.', 'ok');
      await load();
    } catch (err) {
      D.setResult($('#sup-result'), 'Not lifted: ' + err.message, 'error');
      button.disabled = false;
    }
  }

  $('#sup-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });
  load();
  setInterval(() => { if (document.visibilityState === 'visible') load(); }, EVERY_MS);
})();

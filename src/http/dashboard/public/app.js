// mail-dispatch dashboard: plain JS, no dependencies. Live numbers come from /api/events (server-sent events,
// read with fetch so an API key header can be sent), rows from /api/mails, one mail from /api/mails/:msgId.
'use strict';
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const tz = (() => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; } })();
  const PAGE = 20;
  const STATUS_LABEL = { sending: 'sending', delivered: 'delivered', delivery_failed: 'delivery failed', consumed: 'consumed', consume_failed: 'consume failed', dead: 'dead', prepared: 'prepared', cancelled: 'cancelled', scheduled: 'scheduled' };
  // Not sent yet, or never: a prepared mail (two-phase sending; its tries count check-backs that decided nothing), a
  // scheduled one (sent at its sendAt), a cancelled one. Their steps are no SMTP tries.
  const UNSENT = ['prepared', 'cancelled', 'scheduled'];
  const UNSENT_STEPS = ['prepared', 'committed', 'cancelled', 'check_back', 'scheduled'];
  function tryText(m) {
    if (UNSENT.includes(m.status)) return m.tryCount ? m.tryCount + ' check-back' + (m.tryCount === 1 ? '' : 's') : '–';
    return (m.status === 'dead' ? m.tryCount : Math.min(m.tryCount + 1, m.maxTries)) + ' / ' + m.maxTries;
  }

  const state = {
    status: 'all',
    q: '',
    before: null,
    history: [], // cursors of the newer pages
    info: null,
    lastCounts: '',
    openMsgId: null,
    opener: null,
    bulkCount: null,
    fresh: new Set(),
  };

  // ---- API --------------------------------------------------------------------------------------------------
  const KEY = 'mail-dispatch.apiKey';
  const apiKey = () => sessionStorage.getItem(KEY) || '';

  function headers(extra) {
    const h = Object.assign({ accept: 'application/json' }, extra || {});
    const key = apiKey();
    if (key) { h['x-api-key'] = key; h.authorization = 'Bearer ' + key; }
    return h;
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path, opts) {
    opts = opts || {};
    const init = { method: opts.method || 'GET', headers: headers(opts.headers) };
    if (opts.body !== undefined) { init.body = JSON.stringify(opts.body); init.headers['content-type'] = 'application/json'; }
    const res = await fetch(path, init);
    const type = res.headers.get('content-type') || '';
    const body = type.includes('json') ? await res.json().catch(() => null) : null;
    if (res.status === 401) askForKey('This app needs an API key for that.');
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }

  // ---- formatting ---------------------------------------------------------------------------------------------
  const nf = new Intl.NumberFormat();
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const dateTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  function when(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    return new Date().toDateString() === d.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
  }
  function preciseTime(iso) {
    const d = new Date(iso);
    return timeFmt.format(d) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }
  function age(seconds) {
    if (seconds < 1) return 'under a second';
    if (seconds < 60) return Math.round(seconds) + ' s';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ' + Math.round(seconds % 60) + ' s';
    if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ' + Math.round((seconds % 3600) / 60) + ' min';
    return Math.floor(seconds / 86400) + ' d ' + Math.round((seconds % 86400) / 3600) + ' h';
  }
  const ms = (v) => (v === null || v === undefined ? null : v < 1000 ? Math.round(v) + ' ms' : (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s');

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'className') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of [].concat(children || [])) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  const badge = (status) => el('span', { className: 'badge s-' + status, text: STATUS_LABEL[status] || status });

  function setResult(node, text, kind) {
    node.textContent = text;
    node.className = 'result' + (kind ? ' ' + kind : '');
  }

  // ---- live stats ---------------------------------------------------------------------------------------------
  const live = $('#live');
  function setLive(stateName, text) {
    live.dataset.state = stateName;
    live.textContent = text;
  }

  async function streamEvents() {
    let delay = 1000;
    for (;;) {
      try {
        const res = await fetch('/api/events', { headers: headers({ accept: 'text/event-stream' }) });
        if (res.status === 401) { askForKey('This app needs an API key to show its data.'); throw new Error('unauthorized'); }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        setLive('live', 'Live');
        delay = 1000;
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            onFrame(frame);
          }
        }
        throw new Error('stream ended');
      } catch (err) {
        setLive('down', 'Reconnecting…');
        // meanwhile, one plain read keeps the numbers fresh
        refreshStats().catch(() => undefined);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    }
  }

  function onFrame(frame) {
    let event = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (event === 'stats' && data.length) renderStats(JSON.parse(data.join('\n')));
    else if (event === 'unavailable') setLive('down', 'Database not answering');
  }

  async function refreshStats() {
    renderStats(await api('/api/stats'));
  }

  let queueTimer = null;
  async function refreshQueue() {
    try {
      const s = await api('/api/stats');
      const q = (s.queues || [])[0];
      $('#queue').textContent = q ? nf.format(q.messages) + (q.consumers ? '' : ' (no consumer!)') : 'unknown';
      $('#queue').classList.toggle('warn', !!q && q.consumers === 0);
    } catch { $('#queue').textContent = 'unknown'; }
  }

  function renderStats(s) {
    if (live.dataset.state !== 'live' && s) setLive('live', 'Live');
    for (const [name, n] of Object.entries(s.counts)) {
      const node = $('[data-count="' + name + '"]');
      if (node) node.textContent = nf.format(n);
    }
    $('#backlog').textContent = nf.format(s.backlog);
    $('#due').textContent = nf.format(s.due);
    const oldest = $('#oldest');
    if (s.oldestPending) {
      oldest.textContent = age(s.oldestPending.ageSeconds);
      oldest.title = 'msgId ' + s.oldestPending.msgId;
      oldest.classList.toggle('warn', s.oldestPending.ageSeconds > 60);
    } else {
      oldest.textContent = 'none';
      oldest.title = '';
      oldest.classList.remove('warn');
    }
    const relay = $('#relay');
    if (s.relay) {
      relay.textContent = s.relay.up ? 'up' : 'down since ' + when(s.relay.downSince) + (s.relay.why ? ': ' + s.relay.why : '') + ' (mails wait in the queue; no try is counted)';
      relay.classList.toggle('warn', !s.relay.up);
    }
    $('#as-of').textContent = 'As of ' + when(s.at) + ' (database clock). Consumed counted at ' + when(s.consumedCountedAt) + '.';
    renderChart(s.throughput);
    if (s.queues !== undefined) {
      const q = (s.queues || [])[0];
      $('#queue').textContent = q ? nf.format(q.messages) : 'unknown';
    } else if (!queueTimer) {
      refreshQueue();
      queueTimer = setInterval(refreshQueue, 5000);
    }
    const key = JSON.stringify(s.counts);
    if (key !== state.lastCounts) {
      const first = state.lastCounts === '';
      state.lastCounts = key;
      if (!first) { scheduleListRefresh(); scheduleDetailRefresh(); }
    }
  }

  // ---- chart --------------------------------------------------------------------------------------------------
  const SERIES = ['accepted', 'consumed', 'failed', 'dead'];
  let lastThroughput = null;
  function renderChart(t) {
    lastThroughput = t;
    const box = $('#chart');
    const b = t.buckets;
    // drawn at the box's own pixel size, so text is never stretched
    const W = Math.max(240, Math.round(box.clientWidth || 600)), H = Math.max(120, Math.round(box.clientHeight || 200)), L = 40, B = 22, T = 8, R = 8;
    const max = Math.max(1, ...b.map((x) => Math.max(x.accepted, x.consumed, x.failed, x.dead)));
    const nice = niceMax(max);
    const x = (i) => L + (i * (W - L - R)) / Math.max(1, b.length - 1);
    const y = (v) => T + (H - T - B) * (1 - v / nice);
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('aria-hidden', 'true');
    const add = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
      if (text !== undefined) n.textContent = text;
      svg.append(n);
      return n;
    };
    for (const v of [0, nice / 2, nice]) {
      add('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' });
      add('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, nf.format(Math.round(v * 10) / 10));
    }
    const span = t.windowSeconds / 60;
    [[0, '−' + span + ' min'], [Math.floor((b.length - 1) / 3), '−' + Math.round((span * 2) / 3) + ' min'], [Math.floor(((b.length - 1) * 2) / 3), '−' + Math.round(span / 3) + ' min'], [b.length - 1, 'now']].forEach(([i, label], k) => {
      add('text', { x: x(i), y: H - 5, 'text-anchor': k === 0 ? 'start' : k === 3 ? 'end' : 'middle', class: 'axis' }, label);
    });
    for (const s of SERIES) {
      add('polyline', { points: b.map((p, i) => x(i).toFixed(1) + ',' + y(p[s]).toFixed(1)).join(' '), class: 'line ' + s });
    }
    box.replaceChildren(svg);
    const sum = (k) => b.reduce((a, p) => a + p[k], 0);
    const last = b.slice(-6);
    const perMin = (k) => last.reduce((a, p) => a + p[k], 0) * (60 / (last.length * t.bucketSeconds));
    box.setAttribute('aria-label', 'In the last ' + span + ' minutes: ' + nf.format(sum('accepted')) + ' accepted, ' + nf.format(sum('consumed')) + ' consumed, ' + nf.format(sum('failed')) + ' failed tries, ' + nf.format(sum('dead')) + ' dead. Last minute: ' + nf.format(Math.round(perMin('consumed'))) + ' consumed per minute.');
    const body = $('#chart-table tbody');
    $('#chart-table .bucket').textContent = t.bucketSeconds;
    if ($('.chart-table').open) {
      body.replaceChildren(...b.filter((p) => p.accepted || p.consumed || p.failed || p.dead || p.retried).reverse().map((p) =>
        el('tr', {}, [el('td', { text: when(p.t) }), el('td', { text: p.accepted }), el('td', { text: p.consumed }), el('td', { text: p.failed }), el('td', { text: p.dead }), el('td', { text: p.retried })])));
      if (!body.children.length) body.append(el('tr', {}, el('td', { colspan: 6, text: 'Nothing happened in this window.' })));
    }
  }
  if (window.ResizeObserver) {
    let w = 0;
    new ResizeObserver((entries) => {
      const nw = Math.round(entries[0].contentRect.width);
      if (nw !== w && lastThroughput) { w = nw; renderChart(lastThroughput); }
    }).observe(document.getElementById('chart'));
  }
  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // ---- mails list ---------------------------------------------------------------------------------------------
  let listTimer = null;
  let listBusy = false;
  function scheduleListRefresh() {
    if (listTimer) return;
    listTimer = setTimeout(() => { listTimer = null; loadMails(false).catch(() => undefined); }, 700);
  }

  async function loadMails(announce) {
    if (listBusy) { scheduleListRefresh(); return; }
    listBusy = true;
    const params = new URLSearchParams({ limit: String(PAGE), tz });
    if (state.status !== 'all') params.set('status', state.status);
    if (state.q) params.set('q', state.q);
    if (state.before) params.set('before', state.before);
    try {
      const page = await api('/api/mails?' + params);
      renderMails(page, announce);
    } catch (err) {
      $('#list-status').textContent = 'Could not load the mails: ' + err.message;
    } finally {
      listBusy = false;
    }
  }

  function renderMails(page, announce) {
    const body = $('#mails tbody');
    const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest('tr') ? document.activeElement.closest('tr').dataset.msgId : null;
    const rows = page.mails.map((m) => {
      const tr = el('tr', { 'data-msg-id': m.msgId, 'data-status': m.status, className: state.fresh.has(m.msgId) ? 'fresh' : '' }, [
        el('td', { className: 'msgid' }, el('button', { type: 'button', className: 'link', 'aria-label': 'Open mail ' + m.msgId, text: m.msgId, onclick: (e) => openDetail(m.msgId, e.currentTarget) })),
        el('td', { className: 'status', 'data-label': 'Status' }, badge(m.status)),
        el('td', { className: 'try', 'data-label': 'Try', text: tryText(m) }),
        el('td', { className: 'tos', 'data-label': 'To', text: m.tos.length ? m.tos[0] + (m.tos.length > 1 ? ' +' + (m.tos.length - 1) : '') : '–' }),
        el('td', { className: 'subject' }, [el('span', { text: m.subject || '(no subject)' }), m.status !== 'consumed' ? el('span', { className: 'why', text: m.why }) : null]),
        el('td', { 'data-label': 'Updated' }, el('time', { datetime: m.updateTime, text: when(m.updateTime) })),
      ]);
      return tr;
    });
    state.fresh.clear();
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 6, className: 'empty', text: state.q || state.status !== 'all' ? 'No mail matches this filter.' : 'No mail yet. Send one with the form below.' })));
    body.replaceChildren(...rows);
    if (focusedId) { const b = $('tr[data-msg-id="' + focusedId + '"] button', body); if (b) b.focus(); }
    state.next = page.next;
    $('#older').disabled = !page.next;
    $('#newer').disabled = state.history.length === 0;
    const pageNo = state.history.length + 1;
    $('#page-info').textContent = 'Page ' + pageNo;
    const what = (state.status === 'all' ? 'all mails' : STATUS_LABEL[state.status] + ' mails') + (state.q ? ' matching "' + state.q + '"' : '');
    const text = page.mails.length + ' shown, ' + what + ', newest first.';
    $('#list-status').textContent = text;
    // screen readers hear it when the reader changed the filter or page, not on every live refresh
    if (announce) $('#list-announce').textContent = text;
    $$('#cards .card').forEach((c) => c.setAttribute('aria-pressed', String(c.dataset.status === state.status)));
  }

  function setFilter(status, q) {
    state.status = status;
    state.q = q;
    state.before = null;
    state.history = [];
    $('#f-status').value = status;
    $('#f-q').value = q;
    return loadMails(true);
  }

  // ---- one mail -------------------------------------------------------------------------------------------------
  let detailTimer = null;
  function scheduleDetailRefresh() {
    if (!state.openMsgId || detailTimer) return;
    detailTimer = setTimeout(() => { detailTimer = null; if (state.openMsgId) loadDetail(state.openMsgId).catch(() => undefined); }, 700);
  }

  async function openDetail(msgId, opener) {
    state.openMsgId = msgId;
    state.opener = opener || document.activeElement;
    setResult($('#detail-result'), '');
    $('#detail-h').textContent = 'Mail ' + msgId;
    $('#detail-why').textContent = 'Loading…';
    $('#detail-facts').replaceChildren();
    $('#timeline').replaceChildren();
    const dlg = $('#detail');
    if (!dlg.open) dlg.showModal();
    try { await loadDetail(msgId); } catch (err) { $('#detail-why').textContent = 'Could not load this mail: ' + err.message; }
  }

  const RECIPIENT_LABEL = { pending: 'pending', accepted: 'accepted', deferred: 'deferred, will retry', bounced: 'bounced (refused for good)', failed: 'not delivered (tries ran out)' };

  async function loadDetail(msgId) {
    const d = await api('/api/mails/' + encodeURIComponent(msgId) + '?tz=' + encodeURIComponent(tz));
    if (state.openMsgId !== msgId) return;
    const m = d.mail;
    $('#detail').dataset.status = m.status;
    $('#detail-why').textContent = m.why;
    const facts = [
      ['Status', badge(m.status)],
      m.status === 'prepared'
        ? ['Check-backs', m.tryCount ? m.tryCount + ' undecided of ' + m.maxTries : 'not asked yet']
        : ['Tries', m.tryCount + ' failed of ' + m.maxTries],
      ['To', m.tos.join(', ') || '–'],
      ['Subject', m.subject || '(no subject)'],
      ['Accepted', when(m.createTime)],
      ['Updated', when(m.updateTime)],
      [m.status === 'prepared' ? 'Check-back at' : m.status === 'scheduled' ? 'Send at' : 'Next look', m.nextTryTime ? when(m.nextTryTime) : '–'],
      ['Last error', m.lastError || '–'],
    ];
    $('#detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    $('#detail-recipients').replaceChildren(...(d.recipients || []).map((r) => el('li', { className: 'r-' + r.state }, [
      el('span', { className: 'addr', text: r.address }),
      el('span', { className: 'state', text: RECIPIENT_LABEL[r.state] || r.state }),
      r.failure ? el('span', { className: 'err', text: (r.failure.code ? r.failure.code + (r.failure.enhanced ? ' ' + r.failure.enhanced : '') + ' ' : '') + (r.failure.detail || '') }) : null,
    ])));
    $('#detail-retry').hidden = m.status !== 'dead';
    $('#timeline').replaceChildren(...d.timeline.map((s) => {
      const move = s.from === s.to ? 'still ' + (STATUS_LABEL[s.to] || s.to) : (s.from ? STATUS_LABEL[s.from] || s.from : 'new') + ' → ' + (STATUS_LABEL[s.to] || s.to);
      // a two-phase or scheduling step is no SMTP try: the check-back's asks are counted instead
      const meta = s.kind === 'check_back' ? ['check-back ' + s.tryCount + ' of ' + m.maxTries, move] : UNSENT_STEPS.includes(s.kind) ? [move] : ['try ' + s.attempt + ' of ' + m.maxTries, move];
      if (s.confirmMs !== null) meta.push('confirm ' + ms(s.confirmMs));
      if (s.smtpMs !== null) meta.push('SMTP ' + ms(s.smtpMs));
      if (s.confirmMs === null && s.smtpMs === null && s.msInPreviousState !== null && s.from !== null) meta.push('after ' + ms(s.msInPreviousState));
      if (s.nextTryTime && (s.kind === 'smtp_failed' || s.kind === 'publish_failed')) meta.push('next try ' + when(s.nextTryTime));
      if (s.nextTryTime && (s.kind === 'prepared' || s.kind === 'check_back')) meta.push('check-back at ' + when(s.nextTryTime));
      if (s.nextTryTime && s.kind === 'scheduled') meta.push('send at ' + when(s.nextTryTime));
      return el('li', { className: 'k-' + s.kind }, [
        el('time', { datetime: s.at, text: preciseTime(s.at) }),
        el('span', { className: 'label', text: s.label }),
        el('span', { className: 'meta', text: meta.join(' · ') }),
        s.error ? el('span', { className: 'err', text: s.error }) : null,
      ]);
    }));
    if (!d.timeline.length) $('#timeline').append(el('li', { text: 'No history recorded for this mail (it predates the history table).' }));
  }

  async function retryOne() {
    const msgId = state.openMsgId;
    const out = $('#detail-result');
    const btn = $('#detail-retry');
    btn.disabled = true;
    try {
      await api('/mail/' + encodeURIComponent(msgId) + '/retry', { method: 'POST' });
      setResult(out, 'Retried: the mail is sending again.', 'ok');
      state.fresh.add(msgId);
      await loadDetail(msgId);
      scheduleListRefresh();
    } catch (err) {
      setResult(out, 'Not retried: ' + err.message, 'error');
    } finally {
      btn.disabled = false;
    }
  }

  // ---- bulk retry -----------------------------------------------------------------------------------------------
  async function bulkCount() {
    const out = $('#bulk-result');
    const q = $('#bulk-q').value.trim();
    try {
      const r = await api('/api/mails/retry', { method: 'POST', body: q ? { dryRun: true, q } : { dryRun: true } });
      state.bulkCount = { q, n: r.matched };
      const max = state.info ? state.info.bulkRetry.maxPerRequest : r.matched;
      setResult(out, r.matched === 0 ? 'No dead mail matches.' : r.matched + ' dead mail' + (r.matched === 1 ? '' : 's') + ' match' + (r.matched === 1 ? 'es' : '') + (r.matched > max ? '; one retry takes the oldest ' + max + '.' : '.'), r.matched ? 'ok' : '');
      const run = $('#bulk-run');
      run.disabled = r.matched === 0;
      run.textContent = r.matched ? 'Retry ' + Math.min(r.matched, max) + ' dead mail' + (r.matched === 1 ? '' : 's') : 'Retry dead mails';
    } catch (err) {
      setResult(out, 'Could not count: ' + err.message, 'error');
    }
  }

  async function bulkRun(e) {
    e.preventDefault();
    const out = $('#bulk-result');
    const q = $('#bulk-q').value.trim();
    if (!state.bulkCount || state.bulkCount.q !== q) { await bulkCount(); return; }
    if (!window.confirm('Send ' + $('#bulk-run').textContent.replace(/^Retry /, '') + ' again?')) return;
    $('#bulk-run').disabled = true;
    try {
      const r = await api('/api/mails/retry', { method: 'POST', body: q ? { dryRun: false, q } : { dryRun: false } });
      setResult(out, 'Retried ' + r.retried + (r.skipped ? ', ' + r.skipped + ' already moved on' : '') + (r.remaining ? '; ' + r.remaining + ' still dead (run it again)' : '') + '.', 'ok');
      state.bulkCount = null;
      $('#bulk-run').textContent = 'Retry dead mails';
      scheduleListRefresh();
    } catch (err) {
      setResult(out, err.status === 429 ? 'Slow down: ' + err.message : 'Not retried: ' + err.message, 'error');
      $('#bulk-run').disabled = false;
    }
  }

  // ---- send form ------------------------------------------------------------------------------------------------
  async function sendMail(e) {
    e.preventDefault();
    const out = $('#send-result');
    const btn = $('#send-submit');
    const fault = $('#send-fault').value;
    btn.disabled = true;
    setResult(out, 'Sending…');
    try {
      const body = { subject: $('#send-subject').value, content: $('#send-content').value, tos: $('#send-to').value };
      const r = await api('/mail/send', { method: 'POST', body, headers: fault ? { 'x-dev-fault': fault } : {} });
      out.replaceChildren('Accepted as ', el('button', { type: 'button', className: 'link', 'data-msg-id': r.msgId, text: r.msgId, onclick: (ev) => openDetail(r.msgId, ev.currentTarget) }), '.');
      out.className = 'result ok';
      state.fresh.add(r.msgId);
      if (state.before || (state.status !== 'all' && state.status !== 'sending') || state.q) await setFilter('all', '');
      else await loadMails(false);
    } catch (err) {
      const fields = err.problem && err.problem.errors ? ': ' + err.problem.errors.map((f) => f.message).join('; ') : '';
      setResult(out, 'Not accepted: ' + (err.problem && err.problem.title ? err.problem.title + fields : err.message), 'error');
    } finally {
      btn.disabled = false;
    }
  }

  // ---- API key --------------------------------------------------------------------------------------------------
  let askedForKey = false;
  function askForKey(why) {
    const dlg = $('#key-dialog');
    if (dlg.open || askedForKey) return;
    askedForKey = true;
    $('#key-why').textContent = why + ' It is kept in this tab only (session storage) and sent as the X-API-Key header.';
    $('#key-input').value = apiKey();
    dlg.showModal();
  }

  // ---- wiring ---------------------------------------------------------------------------------------------------
  function wire() {
    $('#filters').addEventListener('submit', (e) => { e.preventDefault(); setFilter($('#f-status').value, $('#f-q').value.trim()); });
    $('#f-status').addEventListener('change', () => setFilter($('#f-status').value, $('#f-q').value.trim()));
    $('#f-clear').addEventListener('click', () => setFilter('all', ''));
    $$('#cards .card').forEach((c) => c.addEventListener('click', () => {
      setFilter(state.status === c.dataset.status ? 'all' : c.dataset.status, state.q).then(() => $('#mails-h').focus());
    }));
    $('#older').addEventListener('click', () => {
      if (!state.next) return;
      state.history.push(state.before);
      state.before = state.next;
      loadMails(true);
    });
    $('#newer').addEventListener('click', () => {
      if (!state.history.length) return;
      state.before = state.history.pop();
      loadMails(true);
    });
    $('#bulk-count').addEventListener('click', bulkCount);
    $('#bulk').addEventListener('submit', bulkRun);
    $('#bulk-q').addEventListener('input', () => { state.bulkCount = null; $('#bulk-run').disabled = true; $('#bulk-run').textContent = 'Retry dead mails'; setResult($('#bulk-result'), ''); });
    $('#send').addEventListener('submit', sendMail);
    $('#detail-retry').addEventListener('click', retryOne);
    $('#detail-close').addEventListener('click', () => $('#detail').close());
    $('#detail').addEventListener('close', () => {
      state.openMsgId = null;
      if (state.opener && document.contains(state.opener)) state.opener.focus();
    });
    $('#detail').addEventListener('click', (e) => { if (e.target === e.currentTarget) e.currentTarget.close(); });
    $('#key-open').addEventListener('click', () => { askedForKey = false; askForKey('Set the API key this app asks for.'); });
    $('#key-dialog').addEventListener('close', () => {
      const v = $('#key-dialog').returnValue;
      if (v === 'save') sessionStorage.setItem(KEY, $('#key-input').value.trim());
      if (v === 'clear') sessionStorage.removeItem(KEY);
      askedForKey = false;
      if (v === 'save' || v === 'clear') location.reload();
    });
  }

  // what webhooks.js (the Webhooks panel) uses: the same API calls, key and formatting
  window.mailDashboard = { $, nf, api, el, when, setResult, openDetail, info: null };

  async function start() {
    wire();
    try {
      state.info = await api('/api/info');
      window.mailDashboard.info = state.info;
      document.dispatchEvent(new CustomEvent('dashboard:info', { detail: state.info }));
      if (state.info.scheme) {
        const scheme = $('#scheme');
        scheme.textContent = state.info.scheme === 'delayed-check' ? 'delayed checks' : 'status log';
        scheme.title = state.info.scheme === 'delayed-check'
          ? 'RELIABILITY_SCHEME=delayed-check: a lost mail is found by its check message and the callback service; mails stay "sending" until consumed'
          : 'RELIABILITY_SCHEME=msg-log: a lost mail is found by the re-delivery job from its status row';
        scheme.hidden = false;
      }
      const faults = state.info.devFaults || [];
      if (faults.length) {
        $('#send-fault-label').hidden = false;
        $('#send-fault').append(...faults.map((f) => el('option', { value: f, text: f })));
      }
    } catch { /* the rest still works; faults stay hidden */ }
    await Promise.all([refreshStats().catch(() => undefined), loadMails(true)]);
    streamEvents();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

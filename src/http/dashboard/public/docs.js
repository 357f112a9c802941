// Renders /openapi.json as a page: one block per operation with its parameters, body and responses.
'use strict';
(function () {
  const $ = (s) => document.querySelector(s);
  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'className') e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const c of [].concat(children || [])) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  let spec;
  function resolve(obj) {
    if (obj && obj.$ref) {
      const target = obj.$ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k] : undefined), spec);
      return Object.assign({}, target, obj.description ? { description: obj.description } : {});
    }
    return obj;
  }
  /** Expands $refs for display, one level deep per reference, without looping on cycles. */
  function expand(schema, seen) {
    seen = seen || new Set();
    if (Array.isArray(schema)) return schema.map((s) => expand(s, seen));
    if (!schema || typeof schema !== 'object') return schema;
    if (schema.$ref) {
      if (seen.has(schema.$ref)) return { $ref: schema.$ref };
      const next = new Set(seen); next.add(schema.$ref);
      return expand(resolve(schema), next);
    }
    const out = {};
    for (const [k, v] of Object.entries(schema)) out[k] = expand(v, seen);
    return out;
  }
  /** Text with `code` spans, as OpenAPI descriptions write them (no other markdown, no HTML). */
  const md = (text) => String(text || '').split('`').map((part, i) => (i % 2 ? el('code', { text: part }) : document.createTextNode(part)));
  const json = (v) => el('pre', {}, el('code', { text: JSON.stringify(v, null, 2) }));
  const anchor = (method, path) => (method + path).replace(/[^A-Za-z0-9]+/g, '-');

  function operation(path, method, op) {
    const id = anchor(method, path);
    const parts = [
      el('h3', { id }, [el('span', { className: 'method ' + method, text: method.toUpperCase() }), el('code', { text: path }), el('span', { className: 'summary', text: op.summary || '' })]),
    ];
    if (op.description) parts.push(el('p', {}, md(op.description)));
    const params = (op.parameters || []).map(resolve);
    if (params.length) {
      parts.push(el('table', {}, [
        el('caption', { className: 'sr-only', text: 'Parameters' }),
        el('thead', {}, el('tr', {}, ['Parameter', 'In', 'Required', 'Schema', 'Description'].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, params.map((p) => el('tr', {}, [el('td', {}, el('code', { text: p.name })), el('td', { text: p.in }), el('td', { text: p.required ? 'yes' : 'no' }), el('td', {}, el('code', { text: JSON.stringify(p.schema) })), el('td', {}, md(p.description))]))),
      ]));
    }
    if (op.requestBody) {
      const content = resolve(op.requestBody).content || {};
      for (const [type, c] of Object.entries(content)) {
        parts.push(el('details', {}, [el('summary', { text: 'Request body (' + type + ')' }), json(expand(c.schema))]));
      }
    }
    const responses = Object.entries(op.responses || {});
    parts.push(el('table', {}, [
      el('caption', { className: 'sr-only', text: 'Responses' }),
      el('thead', {}, el('tr', {}, ['Status', 'Meaning', 'Body'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, responses.map(([code, r]) => {
        const res = resolve(r);
        const types = Object.keys(res.content || {});
        return el('tr', {}, [el('td', { className: 'code' + code[0], text: code }), el('td', {}, md(res.description)), el('td', {}, types.map((t) => el('code', { text: t + ' ' })))]);
      })),
    ]));
    const schemas = responses.flatMap(([code, r]) => Object.entries(resolve(r).content || {}).filter(([, c]) => c.schema && code[0] === '2').map(([t, c]) => [code, t, c.schema]));
    for (const [code, type, schema] of schemas) parts.push(el('details', {}, [el('summary', { text: code + ' body (' + type + ')' }), json(expand(schema))]));
    return el('section', { className: 'panel op', 'aria-labelledby': id }, parts);
  }

  async function start() {
    spec = await (await fetch('/openapi.json', { headers: { accept: 'application/json' } })).json();
    $('#title').textContent = spec.info.title;
    $('#summary').textContent = spec.info.summary || '';
    $('#description').replaceChildren(...md(spec.info.description));
    $('#oas').textContent = spec.openapi;
    $('#version').textContent = spec.info.version;
    const byTag = new Map();
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const tag = (op.tags && op.tags[0]) || 'other';
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push([path, method, op]);
      }
    }
    const ops = $('#ops');
    const toc = $('#toc');
    for (const tag of (spec.tags || []).map((t) => t.name).concat([...byTag.keys()]).filter((t, i, a) => a.indexOf(t) === i && byTag.has(t))) {
      const info = (spec.tags || []).find((t) => t.name === tag);
      ops.append(el('h2', { text: tag + (info && info.description ? ': ' + info.description : '') }));
      for (const [path, method, op] of byTag.get(tag)) {
        ops.append(operation(path, method, op));
        toc.append(el('li', {}, el('a', { href: '#' + anchor(method, path), text: method.toUpperCase() + ' ' + path })));
      }
    }
  }
  start().catch((err) => { $('#ops').textContent = 'Could not load /openapi.json: ' + err.message; });
})();

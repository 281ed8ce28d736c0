// The synod dashboard's page: renders each snapshot the dashboard sends
// (first from snapshot.js, then over server-sent events from /events) and
// sends the controls' requests. No framework; values from the cluster are
// only ever set as text, never as markup.
'use strict';
(function () {
  const token = new URLSearchParams(location.search).get('token');
  const $ = (id) => document.getElementById(id);
  const rows = new Map(); // node id -> its row's cells
  let controlsBuilt = false;

  function el(tag, props, children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null) continue;
        if (k === 'text') e.textContent = v;
        else if (k === 'class') e.className = v;
        else if (k.startsWith('data-')) e.setAttribute(k, v);
        else e[k] = v;
      }
    }
    for (const c of children || []) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  }
  const svgEl = (tag, attrs) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  };
  const show = (v) => (v === null || v === undefined ? '—' : String(v));
  const clock = (ms) => {
    const s = Math.floor(ms / 1000);
    return String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
  };

  function canControl(s) {
    return s.fault_injection && !!token;
  }

  // ---- controls -------------------------------------------------------
  async function control(body) {
    const out = $('control-result');
    out.className = '';
    out.textContent = 'sending ' + body.action + (body.node ? ' n' + body.node : '') + '…';
    try {
      const r = await fetch('/api/control', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-synod-token': token || '' },
        body: JSON.stringify(body),
      });
      let reply;
      try { reply = await r.json(); } catch (e) { reply = { ok: false, message: 'HTTP ' + r.status }; }
      out.className = reply.ok ? 'ok' : 'err';
      out.textContent = reply.message;
    } catch (e) {
      out.className = 'err';
      out.textContent = 'the dashboard did not answer: ' + e;
    }
  }

  function buildControls(s) {
    controlsBuilt = true;
    const note = $('controls-note');
    const load = $('load-controls');
    if (!s.fault_injection) {
      note.textContent = 'Controls are off: this cluster file does not enable fault injection '
        + '(add [testing] fault_injection = true to it to kill, pause, partition and load nodes from here).';
      $('controls-head').hidden = true;
      return;
    }
    if (!token) {
      note.textContent = 'View only: open the address with the token the dashboard printed at startup to use the controls.';
      $('controls-head').hidden = true;
      return;
    }
    note.textContent = s.process_control ? ''
      : 'This cluster is not run from a local directory: kill, pause, resume and restart will be refused; partitions and the load work.';
    load.appendChild(el('button', { type: 'button', text: 'Start load', 'data-action': 'load-start' }));
    load.appendChild(el('button', { type: 'button', text: 'Stop load', 'data-action': 'load-stop' }));
    load.addEventListener('click', (ev) => {
      const b = ev.target.closest('button');
      if (b) control({ action: b.dataset.action });
    });
    $('nodes').addEventListener('click', (ev) => {
      const b = ev.target.closest('button');
      if (b && b.dataset.node) control({ action: b.dataset.action, node: Number(b.dataset.node) });
    });
  }

  // ---- nodes ----------------------------------------------------------
  const FIELDS = ['answers', 'role', 'ballot', 'follows', 'commit', 'executed', 'truncated', 'notes'];
  function nodeRow(n, s) {
    let r = rows.get(n.id);
    if (r) return r;
    const tr = el('tr', { 'data-node': n.id });
    const cells = { head: el('td', { text: 'n' + n.id }) };
    tr.appendChild(cells.head);
    for (const f of FIELDS) {
      cells[f] = el('td', { class: ['commit', 'executed', 'truncated'].includes(f) ? 'num' : '' });
      tr.appendChild(cells[f]);
    }
    if (canControl(s)) {
      const td = el('td');
      for (const [action, label, cls] of [['kill', 'Kill', 'danger'], ['pause', 'Pause', ''], ['resume', 'Resume', ''],
        ['restart', 'Restart', ''], ['partition', 'Partition', 'danger'], ['heal', 'Heal', '']]) {
        td.appendChild(el('button', {
          type: 'button', text: label, class: cls, 'data-action': action, 'data-node': n.id,
          title: label + ' n' + n.id,
        }));
      }
      tr.appendChild(td);
    }
    $('nodes').tBodies[0].appendChild(tr);
    r = { tr, cells };
    rows.set(n.id, r);
    return r;
  }

  function renderNodes(s) {
    for (const n of s.nodes) {
      const { tr, cells } = nodeRow(n, s);
      tr.className = (n.answering ? '' : 'dead') + (s.leader === n.id ? ' is-leader' : '');
      cells.answers.textContent = n.answering ? 'yes' : 'NO';
      cells.answers.className = n.answering ? 'yes' : 'no';
      cells.answers.title = n.error || '';
      cells.role.textContent = show(n.role);
      cells.ballot.textContent = show(n.ballot);
      cells.follows.textContent = n.leader ? 'n' + n.leader : '—';
      cells.commit.textContent = show(n.commit);
      cells.executed.textContent = show(n.executed);
      cells.truncated.textContent = show(n.truncated);
      cells.notes.textContent = n.marks.join(', ');
    }
  }

  // ---- the log grid ---------------------------------------------------
  const STATE_NAMES = { A: 'accepted', C: 'chosen', E: 'executed', X: 'truncated', '.': 'nothing known' };
  function renderGrid(s) {
    const width = Math.max(0, ...s.grid.map((r) => r.cells.length));
    const table = el('table');
    const head = el('tr', null, [el('th', { text: 'slot' })]);
    // One label per five slots, over the five.
    for (let i = 0; i < width; i += 5) {
      head.appendChild(el('th', { colSpan: Math.min(5, width - i), text: String(s.grid_from + i) }));
    }
    table.appendChild(el('thead', null, [head]));
    const body = el('tbody');
    for (const row of s.grid) {
      const tr = el('tr', null, [el('td', { class: 'rowhead', text: 'n' + row.node })]);
      if (row.cells.length === 0) {
        tr.appendChild(el('td', { colSpan: Math.max(1, width), class: 'no', text: 'not answering' }));
      }
      row.cells.forEach((c, i) => {
        const st = c.s === '.' ? 'none' : c.s;
        const slot = s.grid_from + i;
        const title = 'slot ' + slot + ' on n' + row.node + ': ' + (STATE_NAMES[c.s] || c.s)
          + (c.b ? ', ballot ' + c.b : '') + (c.v ? '\n' + c.v : '');
        tr.appendChild(el('td', null, [el('span', {
          class: 'cell s-' + st, text: c.s === '.' ? '·' : c.s, title, 'data-slot': slot,
        })]));
      });
      body.appendChild(tr);
    }
    table.appendChild(body);
    $('grid').replaceChildren(...table.childNodes);
  }

  // ---- NEW-VIEWs ------------------------------------------------------
  function renderViews(s) {
    const items = s.views.map((v) => {
      const li = el('li', null, [
        el('strong', { text: 'ballot ' + v.ballot }),
        ' from slot ' + v.start + ', ' + v.count + (v.count === 1 ? ' entry' : ' entries')
        + ' (seen at n' + v.node + ')',
      ]);
      if (v.entries.length) {
        const ul = el('ul', { class: 'entries' });
        for (const e of v.entries) ul.appendChild(el('li', { text: e }));
        if (v.count > v.entries.length) ul.appendChild(el('li', { text: '… and ' + (v.count - v.entries.length) + ' more' }));
        li.appendChild(ul);
      }
      return li;
    });
    if (!items.length) items.push(el('li', { class: 'note', text: 'no NEW-VIEW yet' }));
    $('views').replaceChildren(...items);
  }

  // ---- the chart ------------------------------------------------------
  function renderChart(s) {
    const svg = $('chart');
    const W = 900, L = 70, R = 880, panels = [[20, 180], [230, 390]];
    const bins = s.chart;
    const parts = [];
    const tMax = bins.length ? bins[bins.length - 1].t : 0;
    const tMin = Math.max(0, tMax - 299);
    const x = (t) => L + ((t - tMin) / Math.max(1, tMax - tMin)) * (R - L);
    const series = (vals, top, bottom, max, color, dash) => {
      let d = '';
      let pen = false;
      for (const [t, v] of vals) {
        if (v === null || v === undefined) { pen = false; continue; }
        const y = bottom - (v / max) * (bottom - top);
        d += (pen ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y.toFixed(1) + ' ';
        pen = true;
      }
      if (d) parts.push(svgEl('path', { d, fill: 'none', stroke: color, 'stroke-width': 3, 'stroke-dasharray': dash || 'none' }));
    };
    const axis = ([top, bottom], max, unit) => {
      parts.push(svgEl('line', { x1: L, y1: bottom, x2: R, y2: bottom, class: 'axis' }));
      parts.push(svgEl('line', { x1: L, y1: top, x2: L, y2: bottom, class: 'axis' }));
      const label = svgEl('text', { x: 4, y: top + 16 });
      label.textContent = fmt(max);
      parts.push(label);
      const u = svgEl('text', { x: L + 8, y: top + 16 });
      u.textContent = unit;
      parts.push(u);
      const z = svgEl('text', { x: 4, y: bottom });
      z.textContent = '0';
      parts.push(z);
    };
    const fmt = (v) => (v >= 1000 ? (v / 1000).toFixed(1) + 'k' : v >= 10 ? v.toFixed(0) : v.toFixed(1));
    const nice = (v) => { if (v <= 0) return 1; const p = Math.pow(10, Math.floor(Math.log10(v))); for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p; return 10 * p; };
    const tMaxRate = nice(Math.max(1, ...bins.map((b) => Math.max(b.ops, b.slots))));
    const latMax = nice(Math.max(1, ...bins.map((b) => b.p99_ms || 0)));
    axis(panels[0], tMaxRate, 'per second');
    axis(panels[1], latMax, 'ms');
    series(bins.map((b) => [b.t, b.ops]), panels[0][0], panels[0][1], tMaxRate, '#0072b2');
    series(bins.map((b) => [b.t, b.slots]), panels[0][0], panels[0][1], tMaxRate, '#e69f00', '10 6');
    series(bins.map((b) => [b.t, b.p50_ms]), panels[1][0], panels[1][1], latMax, '#009e73');
    series(bins.map((b) => [b.t, b.p99_ms]), panels[1][0], panels[1][1], latMax, '#d55e00', '10 6');
    const t0 = svgEl('text', { x: L, y: 415 });
    t0.textContent = clock(tMin * 1000);
    const t1 = svgEl('text', { x: R - 60, y: 415 });
    t1.textContent = clock(tMax * 1000);
    parts.push(t0, t1);
    if (!bins.some((b) => b.ops > 0)) {
      const n = svgEl('text', { x: W / 2 - 200, y: 320 });
      n.textContent = 'latency shows while the page\u2019s load runs';
      parts.push(n);
    }
    svg.replaceChildren(...parts);
  }

  // ---- application state ---------------------------------------------
  function renderState(s) {
    const head = el('tr', null, [el('th', { text: '' })].concat(s.state_nodes.map((n) => el('th', { text: 'n' + n }))));
    const body = s.state.map((r) => el('tr', { class: r.differs ? 'diff' : '' }, [
      el('td', null, r.differs ? [el('span', { class: 'diffmark', text: '≠ ' }), r.key] : [r.key]),
    ].concat(r.values.map((v) => el('td', { class: 'num', text: show(v) })))));
    if (!s.state_nodes.length) body.push(el('tr', null, [el('td', { text: 'no node answered yet' })]));
    $('state').replaceChildren(el('thead', null, [head]), el('tbody', null, body));
    $('state-every').textContent = 'Asked every ' + (s.state_every_ms / 1000).toFixed(1)
      + ' s (less often the larger the state: each node exports all of it).';
  }

  // ---- events ---------------------------------------------------------
  function renderEvents(s) {
    const items = s.events.slice().reverse().map((e) => el('li', { class: e.ok ? '' : 'bad' }, [
      el('span', { class: 't', text: clock(e.at_ms) }), (e.ok ? '✓ ' : '✗ ') + e.text,
    ]));
    if (!items.length) items.push(el('li', { class: 'note', text: 'nothing yet' }));
    $('events').replaceChildren(...items);
  }

  function render(s) {
    if (!s || !s.nodes) return;
    if (!controlsBuilt) buildControls(s);
    $('cluster').textContent = s.cluster;
    $('leader').textContent = s.leader ? 'n' + s.leader : 'none';
    document.body.dataset.leader = s.leader ? String(s.leader) : '';
    $('leader-ballot').textContent = s.leader_ballot ? 'ballot ' + s.leader_ballot : 'no node leads';
    $('load-state').textContent = s.load ? 'load: ' + s.load.clients + ' clients' : '';
    const f = $('failover');
    if (s.failover) {
      f.hidden = false;
      f.dataset.afterMs = String(s.failover.after_ms);
      f.dataset.newLeader = String(s.failover.new_leader);
      f.textContent = 'Failover: n' + s.failover.new_leader + ' took over from n' + s.failover.killed
        + ', seen ' + s.failover.after_ms + ' ms after the kill (the dashboard looks every ' + s.poll_ms + ' ms)';
    }
    renderNodes(s);
    renderGrid(s);
    renderViews(s);
    renderChart(s);
    renderState(s);
    renderEvents(s);
  }

  window.synodRender = function (s) {
    try { render(s); } catch (e) { console.error('render failed', e); }
  };

  const conn = () => $('conn');
  function connect() {
    const es = new EventSource('/events');
    es.onopen = () => { conn().textContent = 'live'; conn().className = 'pill live'; };
    es.onmessage = (e) => {
      let s;
      try { s = JSON.parse(e.data); } catch (err) { return; }
      window.synodRender(s);
    };
    es.onerror = () => { conn().textContent = 'reconnecting…'; conn().className = 'pill down'; };
  }
  connect();
})();

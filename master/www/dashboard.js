// SPDX-License-Identifier: Apache-2.0
// The Silo dashboard: reads the master's JSON API (docs/PROTOCOL.md) with the cluster token and
// draws the cluster, its disks and tasks. Plain DOM and SVG, no library: it is served from the
// master binary and must work where the browser cannot reach the internet.
'use strict';

(function () {
  const TOKEN_KEY = 'silo.token';
  const POLL_MS = 2000;
  // How much measured history a disk's chart keeps: it is sampled in the browser while the
  // disk's page is open, so "the last minutes" are the minutes this page has watched.
  const HISTORY_MS = 5 * 60 * 1000;
  const LIVE = ['STAGING', 'STARTING', 'RUNNING'];
  const TASK_STATES = ['PENDING', 'STAGING', 'STARTING', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED', 'LOST'];
  const IO_LIMITS = ['rbps', 'wbps', 'riops', 'wiops'];
  const IO_MEASURED = { rbps: 'read_bps', wbps: 'write_bps', riops: 'read_iops', wiops: 'write_iops' };

  const rates = new Map(); // "agent/disk" -> [{t, read_bps, write_bps, read_iops, write_iops}]
  const cpuSeen = new Map(); // task id -> {t, usage_usec}: CPU use is a difference of two reads
  let timer = null;
  let generation = 0;

  // ---- DOM helpers: text only, never HTML, since names and reasons come from users ----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {}))
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
    for (const c of children.flat())
      if (c !== undefined && c !== null && c !== false)
        e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function table(headers, rows, attrs) {
    return el('table', attrs,
      el('thead', null, el('tr', null, headers.map((h) =>
        el('th', { class: h.startsWith('#') ? 'num' : null }, h.replace(/^#/, ''))))),
      el('tbody', null, rows));
  }

  const num = (v, attrs) => el('td', Object.assign({ class: 'num' }, attrs || {}), v);
  const state = (s) => el('span', { class: 'state ' + s }, s);
  const taskLink = (t) => el('a', { href: '#/task/' + encodeURIComponent(t.id), class: 'id' }, t.id);
  const diskHref = (agentId, disk) =>
    '#/disk/' + encodeURIComponent(agentId) + '/' + encodeURIComponent(disk);

  // ---- figures ----

  function scaled(v, base, units) {
    if (v === null || v === undefined || v === 'max') return v === 'max' ? 'unlimited' : '–';
    let n = Number(v);
    let i = 0;
    while (Math.abs(n) >= base && i < units.length - 1) { n /= base; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(Math.abs(n) < 100 ? 1 : 0)) + ' ' + units[i];
  }
  // Disks are rated in decimal units (as their makers and fio do), memory in binary ones.
  const fmtRate = (v) => scaled(v, 1000, ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s']);
  const fmtBytes = (v) => scaled(v, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']);
  const fmtIops = (v) => scaled(v, 1000, ['IOPS', 'k IOPS', 'M IOPS']);
  const fmtCpus = (v) => (v === null || v === undefined ? '–' : Number(v).toFixed(2));
  const fmtPct = (f) => (f === null || f === undefined || !isFinite(f) ? '–' : (100 * f).toFixed(1) + ' %');
  const fmtUs = (v) => (v === null || v === undefined ? '–' : v >= 1000 ? (v / 1000).toFixed(1) + ' ms' : v + ' µs');
  const fmtIo = { rbps: fmtRate, wbps: fmtRate, riops: fmtIops, wiops: fmtIops };

  function fmtAge(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 120) return s + 's';
    if (s < 7200) return Math.round(s / 60) + 'm';
    if (s < 172800) return Math.round(s / 3600) + 'h';
    return Math.round(s / 86400) + 'd';
  }

  function bar(fraction) {
    const f = Number(fraction) || 0;
    const fill = el('span');
    // Through the CSSOM: the page's CSP (no 'unsafe-inline') refuses style attributes.
    fill.style.width = Math.min(100, Math.max(0, 100 * f)).toFixed(1) + '%';
    return el('span', { class: f > 1 ? 'bar over' : 'bar' }, fill);
  }

  // ---- the token and the API ----

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // "#/disk/a/b?token=T" or "#token=T": the route, and parameters after it. A fragment never
  // reaches the server or its logs, so a link may carry the token to the page.
  function parseHash() {
    let h = location.hash.replace(/^#/, '');
    let q = '';
    const i = h.indexOf('?');
    if (i >= 0) { q = h.slice(i + 1); h = h.slice(0, i); } else if (h.startsWith('token=')) { q = h; h = '/'; }
    return { path: h || '/', params: new URLSearchParams(q) };
  }

  // Move a token from the URL into this tab's sessionStorage and out of the address bar and
  // the browser's history.
  function takeToken() {
    const { path, params } = parseHash();
    if (!params.has('token')) return;
    sessionStorage.setItem(TOKEN_KEY, params.get('token'));
    window.history.replaceState(null, '', '#' + path);
  }

  async function api(path) {
    const r = await fetch(path, {
      headers: { Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY) },
      cache: 'no-store',
    });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const why = body && body.error ? body.error.message : r.status + ' ' + r.statusText;
      throw new ApiError(r.status, 'GET /' + path + ': ' + r.status + ': ' + why);
    }
    return body;
  }

  function viewLogin(message) {
    const input = el('input', { type: 'password', name: 'token', autocomplete: 'off', id: 'token' });
    const form = el('form', { class: 'token card' },
      el('h1', null, 'Cluster token'),
      message ? el('p', { class: 'error', id: 'error' }, message) : null,
      el('p', null, 'The dashboard reads the master\'s API with the cluster token (',
        el('code', null, '<state-dir>/token'), ' on the master, or the file given with ',
        el('code', null, '--token-file'), '). It is kept in this tab only (sessionStorage).'),
      input, el('button', { type: 'submit' }, 'Open'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!input.value.trim()) return;
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      render();
    });
    return form;
  }

  // ---- what the views share ----

  const isLive = (t) => LIVE.includes(t.state);

  // The io requests of live tasks placed on one disk of one agent, summed per limit kind.
  function allocatedOn(tasks, agentId, disk) {
    const sum = { rbps: 0, wbps: 0, riops: 0, wiops: 0, tasks: [] };
    for (const t of tasks) {
      if (!isLive(t) || t.agent_id !== agentId) continue;
      const io = (t.spec.resources && t.spec.resources.io) || [];
      let on = false;
      io.forEach((e, i) => {
        if (t.disks[i] !== disk) return;
        on = true;
        for (const k of IO_LIMITS) sum[k] += Number(e[k] || 0);
      });
      if (on) sum.tasks.push(t);
    }
    return sum;
  }

  function agentDisks(a) {
    return (a.resources && a.resources.disks) || [];
  }

  // ---- overview: the table Mesos' UI had, with disks ----

  async function viewOverview() {
    const [{ agents }, { tasks }, { volumes }] = await Promise.all([api('api/v1/agents'),
      api('api/v1/tasks'), api('api/v1/volumes')]);
    const active = agents.filter((a) => a.state === 'ACTIVE');
    const total = { cpus: 0, mem: 0 };
    const idle = { cpus: 0, mem: 0 };
    for (const a of active) {
      total.cpus += Number(a.resources.cpus || 0);
      total.mem += Number(a.resources.mem || 0);
      if (a.free) { idle.cpus += Number(a.free.cpus || 0); idle.mem += Number(a.free.mem || 0); }
    }
    const counts = (label, states, list) => el('div', null, el('h2', null, label), el('div', { class: 'counts' },
      states.map((s) => el('div', { class: 'count', id: label.toLowerCase().replace(/ /g, '-') + '-' + s },
        el('b', null, list.filter((x) => x.state === s).length), state(s)))));

    const resourceRow = (name, t, i, fmt) => el('tr', null, el('td', null, name),
      num(fmt(t)), num(el('span', null, bar(t ? (t - i) / t : 0), fmt(t - i))), num(fmt(i)));
    const diskRows = [];
    for (const a of active)
      for (const d of agentDisks(a)) {
        const used = a.free && a.free.io_cost_used ? Number(a.free.io_cost_used[d.name] || 0) : 0;
        const alloc = allocatedOn(tasks, a.id, d.name);
        diskRows.push(el('tr', { id: 'disk-row-' + a.id + '-' + d.name },
          el('td', null, el('a', { href: diskHref(a.id, d.name) }, (a.hostname || a.id) + ':' + d.name)),
          el('td', null, d.class || '–'),
          num(fmtRate(d.read_bps) + ' / ' + fmtRate(d.write_bps)),
          num(fmtIops(d.read_iops) + ' / ' + fmtIops(d.write_iops)),
          num(el('span', null, bar(used), fmtPct(used)), { class: 'num alloc-cost' }),
          num(fmtRate(alloc.rbps) + ' / ' + fmtRate(alloc.wbps), { class: 'num alloc-bw' }),
          num(fmtPct(1 - used) + ' ≈ ' + fmtRate((1 - used) * Number(d.write_bps || 0)) + ' of writes')));
      }
    const pending = tasks.filter((t) => t.state === 'PENDING');
    return el('div', null,
      el('h1', null, 'Cluster'),
      counts('Agents', ['ACTIVE', 'LOST'], agents),
      counts('Tasks', TASK_STATES, tasks),
      el('h2', null, 'Resources of active agents'),
      el('section', { class: 'card' }, table(['Resource', '#Total', '#Allocated', '#Idle'], [
        resourceRow('CPUs', total.cpus, idle.cpus, fmtCpus),
        resourceRow('Memory', total.mem, idle.mem, fmtBytes),
      ], { id: 'resources' })),
      el('h2', null, 'Disks'),
      el('section', { class: 'card' }, diskRows.length
        ? table(['Disk', 'Class', '#Capacity read / write', '#IOPS read / write', '#Allocated io cost',
          '#Allocated read / write', '#Idle'], diskRows, { id: 'disks' })
        : el('p', { class: 'muted' }, 'No disks offered.')),
      el('h2', null, 'Persistent volumes (' + volumes.length + ')'),
      volumeTable(volumes, agents),
      el('h2', null, 'Pending tasks (' + pending.length + ')'),
      pendingTable(pending),
      el('h2', null, 'Tasks (' + tasks.length + ')'),
      taskTable(tasks.slice(-200).reverse(), agents),
      tasks.length > 200 ? el('p', null, el('a', { href: '#/tasks' }, 'All ' + tasks.length + ' tasks')) : null);
  }

  // Where each volume lives, what it books on its disk and who mounts it (GET /api/v1/volumes).
  function volumeTable(volumes, agents) {
    if (!volumes.length) return el('section', { class: 'card' }, el('p', { class: 'muted' }, 'No volumes.'));
    const host = new Map((agents || []).map((a) => [a.id, a.hostname || a.id]));
    return el('section', { class: 'card' }, table(['Volume', 'Agent', 'Disk', '#Size', '#Used', 'State', 'Tasks'],
      volumes.map((v) => el('tr', { id: 'volume-' + v.name },
        el('td', null, v.name), el('td', null, host.get(v.agent_id) || v.agent_id),
        el('td', null, v.disk), num(fmtBytes(v.size)), num(fmtBytes(v.used_bytes)),
        el('td', null, v.missing ? 'missing' : v.state),
        el('td', null, v.tasks.map((id) => el('a', { href: '#/task/' + encodeURIComponent(id), class: 'id' }, id + ' '))))),
      { id: 'volumes' }));
  }

  function pendingTable(pending) {
    if (!pending.length) return el('section', { class: 'card' }, el('p', { class: 'muted' }, 'Nothing is waiting.'));
    return el('section', { class: 'card' }, table(['Task', 'Name', 'Role', 'Waiting', 'Why it is not placed'],
      pending.map((t) => el('tr', { id: 'pending-' + t.id },
        el('td', null, taskLink(t)), el('td', null, t.name || ''), el('td', null, t.role),
        el('td', null, fmtAge(t.created_ms)),
        el('td', { class: 'reason' }, t.pending_reason || 'not tried yet'))), { id: 'pending' }));
  }

  function ioSummary(t) {
    const io = (t.spec.resources && t.spec.resources.io) || [];
    return io.map((e, i) => (t.disks[i] || e.disk || e.class || 'any') + ' ' +
      IO_LIMITS.filter((k) => e[k]).map((k) => k + ' ' + fmtIo[k](e[k])).join(', ')).join('; ');
  }

  function taskTable(tasks, agents) {
    const host = new Map((agents || []).map((a) => [a.id, a.hostname || a.id]));
    return el('section', { class: 'card' }, table(['Task', 'Name', 'Role', 'State', 'Agent', '#CPUs', '#Memory', 'Disk I/O', '#Age'],
      tasks.map((t) => {
        const r = t.spec.resources || {};
        return el('tr', { id: 'task-' + t.id },
          el('td', null, taskLink(t)), el('td', null, t.name || ''), el('td', null, t.role),
          el('td', null, state(t.state)), el('td', null, t.agent_id ? host.get(t.agent_id) || t.hostname || t.agent_id : '–'),
          num(fmtCpus(r.cpus)), num(fmtBytes(r.mem)), el('td', null, ioSummary(t)), num(fmtAge(t.created_ms)));
      }), { id: 'tasks' }));
  }

  async function viewTasks(onlyPending) {
    const [{ agents }, { tasks }] = await Promise.all([api('api/v1/agents'),
      api(onlyPending ? 'api/v1/tasks?state=PENDING' : 'api/v1/tasks')]);
    return el('div', null, el('h1', null, onlyPending ? 'Pending tasks' : 'Tasks'),
      onlyPending ? pendingTable(tasks) : taskTable(tasks.slice().reverse(), agents));
  }

  // ---- a disk: capacity, allocation, and what eBPF measured ----

  // The agent's isolation view of each live task on the disk: its limits in force and its
  // eBPF rates on the disk. A task whose view failed is shown with the error, not dropped.
  async function measuredOn(tasks, disk) {
    return Promise.all(tasks.map(async (t) => {
      try {
        const iso = await api('api/v1/tasks/' + encodeURIComponent(t.id) + '/isolation');
        const io = ((iso.limits && iso.limits.io) || []).find((e) => e.name === disk);
        return { task: t, io: io || null, measured: io ? io.measured || null : null };
      } catch (e) {
        if (e.status === 401) throw e;
        return { task: t, error: e.message };
      }
    }));
  }

  function pushSample(key, sample) {
    const list = rates.get(key) || [];
    list.push(sample);
    while (list.length && list[0].t < sample.t - HISTORY_MS) list.shift();
    rates.set(key, list);
    return list;
  }

  // The measured read and write rates over time against the allocated ones, as an inline SVG.
  function chart(samples, alloc) {
    const W = 960, H = 260, L = 70, R = 10, T = 10, B = 28;
    const now = samples.length ? samples[samples.length - 1].t : Date.now();
    const t0 = now - HISTORY_MS;
    let top = Math.max(alloc.rbps, alloc.wbps, 1);
    for (const s of samples) top = Math.max(top, s.read_bps || 0, s.write_bps || 0);
    top *= 1.15;
    const x = (t) => L + ((t - t0) / HISTORY_MS) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', id: 'disk-chart', 'data-samples': String(samples.length),
      role: 'img', 'aria-label': 'measured read and write bandwidth over the last 5 minutes' });
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      g.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtRate(v)));
    }
    for (let m = 0; m <= 5; m++)
      g.append(svg('text', { x: x(t0 + m * 60000), y: H - 8, 'text-anchor': 'middle' }, m === 5 ? 'now' : '-' + (5 - m) + ' min'));
    for (const [k, cls] of [['rbps', 'alloc'], ['wbps', 'alloc']])
      if (alloc[k]) g.append(svg('line', { class: cls, x1: L, x2: W - R, y1: y(alloc[k]), y2: y(alloc[k]) }));
    for (const [k, cls] of [['read_bps', 'read'], ['write_bps', 'write']]) {
      const pts = samples.filter((s) => s[k] !== null).map((s) => x(s.t).toFixed(1) + ',' + y(s[k]).toFixed(1));
      if (pts.length) g.append(svg('polyline', { class: cls, points: pts.join(' ') }));
    }
    return g;
  }

  async function viewDisk(agentId, disk) {
    const [a, { tasks }] = await Promise.all([api('api/v1/agents/' + encodeURIComponent(agentId)), api('api/v1/tasks')]);
    const d = agentDisks(a).find((x) => x.name === disk);
    if (!d) return el('p', { class: 'error', id: 'error' }, 'Agent ' + agentId + ' offers no disk named ' + disk + '.');
    const alloc = allocatedOn(tasks, a.id, disk);
    const used = a.free && a.free.io_cost_used ? Number(a.free.io_cost_used[disk] || 0) : null;
    const per = await measuredOn(alloc.tasks.filter((t) => t.state !== 'STAGING'), disk);
    const sum = { read_bps: null, write_bps: null, read_iops: null, write_iops: null };
    for (const p of per)
      if (p.measured)
        for (const k of Object.keys(sum)) sum[k] = (sum[k] || 0) + Number(p.measured[k] || 0);
    const samples = pushSample(a.id + '/' + disk, Object.assign({ t: Date.now() }, sum));
    const fact = (dt, dd, id) => [el('dt', null, dt), el('dd', { id }, dd)];
    const dash = (v) => (v === null || v === undefined ? '–' : v);
    return el('div', null,
      el('h1', null, 'Disk ' + disk + ' on ' + (a.hostname || a.id)),
      el('section', { class: 'card' }, el('dl', { class: 'facts' },
        fact('Device', (d.path || '') + ' (' + (d.device || '?') + '), ' + (d.class || 'no class'), 'disk-device'),
        fact('Capacity (' + (d.source || 'unknown') + ')', 'read ' + fmtRate(d.read_bps) + ', write ' + fmtRate(d.write_bps) +
          ', ' + fmtIops(d.read_iops) + ' read, ' + fmtIops(d.write_iops) + ' write', 'disk-capacity'),
        fact('Allocated io cost', el('span', null, bar(used || 0), fmtPct(used)), 'disk-alloc-cost'),
        fact('Allocated', 'read ' + fmtRate(alloc.rbps) + ', write ' + fmtRate(alloc.wbps) + ', ' +
          fmtIops(alloc.riops) + ' read, ' + fmtIops(alloc.wiops) + ' write, to ' + alloc.tasks.length + ' task(s)', 'disk-alloc'),
        fact('Measured now (eBPF, sum of its tasks)', sum.write_bps === null && sum.read_bps === null
          ? 'no figures yet (the agent needs two snapshots, one second apart)'
          : 'read ' + fmtRate(sum.read_bps) + ', write ' + fmtRate(sum.write_bps) + ', ' +
            fmtIops(sum.read_iops) + ' read, ' + fmtIops(sum.write_iops) + ' write', 'disk-measured'))),
      el('h2', null, 'Measured bandwidth, last 5 minutes'),
      el('section', { class: 'card' }, chart(samples, alloc), el('p', { class: 'legend muted' },
        el('span', null, el('i', { class: 'read' }), 'read'),
        el('span', null, el('i', { class: 'write' }), 'write'),
        el('span', null, el('i', { class: 'alloc' }), 'allocated (read, write)'),
        el('span', null, 'sampled every ' + POLL_MS / 1000 + ' s while this page is open'))),
      el('h2', null, 'Tasks on this disk'),
      el('section', { class: 'card' }, table(['Task', 'State', '#Read limit', '#Read measured', '#Write limit',
        '#Write measured', '#p99 latency', 'Note'], per.map((p) => el('tr', { id: 'disk-task-' + p.task.id },
        el('td', null, taskLink(p.task)), el('td', null, state(p.task.state)),
        num(fmtRate(p.io ? p.io.rbps : null)), num(fmtRate(p.measured ? p.measured.read_bps : null)),
        num(fmtRate(p.io ? p.io.wbps : null)), num(fmtRate(p.measured ? p.measured.write_bps : null)),
        num(fmtUs(p.measured ? p.measured.p99_us : null)),
        el('td', null, dash(p.error || (p.measured ? '' : 'no measurement yet'))))), { id: 'disk-tasks' })));
  }

  // ---- a task: what it asked for, what is in force, what it uses ----

  function cpuUse(id, iso) {
    const now = Date.now();
    const usec = iso.usage && iso.usage.cpu ? Number(iso.usage.cpu.usage_usec) : null;
    const prev = cpuSeen.get(id);
    if (usec === null) return null;
    cpuSeen.set(id, { t: now, usec });
    if (!prev || now <= prev.t || usec < prev.usec) return null;
    return (usec - prev.usec) / 1000 / (now - prev.t);
  }

  async function viewTask(id) {
    const t = await api('api/v1/tasks/' + encodeURIComponent(id));
    let iso = null, isoError = null;
    if (['STARTING', 'RUNNING'].includes(t.state)) {
      try { iso = await api('api/v1/tasks/' + encodeURIComponent(id) + '/isolation'); } catch (e) {
        if (e.status === 401) throw e;
        isoError = e.message;
      }
    }
    const r = t.spec.resources || {};
    const lim = iso ? iso.limits : {};
    const use = iso ? iso.usage : {};
    const quota = lim.cpu_quota_usec === 'max' || !lim.cpu_period_usec ? null : lim.cpu_quota_usec / lim.cpu_period_usec;
    const cpus = iso ? cpuUse(id, iso) : null;
    // used / limit as a bar, for the figures that have both.
    const ofLimit = (u, l) => {
      if (u === null || u === undefined || l === null || l === undefined || l === 'max' || !Number(l)) return '–';
      const f = Number(u) / Number(l);
      return el('span', null, bar(f), fmtPct(f));
    };
    const row = (id, name, asked, inForce, used, part) =>
      el('tr', { id }, el('td', null, name), num(asked), num(inForce), num(used), num(part));
    const rows = [
      row('usage-cpu', 'CPUs', fmtCpus(r.cpus), quota === null ? (iso ? 'unlimited' : '–') : fmtCpus(quota),
        cpus === null ? '–' : fmtCpus(cpus), ofLimit(cpus, quota)),
      row('usage-mem', 'Memory', fmtBytes(r.mem), iso ? fmtBytes(lim.memory_max) : '–',
        iso ? fmtBytes(use.memory && use.memory.current) : '–', ofLimit(use.memory && use.memory.current, lim.memory_max)),
      row('usage-pids', 'PIDs', r.pids || '–', iso ? String(lim.pids_max) : '–',
        iso ? String(use.pids_current) : '–', ofLimit(use.pids_current, lim.pids_max)),
    ];
    (r.io || []).forEach((e, i) => {
      const disk = t.disks[i] || e.disk || '?';
      const inForce = iso ? (lim.io || []).find((x) => x.name === disk) : null;
      const m = inForce ? inForce.measured : null;
      for (const k of IO_LIMITS) {
        const got = m ? m[IO_MEASURED[k]] : null;
        rows.push(row('usage-io-' + i + '-' + k, disk + ' ' + k, e[k] ? fmtIo[k](e[k]) : '–',
          inForce ? fmtIo[k](inForce[k]) : '–', got === null || got === undefined ? '–' : fmtIo[k](got),
          inForce ? ofLimit(got, inForce[k]) : '–'));
      }
      if (m) rows.push(row('usage-io-' + i + '-latency', disk + ' latency', '–', '–',
        'p50 ' + fmtUs(m.p50_us) + ', p99 ' + fmtUs(m.p99_us), '–'));
    });
    const fact = (dt, dd, fid) => [el('dt', null, dt), el('dd', { id: fid }, dd)];
    return el('div', null,
      el('h1', null, 'Task ', el('span', { class: 'id' }, t.id), t.name ? ' (' + t.name + ')' : ''),
      el('section', { class: 'card' }, el('dl', { class: 'facts' },
        fact('State', state(t.state), 'task-state'),
        t.state === 'PENDING' ? fact('Why it waits', t.pending_reason || 'not tried yet', 'task-pending-reason') : null,
        t.reason && t.reason !== 'NONE' ? fact('Reason', t.reason, 'task-reason') : null,
        t.message ? fact('Message', t.message, 'task-message') : null,
        fact('Role', t.role, 'task-role'),
        fact('Agent', t.agent_id ? (t.hostname || '') + ' ' + t.agent_id : '–', 'task-agent'),
        fact('Command', (t.spec.command || []).join(' '), 'task-command'),
        fact('Submitted', new Date(t.created_ms).toLocaleString() + ' (' + fmtAge(t.created_ms) + ' ago)', 'task-created'))),
      el('h2', null, 'Limits and usage'),
      isoError ? el('p', { class: 'error', id: 'isolation-error' }, isoError) : null,
      el('section', { class: 'card' }, table(['Resource', '#Asked', '#In force', '#Used (measured)', '#Of the limit'], rows, { id: 'task-usage' }),
        iso ? null : el('p', { class: 'muted' }, 'Limits in force and usage are read from the task\'s agent while it runs.')));
  }

  // ---- the page ----

  async function render() {
    const gen = ++generation;
    const main = document.getElementById('main');
    clearTimeout(timer);
    document.getElementById('logout').hidden = !sessionStorage.getItem(TOKEN_KEY);
    if (!sessionStorage.getItem(TOKEN_KEY)) { main.replaceChildren(viewLogin()); return; }
    const parts = parseHash().path.split('/').filter(Boolean).map(decodeURIComponent);
    let view;
    try {
      if (parts.length === 0) view = await viewOverview();
      else if (parts[0] === 'tasks' && parts.length === 1) view = await viewTasks(false);
      else if (parts[0] === 'pending' && parts.length === 1) view = await viewTasks(true);
      else if (parts[0] === 'disk' && parts.length === 3) view = await viewDisk(parts[1], parts[2]);
      else if (parts[0] === 'task' && parts.length === 2) view = await viewTask(parts[1]);
      else view = el('p', { class: 'error', id: 'error' }, 'No such page: #' + parseHash().path);
    } catch (e) {
      if (gen !== generation) return;
      if (e.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        main.replaceChildren(viewLogin('The master refused the token: ' + e.message));
        return;
      }
      view = el('p', { class: 'error', id: 'error' }, e.message);
    }
    if (gen !== generation) return; // the user went elsewhere meanwhile
    main.replaceChildren(view);
    document.getElementById('refresh').textContent = 'updated ' + new Date().toLocaleTimeString();
    timer = setTimeout(render, POLL_MS);
  }

  document.getElementById('logout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    render();
  });
  window.addEventListener('hashchange', () => { takeToken(); render(); });
  takeToken();
  render();
})();

// mtsfarm dashboard. Every text from the farm goes into the page through
// textContent (never innerHTML): titles and names come from MTS Link.
'use strict';

const state = {
  jobs: new Map(),      // id -> job row
  samples: new Map(),   // id -> {t0, f0, t, f}: progress samples for rate and ETA
  job: null,            // the job page's record
  actions: false,       // the server allows actions
  token: sessionStorage.getItem('mtsfarm-token') || '',
  refreshTimer: null,
  jobTimer: null,
};

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k === 'style') Object.assign(e.style, v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else e[k] = v;
  }
  for (const kid of kids) {
    if (kid === undefined || kid === null || kid === false) continue;
    e.append(typeof kid === 'string' || typeof kid === 'number' ? document.createTextNode(String(kid)) : kid);
  }
  return e;
}

function fmtDuration(s) {
  if (!s && s !== 0) return '';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function fmtBytes(n) {
  if (!n) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

async function api(path, opts) {
  opts = opts || {};
  const headers = {};
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.auth && state.token) headers['Authorization'] = 'Bearer ' + state.token;
  const resp = await fetch(path, { method: opts.method || 'GET', headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  let data = null;
  try { data = await resp.json(); } catch (e) { /* empty */ }
  if (!resp.ok) throw new Error((data && data.error) || `${resp.status} ${resp.statusText}`);
  return data;
}

function say(text, ok) {
  const m = document.getElementById('message');
  m.textContent = text || '';
  m.className = 'message' + (ok ? ' ok' : '');
}

// Progress: the fraction, the rate seen by this page and the ETA.
function sample(id, fraction) {
  const now = Date.now() / 1000;
  const s = state.samples.get(id);
  if (!s || fraction < s.f) { state.samples.set(id, { t0: now, f0: fraction, t: now, f: fraction }); return; }
  s.t = now; s.f = fraction;
}

function rateText(job) {
  const p = job.progress || {};
  const parts = [];
  if (p.stage) parts.push(p.stage);
  if (p.rendered_seconds && job.duration) parts.push(`${fmtDuration(p.rendered_seconds)} of ${fmtDuration(job.duration)} rendered`);
  const s = state.samples.get(job.id);
  let eta = p.eta_seconds || 0;
  if (s && s.t - s.t0 >= 2 && s.f > s.f0) {
    const perSec = (s.f - s.f0) / (s.t - s.t0);
    parts.push(`${(perSec * 6000).toFixed(1)}%/min`);
    if (!eta) eta = (1 - s.f) / perSec;
  }
  if (eta && !isTerminal(job.state)) parts.push('ETA ' + fmtDuration(eta));
  return parts.join(' · ');
}

function isTerminal(s) { return s === 'done' || s === 'failed' || s === 'canceled'; }

function progressCell(job) {
  const f = isTerminal(job.state) && job.state === 'done' ? 1 : ((job.progress && job.progress.fraction) || 0);
  return el('td', { class: 'progress' },
    el('div', { class: 'bar', title: `${Math.round(f * 100)}%` }, el('div', { style: { width: `${(f * 100).toFixed(1)}%` } })),
    el('div', { class: 'rate', text: rateText(job) }));
}

function stateBadge(s) { return el('span', { class: `state state-${s}`, 'data-state': s, text: s }); }

function jobRow(job) {
  const title = job.title || '(title not known yet)';
  const link = el('a', { href: '#/job/' + encodeURIComponent(job.id), class: 'job-link', text: title });
  const tail = [];
  if (job.state === 'done' && job.output) tail.push(el('a', { href: `/api/jobs/${encodeURIComponent(job.id)}/output`, text: 'download' }));
  const tr = el('tr', { 'data-job': job.id, 'data-state': job.state },
    el('td', {}, stateBadge(job.state)),
    el('td', { class: 'title' }, link, job.course ? el('div', { class: 'muted', text: job.course }) : null,
      job.error ? el('div', { class: 'error', text: job.error }) : null),
    el('td', { text: fmtDuration(job.duration) }),
    progressCell(job),
    el('td', { text: job.warnings ? String(job.warnings) : '' }),
    el('td', { text: fmtTime(job.created) }),
    el('td', {}, ...tail));
  return tr;
}

function renderJobs() {
  const body = document.querySelector('#jobs tbody');
  const rows = [...state.jobs.values()].sort((a, b) => (b.created || '').localeCompare(a.created || ''));
  body.replaceChildren(...rows.map(jobRow));
  if (!rows.length) body.append(el('tr', {}, el('td', { colSpan: 7, class: 'muted', text: 'No jobs yet.' })));
}

async function loadJobs() {
  try {
    const rows = await api('/api/jobs');
    state.jobs = new Map(rows.map((r) => [r.id, r]));
    for (const r of rows) sample(r.id, (r.progress && r.progress.fraction) || 0);
    renderJobs();
  } catch (e) { say('Loading jobs: ' + e.message); }
}

async function loadWorkers() {
  try {
    const rows = await api('/api/workers');
    const body = document.querySelector('#workers tbody');
    body.replaceChildren(...rows.map((w) => el('tr', { 'data-worker': w.id },
      el('td', { text: w.id }),
      el('td', { text: (w.roles || []).join(', ') }),
      el('td', { text: w.host }),
      el('td', { text: [(w.encoders || []).join(', '), w.gpu].filter(Boolean).join(' / ') }),
      el('td', { text: (w.current || []).join(', ') || 'idle' }),
      el('td', { text: w.slots ? String(w.slots) : '' }),
      el('td', { text: w.speed ? w.speed.toFixed(2) + '× real time' : '' }),
      el('td', { text: String(w.done || 0) }),
      el('td', { class: w.failed ? 'bad' : '', text: String(w.failed || 0), title: w.last_failure || '' }),
      el('td', { text: fmtTime(w.seen) }))));
    if (!rows.length) body.append(el('tr', {}, el('td', { colSpan: 10, class: 'muted', text: 'No worker is present.' })));
  } catch (e) { say('Loading workers: ' + e.message); }
}

// refreshSoon coalesces the reloads that events ask for: at most one list
// (and one job page) request per second, however many events arrive.
function refreshSoon() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    loadJobs();
    loadWorkers();
    if (state.job) loadJob(state.job.id);
  }, 1000);
}

// The job page.
function fact(name, value) { return value ? [el('dt', { text: name }), el('dd', {}, value)] : []; }

function timeline(job) {
  const plan = job.plan;
  if (!plan) return el('p', { class: 'muted', text: job.plan_error || 'The plan is made once the recording is resolved.' });
  const d = plan.duration || 1;
  const pos = (a, b) => ({ left: `${(a / d * 100).toFixed(3)}%`, width: `${Math.max((b - a) / d * 100, 0.05).toFixed(3)}%` });
  const layouts = el('div', { class: 'track layouts' }, el('span', { class: 'label', text: 'layout' }),
    ...plan.windows.map((w) => el('div', { class: `span window layout-${w.layout || 'empty'}`, style: pos(w.start, w.end),
      title: `${w.layout} ${fmtDuration(w.start)}–${fmtDuration(w.end)}, ${w.sources} shown${w.slide ? ', a slide' : ''}`,
      'data-layout': w.layout, text: w.layout })));
  const slides = el('div', { class: 'track slides' }, el('span', { class: 'label', text: 'slides' }),
    ...(plan.slides || []).map((s, i) => el('div', { class: 'slide-tick', style: { left: `${(s.start / d * 100).toFixed(3)}%` },
      title: `slide ${s.number || i + 1} at ${fmtDuration(s.start)}` }, el('span', { text: String(s.number || i + 1) }))));
  const unitState = new Map((job.units || []).map((u) => [u.index, u]));
  const units = el('div', { class: 'track units' }, el('span', { class: 'label', text: 'units' }),
    ...plan.units.map((p) => {
      const u = unitState.get(p.index) || {};
      const st = u.state || 'pending';
      const label = `unit ${p.index + 1} · ${st}${u.worker ? ' · ' + u.worker : ''}`;
      return el('div', { class: `span unit unit-${st}`, style: pos(p.start, p.end), 'data-unit': p.index, 'data-state': st,
        title: label + (u.error ? ' — ' + u.error : ''), text: label });
    }));
  const ticks = [];
  const step = d > 7200 ? 1800 : d > 1800 ? 600 : d > 300 ? 60 : 10;
  for (let t = 0; t <= d; t += step) ticks.push(el('span', { style: { left: `${(t / d * 100).toFixed(3)}%` }, text: fmtDuration(t) }));
  const legend = el('div', { class: 'legend' }, ...['single', 'presenter', 'slides', 'grid'].map((l) =>
    el('span', {}, el('i', { class: `layout-${l}` }), l)));
  return el('div', {}, legend, el('div', { class: 'timeline', id: 'timeline' }, layouts, slides, units, el('div', { class: 'axis' }, ...ticks)),
    el('p', { class: 'muted', text: `${plan.width}×${plan.height}, ${plan.sources} media sessions (${plan.absent} absent), ${plan.voices} audio-only voices mixed at the end, ${(plan.slides || []).length} slide changes, ${plan.units.length} render units.` }));
}

function actionButtons(job) {
  if (!state.actions) return null;
  const box = el('div', { class: 'actions' });
  const act = (verb, body) => async () => {
    try {
      await api(`/api/jobs/${encodeURIComponent(job.id)}/${verb}`, { method: 'POST', body: body || {}, auth: true });
      say(`${verb}: done`, true);
      refreshSoon();
    } catch (e) { say(`${verb}: ${e.message}`); }
  };
  if (!isTerminal(job.state)) {
    box.append(el('button', { class: 'secondary', id: 'cancel', onclick: act('cancel'), text: 'Cancel' }));
    // Priority is a lane: its next fetches and units go before (or after)
    // those of normal jobs.
    box.append(el('button', { class: 'secondary', id: 'priority-high', onclick: act('priority', { priority: 1 }), text: 'High priority' }));
    box.append(el('button', { class: 'secondary', id: 'priority-normal', onclick: act('priority', { priority: 0 }), text: 'Normal priority' }));
  }
  if (job.state === 'failed' || job.state === 'canceled') box.append(el('button', { id: 'retry', onclick: act('retry'), text: 'Retry' }));
  // A job done with sources left out (warnings) can fetch them again.
  if (job.state === 'done' && (job.warning_list || []).length > 0) {
    box.append(el('button', { class: 'secondary', id: 'retry', onclick: act('retry'), text: 'Fetch left-out sources again' }));
  }
  return box;
}

function renderJob(job) {
  const view = document.getElementById('job-view');
  const units = (job.units || []).map((u) => el('tr', { 'data-unit': u.index },
    el('td', { text: String(u.index + 1) }), el('td', { text: `${fmtDuration(u.start)}–${fmtDuration(u.end)}` }),
    el('td', {}, stateBadge(u.state)), el('td', { text: u.worker || '' }), el('td', { text: u.encoder || '' }),
    el('td', { text: u.elapsed ? fmtDuration(u.elapsed) : (u.rendered ? fmtDuration(u.rendered) + ' rendered' : '') }),
    el('td', { class: 'error', text: u.error || (u.failures ? `${u.failures} failed attempts` : '') })));
  const chunkStates = Object.entries((job.chunks && job.chunks.states) || {}).map(([k, v]) => `${v} ${k}`).join(', ');
  view.replaceChildren(...[
    el('p', {}, el('a', { href: '#/', text: '← all jobs' })),
    el('h2', { id: 'job-title', text: job.title || job.id }),
    el('div', { id: 'job-state', 'data-state': job.state }, stateBadge(job.state), ' ', el('span', { class: 'rate', text: rateText(job) })),
    job.error ? el('p', { class: 'error', id: 'job-error', text: job.error }) : null,
    actionButtons(job),
    el('dl', { class: 'facts' },
      ...fact('Job', job.id), ...fact('Course', job.course), ...fact('Recording', job.url),
      ...fact('Length', fmtDuration(job.duration)), ...fact('Picture', job.width ? `${job.width}×${job.height}` : ''),
      ...fact('Chunks', job.chunks && job.chunks.total ? `${job.chunks.total} (${chunkStates}), ${fmtBytes(job.chunks.bytes)}` : ''),
      ...fact('Output', job.state === 'done' && job.output ? el('a', { id: 'download', href: `/api/jobs/${encodeURIComponent(job.id)}/output`, text: `${job.output} (${fmtBytes(job.output_size)})` }) : ''),
      ...fact('Created', fmtTime(job.created)), ...fact('Finished', fmtTime(job.finished)),
      ...fact('Time per stage', job.timings ? Object.entries(job.timings).map(([k, v]) => `${k} ${fmtDuration(v)}`).join(', ') : '')),
    (job.warning_list || []).length ? el('div', {}, el('h2', { text: 'Warnings' }), el('ul', {}, ...job.warning_list.map((w) => el('li', { text: w })))) : null,
    el('h2', { text: 'Timeline' }), timeline(job),
    el('h2', { text: 'Units' }),
    el('table', {}, el('thead', {}, el('tr', {}, ...['Unit', 'Span', 'State', 'Renderer', 'Encoder', 'Time', ''].map((h) => el('th', { text: h })))),
      el('tbody', {}, ...units)),
    (job.bad_chunks || []).length ? el('div', {}, el('h2', { text: 'Chunks with trouble' }), el('ul', {},
      ...job.bad_chunks.map((c) => el('li', { text: `${c.kind} ${c.index}: ${c.state}${c.attempts ? `, ${c.attempts} attempts` : ''}${c.error ? ' — ' + c.error : ''}` })))) : null,
  ].filter(Boolean));
}

async function loadJob(id) {
  try {
    const job = await api('/api/jobs/' + encodeURIComponent(id));
    sample(job.id, (job.progress && job.progress.fraction) || 0);
    state.job = job;
    if (location.hash === '#/job/' + encodeURIComponent(id)) renderJob(job);
  } catch (e) { say('Loading the job: ' + e.message); }
}

function route() {
  const m = location.hash.match(/^#\/job\/([a-z0-9_-]+)$/);
  document.getElementById('list-view').hidden = !!m;
  document.getElementById('job-view').hidden = !m;
  if (m) { state.job = { id: m[1] }; loadJob(m[1]); } else { state.job = null; loadJobs(); loadWorkers(); }
}

// Live: the job events, as server-sent events.
function connect() {
  const live = document.getElementById('live');
  const es = new EventSource('/api/events');
  es.onopen = () => { live.textContent = 'live'; live.className = 'live on'; refreshSoon(); };
  es.onerror = () => { live.textContent = 'reconnecting'; live.className = 'live off'; };
  es.addEventListener('resync', refreshSoon);
  es.addEventListener('job', (msg) => {
    let ev;
    try { ev = JSON.parse(msg.data); } catch (e) { return; }
    const job = state.jobs.get(ev.job);
    if (ev.kind === 'progress' && ev.progress && job) {
      job.progress = ev.progress;
      sample(job.id, ev.progress.fraction || 0);
      const row = document.querySelector(`#jobs tr[data-job="${CSS.escape(job.id)}"]`);
      if (row) row.replaceWith(jobRow(job));
      if (state.job && state.job.id === ev.job && state.job.units) {
        state.job.progress = ev.progress;
        const r = document.querySelector('#job-state .rate');
        if (r) r.textContent = rateText(state.job);
      }
      return;
    }
    refreshSoon();
  });
}

async function start() {
  try { state.actions = (await api('/api/session')).actions; } catch (e) { /* read-only */ }
  const mode = document.getElementById('mode');
  const unlocked = async () => {
    if (!state.actions) { mode.textContent = 'read-only (no --http-token)'; return; }
    if (!state.token) { mode.textContent = 'read-only'; return; }
    try {
      await api('/api/login', { method: 'POST', body: {}, auth: true });
      mode.textContent = 'actions on';
      document.getElementById('submit').hidden = false;
    } catch (e) { mode.textContent = e.message; state.token = ''; sessionStorage.removeItem('mtsfarm-token'); }
  };
  document.getElementById('login').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = document.getElementById('token').value;
    sessionStorage.setItem('mtsfarm-token', state.token);
    document.getElementById('token').value = '';
    unlocked();
  });
  document.getElementById('submit').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { urls: document.getElementById('urls').value, course: document.getElementById('course').value,
      session_cookie: document.getElementById('cookie').value };
    try {
      const reply = await api('/api/submit', { method: 'POST', body, auth: true });
      const jobs = reply.jobs || [];
      say(`Submitted ${jobs.length} recording${jobs.length === 1 ? '' : 's'}: ${jobs.map((j) => j.id + (j.existing ? ' (already there)' : '')).join(', ')}`, true);
      document.getElementById('urls').value = '';
      document.getElementById('cookie').value = '';
      loadJobs();
    } catch (err) { say('Submitting: ' + err.message); }
  });
  await unlocked();
  window.addEventListener('hashchange', route);
  route();
  connect();
  // Presence changes are not events: the workers table is also read every 15 s.
  setInterval(() => { if (!state.job) loadWorkers(); }, 15000);
}

start();

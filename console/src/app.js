// The analyst console: a client of the convsearch v1 API like any other.
// The token lives in sessionStorage (this tab only) and travels in the
// Authorization header, never in a URL. Text from the API is put in the
// page as text nodes only; highlights (<em>) are rebuilt as elements by
// appendHighlighted, so nothing the API returns can become markup.

const TOKEN_KEY = 'convsearch.token';
const $ = (id) => document.getElementById(id);

const ROLES = { interviewer: 'Entrevistador/a', beneficiary: 'Persona atendida', other: 'Otra persona' };
const fechaLarga = new Intl.DateTimeFormat('es-ES', { dateStyle: 'long', timeZone: 'UTC' });
const fechaMes = new Intl.DateTimeFormat('es-ES', { month: 'long', year: 'numeric', timeZone: 'UTC' });

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, { method = 'GET', body, accept } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (accept) headers.Accept = accept;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'No se puede conectar con el servidor.');
  }
  if (!res.ok) {
    let code = 'error';
    let message = `El servidor respondió ${res.status}.`;
    try {
      const j = await res.json();
      code = j.error?.code ?? code;
      message = j.error?.message ?? message;
    } catch {
      /* not JSON: keep the generic message */
    }
    if (res.status === 401) {
      signOut('La sesión no es válida o ha caducado: vuelva a entrar con su token.');
    }
    throw new ApiError(res.status, code, message);
  }
  return accept ? res : res.json();
}

// ------------------------------------------------------------ highlights

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
function unescapeHtml(s) {
  return s.replace(/&(?:amp|lt|gt|quot|#39);/g, (m) => ENTITIES[m]);
}

// Appends an API highlight (HTML-escaped text with <em>…</em>) to el as
// text nodes and <mark> elements: only the <em> tags are read as tags.
function appendHighlighted(el, html) {
  const parts = String(html).split(/(<\/?em>)/);
  let depth = 0;
  for (const part of parts) {
    if (part === '<em>') depth++;
    else if (part === '</em>') depth = Math.max(0, depth - 1);
    else if (part) {
      const text = document.createTextNode(unescapeHtml(part));
      if (depth > 0) {
        const mark = document.createElement('mark');
        mark.appendChild(text);
        el.appendChild(mark);
      } else {
        el.appendChild(text);
      }
    }
  }
  return el;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function tiempo(ms) {
  if (ms == null || ms < 0) return '–';
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

// Speaker labels: analysts get the role's name where the label named a
// person who is not the one the conversation is about.
function quien(s) {
  return ROLES[s.speaker] ?? s.speaker ?? ROLES[s.role] ?? s.role;
}

function fecha(iso) {
  return iso ? fechaLarga.format(new Date(iso)) : 'Fecha desconocida';
}

function showError(id, message) {
  const p = $(id);
  p.textContent = message;
  p.hidden = !message;
}

// ------------------------------------------------------------ sign in/out

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $('app').hidden = true;
  $('salir').hidden = true;
  $('acceso').hidden = false;
  /* Nothing of this session stays for the next person at the screen. */
  generation++;
  $('form-buscar').reset();
  $('resultados').replaceChildren();
  $('estado').textContent = '';
  $('mas').hidden = true;
  $('transcripcion').hidden = true;
  $('tr-turnos').replaceChildren();
  $('lista-personas').replaceChildren();
  $('sugerencias').replaceChildren();
  for (const g of Object.keys(charts)) {
    charts[g].destroy();
    delete charts[g];
  }
  for (const [, , tableId] of GROUPS) $(tableId).replaceChildren();
  showError('acceso-error', message || '');
  $('token').focus();
  $('token').select(); /* typing again replaces a wrong token */
}

async function signIn(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
  try {
    await api('/v1/patients?limit=1');
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    const msg = e.status === 401 ? 'El token no es válido o ha caducado.'
      : e.status === 403 ? 'Este token no puede usar la consola.' : e.message;
    signOut(msg);
    return;
  }
  showError('acceso-error', '');
  $('token').value = '';
  $('acceso').hidden = true;
  $('app').hidden = false;
  $('salir').hidden = false;
  $('q').focus();
  await Promise.all([search(), loadPeople(true)]);
}

// ------------------------------------------------------------ search

// Bumped by every search and sign-out: answers to older requests are
// dropped instead of drawn over newer ones.
let generation = 0;
let lastQuery = null;
let suggestTimer = null;
let suggestSeq = 0;
let nextCursor = null;

function filters() {
  const p = new URLSearchParams();
  p.set('q', $('q').value.trim());
  if ($('desde').value) p.set('from', $('desde').value);
  if ($('hasta').value) p.set('to', $('hasta').value);
  if ($('responsable').value) p.set('owner', $('responsable').value);
  if ($('rol').value) p.set('role', $('rol').value);
  return p;
}

function fillSelect(select, items, label) {
  const keep = select.value;
  const first = select.options[0];
  select.replaceChildren(first);
  for (const it of items) {
    if (it.key === null) continue;
    select.append(el('option', { value: String(it.key), text: `${label(it.key)} (${it.count})` }));
  }
  select.value = keep;
  if (select.value !== keep) select.value = '';
}

// Category is not a search filter of the API: the hits of the page are
// kept when their intake checklist covers the category (the same test as
// the category facet and analytics).
async function coversCategory(hit, category) {
  const c = await api(`/v1/conversations/${hit.conversation_id}/checklist`);
  return c.items.some((i) => i.covered && i.category === category);
}

async function search(more = false) {
  showError('buscar-error', '');
  /* A suggestion still on its way would reopen the list over the hits. */
  clearTimeout(suggestTimer);
  suggestSeq++;
  $('sugerencias').hidden = true;
  const p = filters();
  if (more && nextCursor) p.set('cursor', nextCursor);
  else p.set('facets', 'month,owner,category,role');
  p.set('limit', '20');
  $('estado').textContent = 'Buscando…';
  const mine = ++generation;
  let r;
  try {
    r = await api(`/v1/search?${p}`);
  } catch (e) {
    if (mine !== generation) return;
    $('estado').textContent = '';
    showError('buscar-error', e.message);
    return;
  }
  if (mine !== generation) return;
  lastQuery = p.get('q');
  nextCursor = r.next_cursor;
  let hits = r.hits;
  const category = $('categoria').value;
  if (category) {
    const keep = await Promise.all(hits.map((h) => coversCategory(h, category).catch(() => false)));
    hits = hits.filter((_, i) => keep[i]);
    if (mine !== generation) return;
  }
  if (!more) {
    $('resultados').replaceChildren();
    if (r.facets) {
      fillSelect($('responsable'), r.facets.owner ?? [], (k) => `Responsable ${k}`);
      fillSelect($('categoria'), r.facets.category ?? [], (k) => k);
    }
  }
  for (const h of hits) $('resultados').append(renderHit(h));
  const n = r.total;
  $('estado').textContent = n === 0 ? 'No hay conversaciones que coincidan.'
    : `${n} ${n === 1 ? 'conversación coincide' : 'conversaciones coinciden'}${r.relaxed ? ' (sin alguna de las palabras)' : ''}${category ? `; en esta página, ${hits.length} de la categoría «${category}»` : ''}.`;
  $('mas').hidden = !nextCursor;
  drawCharts(mine);
}

function renderHit(h) {
  const li = el('li', { class: 'hit', 'data-conversation': String(h.conversation_id) });
  const titulo = el('h3', { class: 'hit-titulo' });
  appendHighlighted(titulo, h.title_highlight);
  li.append(titulo);
  const meta = el('p', { class: 'meta' },
    el('span', { class: 'persona', text: h.patient_name ?? `Persona ${h.patient_id}` }), ' · ',
    el('time', { datetime: h.created_at ?? '', text: fecha(h.created_at) }), ' · ',
    el('span', { class: 'responsable', text: `Responsable ${h.owner_id}` }));
  li.append(meta);
  if (h.description_highlight) li.append(appendHighlighted(el('p', { class: 'descripcion' }), h.description_highlight));
  const ul = el('ul', { class: 'snippets' });
  for (const s of h.snippets) {
    const item = el('li', { class: 'snippet' },
      el('span', { class: 'quien', text: `${quien(s)} (${tiempo(s.start_ms)})` }), ' ');
    appendHighlighted(item, s.text);
    ul.append(item);
  }
  li.append(ul);
  const seq = h.snippets.length ? h.snippets[0].seq : null;
  const b = el('button', { type: 'button', class: 'abrir', text: 'Ver transcripción' });
  b.setAttribute('aria-label', `Ver transcripción: ${h.title ?? 'sin título'}`);
  b.addEventListener('click', () => openTranscript(h.conversation_id, seq, b));
  li.append(b);
  return li;
}

// ------------------------------------------------------------ transcript

let opener = null;

async function openTranscript(id, seq, from) {
  opener = from;
  const q = lastQuery ?? '';
  let c;
  try {
    c = await api(`/v1/conversations/${id}${q ? `?q=${encodeURIComponent(q)}` : ''}`);
  } catch (e) {
    showError('buscar-error', e.message);
    return;
  }
  const sec = $('transcripcion');
  $('tr-titulo').textContent = c.title ?? 'Conversación sin título';
  $('tr-datos').textContent = `${fecha(c.created_at)} · duración ${tiempo(c.duration_ms)}${c.description ? ` · ${c.description}` : ''}`;
  const ol = $('tr-turnos');
  ol.replaceChildren();
  let target = null;
  for (const s of c.segments) {
    const li = el('li', { class: 'turno', 'data-seq': String(s.seq), tabindex: '-1' },
      el('span', { class: 'tiempos', text: `${tiempo(s.start_ms)}–${tiempo(s.end_ms)}` }), ' ',
      el('span', { class: 'quien', text: quien(s) }), ' ');
    const texto = el('span', { class: 'texto' });
    if (q) appendHighlighted(texto, s.text);
    else texto.textContent = s.text;
    li.append(texto);
    if (s.seq === seq) {
      li.classList.add('coincide');
      li.setAttribute('aria-current', 'true');
      target = li;
    }
    ol.append(li);
  }
  sec.hidden = false;
  (target ?? sec).scrollIntoView({ block: 'center' });
  (target ?? sec).focus({ preventScroll: true });
}

function closeTranscript() {
  $('transcripcion').hidden = true;
  if (opener) opener.focus();
}

// ------------------------------------------------------------ suggestions


function onType() {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(suggest, 150);
}

async function suggest() {
  const q = $('q').value;
  const mine = ++suggestSeq;
  const ul = $('sugerencias');
  if (!q.trim()) {
    ul.replaceChildren();
    ul.hidden = true;
    return;
  }
  let r;
  try {
    r = await api(`/v1/suggest?q=${encodeURIComponent(q)}&limit=8`);
  } catch {
    return;
  }
  if (mine !== suggestSeq) return; /* a newer keystroke won */
  ul.replaceChildren();
  for (const s of r.suggestions) {
    const b = el('button', { type: 'button', class: `sugerencia ${s.kind}`, text: s.text });
    if (s.kind === 'person') b.append(el('span', { class: 'tipo', text: ' · persona' }));
    b.addEventListener('click', () => {
      $('q').value = s.text;
      ul.hidden = true;
      search();
    });
    ul.append(el('li', {}, b));
  }
  ul.hidden = r.suggestions.length === 0;
}

function suggestKeys(ev) {
  const ul = $('sugerencias');
  const buttons = [...ul.querySelectorAll('button')];
  if (ul.hidden || !buttons.length) return;
  const i = buttons.indexOf(document.activeElement);
  if (ev.key === 'ArrowDown') {
    ev.preventDefault();
    buttons[Math.min(i + 1, buttons.length - 1)].focus();
  } else if (ev.key === 'ArrowUp' && i >= 0) {
    ev.preventDefault();
    if (i === 0) $('q').focus();
    else buttons[i - 1].focus();
  } else if (ev.key === 'Escape') {
    ul.hidden = true;
    $('q').focus();
  }
}

// ------------------------------------------------------------ people

let peopleCursor = null;

async function loadPeople(reset) {
  const p = new URLSearchParams({ sort: 'name', limit: '100' });
  if (!reset && peopleCursor) p.set('cursor', peopleCursor);
  let r;
  try {
    r = await api(`/v1/patients?${p}`);
  } catch (e) {
    showError('buscar-error', e.message);
    return;
  }
  if (reset) $('lista-personas').replaceChildren();
  for (const x of r.items) {
    $('lista-personas').append(el('li', { class: 'persona-item', 'data-id': String(x.id) },
      el('span', { class: 'nombre', text: x.name }),
      el('span', { class: 'n', text: ` · ${x.conversations} ${x.conversations === 1 ? 'conversación' : 'conversaciones'}` })));
  }
  peopleCursor = r.next_cursor;
  $('mas-personas').hidden = !peopleCursor;
}

// ------------------------------------------------------------ charts

const charts = {};
const GROUPS = [
  ['month', 'g-mes', 't-mes', (k) => (k ? fechaMes.format(new Date(`${k}-01T00:00:00Z`)) : 'Sin fecha')],
  ['category', 'g-categoria', 't-categoria', (k) => k ?? 'Sin categoría'],
  ['owner', 'g-responsable', 't-responsable', (k) => `Responsable ${k}`],
];

async function drawCharts(mine) {
  const p = filters();
  const body = { q: p.get('q'), filters: {} };
  for (const k of ['from', 'to', 'owner', 'role']) {
    if (p.get(k)) body.filters[k] = k === 'owner' ? Number(p.get(k)) : p.get(k);
  }
  for (const [group, canvasId, tableId, label] of GROUPS) {
    let r;
    try {
      r = await api('/v1/analytics', { method: 'POST', body: { ...body, group_by: group } });
    } catch (e) {
      if (mine === generation) showError('buscar-error', e.message);
      return;
    }
    if (mine !== generation) return;
    const labels = r.buckets.map((b) => label(b.key));
    const data = r.buckets.map((b) => b.conversations);
    const table = $(tableId);
    table.replaceChildren(el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Grupo' }), el('th', { scope: 'col', text: 'Conversaciones' }))));
    const tb = el('tbody');
    r.buckets.forEach((b, i) => tb.append(el('tr', {}, el('th', { scope: 'row', text: labels[i] }), el('td', { text: String(data[i]) }))));
    table.append(tb);
    if (!window.Chart) continue;
    if (charts[group]) {
      charts[group].data.labels = labels;
      charts[group].data.datasets[0].data = data;
      charts[group].update();
    } else {
      charts[group] = new window.Chart($(canvasId), {
        type: 'bar',
        data: { labels, datasets: [{ label: 'Conversaciones', data, backgroundColor: '#cc0000' }] },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    }
  }
}

// ------------------------------------------------------------ export

async function exportCsv() {
  showError('buscar-error', '');
  const p = filters();
  p.set('format', 'csv');
  $('estado').textContent = 'Exportando…';
  let res;
  try {
    res = await api(`/v1/export?${p}`, { accept: 'text/csv' });
  } catch (e) {
    $('estado').textContent = '';
    showError('buscar-error', e.message);
    return;
  }
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: 'convsearch-exportacion.csv' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  $('estado').textContent = 'Exportación descargada (CSV).';
}

// ------------------------------------------------------------ wiring

function start() {
  $('form-acceso').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (t) signIn(t);
  });
  $('salir').addEventListener('click', () => signOut(''));
  $('form-buscar').addEventListener('submit', (ev) => {
    ev.preventDefault();
    $('sugerencias').hidden = true;
    search();
  });
  $('q').addEventListener('input', onType);
  $('q').addEventListener('keydown', suggestKeys);
  $('sugerencias').addEventListener('keydown', suggestKeys);
  for (const id of ['desde', 'hasta', 'responsable', 'categoria', 'rol']) $(id).addEventListener('change', () => search());
  $('mas').addEventListener('click', () => search(true));
  $('mas-personas').addEventListener('click', () => loadPeople(false));
  $('exportar').addEventListener('click', exportCsv);
  $('tr-cerrar').addEventListener('click', closeTranscript);
  $('transcripcion').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') closeTranscript();
  });
  const t = token();
  if (t) signIn(t);
  else $('token').focus();
}

start();

// Browser test of the analyst console (run by run.sh): Debian's chromium,
// driven by playwright-core, against the real server. What a person would
// notice: a wrong token says so; an analyst signs in, types a word and
// gets suggestions, sees it highlighted in a hit with a pseudonym, opens
// the transcript at the matched turn with its times, filters by owner,
// sees charts of the real analytics counts and exports a CSV that reads
// back with Python's csv module; a portal employee sees only their own
// people, in Spanish order. Also: the CSP header, no console errors, every
// control labelled, and no horizontal overflow on a phone. Screenshots in
// CS_WORK.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const url = process.env.CS_URL;
const work = process.env.CS_WORK;
const tok = {
  analyst: process.env.CS_TOKEN_ANALYST,
  portal1: process.env.CS_TOKEN_PORTAL1,
  portal2: process.env.CS_TOKEN_PORTAL2,
};

let failures = 0;
let passed = 0;
function check(ok, what, detail) {
  if (ok) {
    passed++;
    console.log(`ok: ${what}`);
  } else {
    failures++;
    console.error(`FAIL: ${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
  }
}

async function apiJson(path, token, init = {}) {
  const res = await fetch(url + path, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  return res.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CS_CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, locale: 'es-ES' });
const page = await context.newPage();
const consoleErrors = [];
let expect401 = false;
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  // The failed sign-ins answer 401 on purpose; Chromium logs the fetch.
  if (expect401 && /401/.test(m.text())) return;
  consoleErrors.push(m.text());
});
page.on('pageerror', (e) => consoleErrors.push(String(e)));

// Facets of /v1/search against SQL GROUP BY over the same matches in the
// stores: conversations with a turn holding the word (words that only
// ever occur as themselves, so the index and ILIKE agree), per month,
// owner and role of the matching turns, for an analyst and a portal
// employee (whose facets count only their own people).
function sqlGroups(word, employee) {
  const own = employee ? `AND p.owner_id = ${Number(employee)}` : '';
  const m = `FROM segments s JOIN conversations c ON c.id = s.conversation_id
             JOIN patients p ON p.id = c.patient_id
             WHERE s.text ILIKE '%${word}%' ${own}`;
  const q = (select, key) => execFileSync('psql', [process.env.CS_PG, '-At', '-F', '\t', '-c',
    `SELECT ${select}, count(DISTINCT c.id) ${m} GROUP BY 1 ORDER BY 1`]).toString()
    .trim().split('\n').filter(Boolean).map((l) => {
      const [k, n] = l.split('\t');
      return { key: key(k), count: Number(n) };
    });
  return {
    month: q("to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM')", String),
    owner: q('p.owner_id', Number),
    role: q('s.role::text', String),
  };
}

async function facetsMatchSql() {
  for (const [who, employee] of [['analyst', 0], ['portal1', 1], ['portal2', 2]]) {
    for (const word of ['desahucio', 'albergue', 'pasaporte', 'cocinero']) {
      const r = await apiJson(`/v1/search?q=${word}&facets=month,owner,role`, tok[who]);
      const want = sqlGroups(word, employee);
      // Roles come in the index's role order, SQL sorts by name.
      const byKey = (a) => [...a].sort((x, y) => String(x.key).localeCompare(String(y.key)));
      const got = { month: r.facets.month, owner: r.facets.owner, role: byKey(r.facets.role) };
      check(JSON.stringify(got) === JSON.stringify(want), `facets of "${word}" for ${who} equal SQL GROUP BY`, { got, want });
    }
  }
}

const t0 = Date.now();
try {
  await facetsMatchSql();

  // ------------------------------------------------------------ the page and its headers
  const first = await page.goto(`${url}/console/`);
  const csp = first.headers()['content-security-policy'] ?? '';
  check(first.status() === 200, 'GET /console/ answers 200', first.status());
  check(/script-src 'self'/.test(csp) && /style-src 'self'/.test(csp) && !/unsafe-inline/.test(csp) && /default-src 'none'/.test(csp),
    'a strict Content-Security-Policy', csp);
  check((await page.locator('html').getAttribute('lang')) === 'es', 'the page is in Spanish');
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label'))
      .map((e) => e.id));
  check(unlabelled.length === 0, 'every control has a label', unlabelled);
  const inlineCode = await page.evaluate(() =>
    document.querySelectorAll('script:not([src]), style, [style], [onclick], [onload]').length);
  check(inlineCode === 0, 'no inline script or style in the page', inlineCode);

  // ------------------------------------------------------------ a wrong token
  expect401 = true;
  await page.locator('input[type=password]').fill('no-es-un-token');
  await page.keyboard.press('Enter');
  await page.locator('#acceso-error').waitFor({ state: 'visible', timeout: 5000 });
  check(/no es válido/.test(await page.locator('#acceso-error').innerText()), 'a wrong token shows an error');
  check(await page.locator('#app').isHidden(), 'a wrong token does not open the console');
  await page.screenshot({ path: join(work, 'wrong-token.png'), fullPage: true });
  expect401 = false;

  // ------------------------------------------------------------ analyst: sign in with the keyboard
  await page.locator('input[type=password]').focus();
  await page.keyboard.type(tok.analyst);
  await page.keyboard.press('Enter');
  await page.locator('#app').waitFor({ state: 'visible', timeout: 5000 });
  const stored = await page.evaluate(() => sessionStorage.getItem('convsearch.token'));
  check(stored === tok.analyst && !page.url().includes(tok.analyst), 'the token is in sessionStorage, not in the URL');
  check(await page.evaluate(() => document.activeElement?.type === 'search'), 'the search box has the focus after signing in');

  // ------------------------------------------------------------ as-you-type suggestions
  const box = page.locator('input[type=search]');
  await box.pressSequentially('desah', { delay: 40 });
  const sug = page.locator('#sugerencias button', { hasText: 'desahucio' });
  await sug.first().waitFor({ state: 'visible', timeout: 5000 });
  check(true, 'typing "desah" suggests "desahucio"');
  // The keyboard reaches the suggestion: arrow down, Enter.
  await box.press('ArrowDown');
  check(await page.evaluate(() => document.activeElement?.classList.contains('sugerencia')), 'arrow down moves to the suggestions');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#resultados .hit').length > 0, null, { timeout: 5000 });
  check((await box.inputValue()) === 'desahucio', 'choosing the suggestion searches it', await box.inputValue());

  // ------------------------------------------------------------ highlighted hits, pseudonyms
  const hits = page.locator('#resultados .hit');
  check((await hits.count()) === 2, 'two hits for "desahucio"', await hits.count());
  const marks = await page.locator('#resultados .snippet mark').allInnerTexts();
  check(marks.length > 0 && marks.every((m) => /desahucio/i.test(m)), 'the word is highlighted in the snippets', marks);
  const people = await page.locator('#resultados .persona').allInnerTexts();
  check(people.length === 2 && people.every((p) => /^Persona [0-9a-z]{13}$/.test(p)), 'analysts see pseudonyms', people);
  const body = await page.locator('body').innerText();
  check(!/Álvaro|Núñez|Fátima|Amrani/.test(body), 'no real name on the analyst page');
  const h1000 = page.locator('#resultados .hit[data-conversation="1000"]');
  check((await h1000.locator('time').innerText()) === '1 de septiembre de 2026', 'the date is shown in Spanish', await h1000.locator('time').innerText());
  check((await h1000.locator('.responsable').innerText()) === 'Responsable 1', 'the owner is shown');
  await page.screenshot({ path: join(work, 'search.png'), fullPage: true });

  // Title highlight and markup from the data stays text.
  await box.fill('albergue');
  await box.press('Enter');
  await page.waitForFunction(() => document.querySelector('#resultados .hit-titulo mark'), null, { timeout: 5000 });
  const titleMark = await page.locator('#resultados .hit-titulo mark').first().innerText();
  check(/albergue/i.test(titleMark), 'the title is highlighted too', titleMark);
  check(/"difícil"/.test(await page.locator('#resultados .hit-titulo').first().innerText()), 'quotes in a title are text');
  await page.waitForFunction(() => /<b>municipal<\/b> &/.test(document.querySelector('#resultados').textContent), null, { timeout: 5000 });
  check((await page.locator('#resultados b').count()) === 0, 'markup in a turn is shown as text, never as markup');
  await page.waitForTimeout(400); /* a late suggestion must not reopen the list */
  check(await page.locator('#sugerencias').isHidden(), 'the suggestions close when the search runs');

  // ------------------------------------------------------------ transcript at the matched turn
  await box.fill('desahucio');
  await box.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#resultados .hit').length === 2, null, { timeout: 5000 });
  await page.locator('#resultados .hit[data-conversation="1000"] button.abrir').click();
  const current = page.locator('#tr-turnos li.coincide');
  await current.waitFor({ state: 'visible', timeout: 5000 });
  check((await current.getAttribute('data-seq')) === '1', 'the transcript opens at the matched turn (seq 1)', await current.getAttribute('data-seq'));
  check((await current.locator('.tiempos').innerText()) === '0:04–0:15', 'the turn shows its times', await current.locator('.tiempos').innerText());
  check(/desahucio/i.test(await current.locator('mark').first().innerText()), 'the matched word is highlighted in the transcript');
  check(await page.evaluate(() => document.activeElement?.classList.contains('coincide')), 'the matched turn has the focus');
  check((await page.locator('#tr-turnos li').count()) === 5, 'the whole transcript is shown');
  await page.screenshot({ path: join(work, 'transcript.png'), fullPage: false });
  await page.keyboard.press('Escape');
  check(await page.locator('#transcripcion').isHidden(), 'Escape closes the transcript');

  // ------------------------------------------------------------ a filter
  await page.locator('#responsable').selectOption('2');
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll('#resultados .responsable')];
    return r.length === 1 && r[0].textContent === 'Responsable 2';
  }, null, { timeout: 5000 });
  check(true, 'the owner filter keeps employee 2\'s hit only');
  await page.locator('#responsable').selectOption('');
  await page.waitForFunction(() => document.querySelectorAll('#resultados .hit').length === 2, null, { timeout: 5000 });
  await page.locator('#categoria').selectOption('documentación');
  await page.waitForFunction(() => document.querySelectorAll('#resultados .hit').length === 1, null, { timeout: 5000 });
  check(/Responsable 2/.test(await hits.first().locator('.responsable').innerText()), 'the category filter keeps the conversation covering it');
  await page.locator('#categoria').selectOption('');
  await page.locator('#rol').selectOption('interviewer');
  await page.waitForFunction(() => /No hay conversaciones/.test(document.querySelector('#estado').textContent), null, { timeout: 5000 });
  check(true, 'the role filter: no interviewer said "desahucio"');
  await page.locator('#rol').selectOption('');
  await page.waitForFunction(() => document.querySelectorAll('#resultados .hit').length === 2, null, { timeout: 5000 });

  // ------------------------------------------------------------ charts of the real analytics
  await box.fill('');
  await box.press('Enter');
  for (const [group, id] of [['month', 'mes'], ['category', 'categoria'], ['owner', 'responsable']]) {
    const real = await apiJson('/v1/analytics', tok.analyst, { method: 'POST', body: JSON.stringify({ q: '', group_by: group }) });
    const want = real.buckets.map((b) => b.conversations);
    await page.waitForFunction(
      ([cid, n]) => {
        const c = window.Chart?.getChart(document.getElementById(cid));
        return c && c.data.datasets[0].data.length === n && document.getElementById(cid).width > 0;
      },
      [`g-${id}`, want.length],
      { timeout: 5000 },
    );
    const drawn = await page.evaluate((cid) => window.Chart.getChart(document.getElementById(cid)).data.datasets[0].data, `g-${id}`);
    check(JSON.stringify(drawn) === JSON.stringify(want), `the ${group} chart draws the analytics counts`, { drawn, want });
    const painted = await page.evaluate((cid) => {
      const c = document.getElementById(cid);
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
      return n;
    }, `g-${id}`);
    check(painted > 500, `the ${group} chart is painted`, painted);
  }
  await page.locator('#graficos').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(work, 'charts.png'), fullPage: true });

  // ------------------------------------------------------------ export
  await box.fill('albergue');
  await box.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#resultados .hit').length === 1, null, { timeout: 5000 });
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.locator('#exportar').click()]);
  const file = join(work, 'export.csv');
  await download.saveAs(file);
  const ndjson = await (await fetch(`${url}/v1/export?q=albergue`, { headers: { Authorization: `Bearer ${tok.analyst}` } })).text();
  const lines = ndjson.trim().split('\n').map((l) => JSON.parse(l));
  const rows = JSON.parse(execFileSync('python3', ['-c',
    'import csv, json, sys\nwith open(sys.argv[1], newline="", encoding="utf-8") as f:\n    print(json.dumps(list(csv.DictReader(f))))',
    file]).toString());
  const asText = (v) => (v === null ? '' : String(v));
  const same = rows.length === lines.length && lines.length === 2 &&
    lines.every((l, i) => Object.keys(l).every((k) => rows[i][k] === asText(l[k])));
  check(same, 'the exported CSV reads back with Python\'s csv module as the NDJSON export', { rows, lines });
  check(rows.some((r) => r.text.includes('"solo tres noches, ni una más".\nDespués')), 'quotes, commas and a line break survive the CSV');
  writeFileSync(join(work, 'export.ndjson'), ndjson);

  // ------------------------------------------------------------ phone
  await page.setViewportSize({ width: 375, height: 740 });
  await page.evaluate(() => window.scrollTo(0, 0));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, 'no horizontal overflow on a phone (375 px)', overflow);
  await page.screenshot({ path: join(work, 'phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // ------------------------------------------------------------ sign out
  await page.locator('#salir').click();
  check(await page.locator('#acceso').isVisible(), 'signing out shows the sign-in form');
  check((await box.inputValue()) === '' && (await page.locator('#resultados .hit').count()) === 0, 'signing out clears the search and the hits', { q: await box.inputValue(), hits: await page.locator('#resultados .hit').count() });
  check((await page.evaluate(() => sessionStorage.getItem('convsearch.token'))) === null, 'signing out forgets the token');

  // ------------------------------------------------------------ portal employee 1
  await page.locator('input[type=password]').fill(tok.portal1);
  await page.keyboard.press('Enter');
  await page.locator('#app').waitFor({ state: 'visible', timeout: 5000 });
  await page.waitForFunction(() => document.querySelectorAll('#lista-personas li').length > 0, null, { timeout: 5000 });
  const names = await page.locator('#lista-personas .nombre').allInnerTexts();
  const expected = ['Álvaro Núñez', 'Güell Pons', 'nuria ortega', 'Ñandú Pérez', 'Paciente 2', 'Paciente 10', 'Zoe Ruiz'];
  check(JSON.stringify(names.map((n) => n.trim())) === JSON.stringify(expected), 'the people list is in Spanish order', names);
  await page.waitForFunction(() => document.querySelectorAll('#resultados .hit').length > 0, null, { timeout: 5000 });
  const owners = await page.locator('#resultados .responsable').allInnerTexts();
  check(owners.length > 0 && owners.every((o) => o === 'Responsable 1'), 'a portal employee sees only their own conversations', owners);
  const text = await page.locator('body').innerText();
  check(!/Fátima|Óscar|Marta Secreta|Ramón/.test(text), 'none of another employee\'s people appear');
  await box.fill('clandestino');
  await box.press('Enter');
  await page.waitForFunction(() => /No hay conversaciones/.test(document.querySelector('#estado').textContent), null, { timeout: 5000 });
  check(true, 'another employee\'s word finds nothing');
  await page.waitForTimeout(500); /* every chart answer is in */
  const counts = await page.evaluate(() => ['g-mes', 'g-categoria', 'g-responsable'].map((id) => window.Chart.getChart(document.getElementById(id))?.data.datasets[0].data));
  check(JSON.stringify(counts) === '[[],[],[]]', 'the charts count nothing for another employee\'s word', counts);
  await page.screenshot({ path: join(work, 'portal.png'), fullPage: true });

  check(consoleErrors.length === 0, 'no console errors', consoleErrors);
} catch (e) {
  failures++;
  console.error(`FAIL: ${e.stack ?? e}`);
  await page.screenshot({ path: join(work, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
console.log(`console test: ${passed} passed, ${failures} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s (screenshots in ${work})`);
process.exit(failures ? 1 : 0);

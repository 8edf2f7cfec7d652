// Checks HTTP exchanges recorded by tests/test_http.c (--exchanges FILE, one
// JSON line {label, method, path, status, content_type, headers: {lowercase
// name: value}, body, complete}) against api/openapi.yaml:
//   - the route, method and status are documented (an undocumented route or
//     method may only be 404/405/400 with the Error shape; 414 and 431 are
//     the HTTP library's own HTML answers to oversized request heads);
//   - the headers the response documents as required are there, and every
//     documented header present matches its schema;
//   - the Content-Type is one the response documents, and a response
//     documenting no content has an empty body;
//   - a JSON body validates against the response's schema (ajv), and every
//     line of an NDJSON body against the documented line schema, the stream
//     complete;
//   - query parameters of a successful request are documented (for a CORS
//     preflight, those of the route's other operations).
// Response schemas are read strictly: an object schema listing properties
// is closed (additionalProperties false unless it says otherwise), so every
// field the server returns must be documented; `nullable` (OpenAPI 3.0) is
// the only way a null is allowed.
//
//   node validate.mjs OPENAPI EXCHANGES [--min N]
//       exit 1 naming each failing exchange (label, method, path, error),
//       or when fewer than N exchanges were checked.
//   node validate.mjs OPENAPI self-test.ndjson --self-test
//       the validator's own test: an exchange carrying "expect_error" must
//       be refused with an error containing it, the others must pass.
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const args = process.argv.slice(2);
const files = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--min');
if (files.length !== 2) {
  console.error('usage: node validate.mjs OPENAPI EXCHANGES [--min N] [--self-test]');
  process.exit(2);
}
const minIdx = args.indexOf('--min');
const min = minIdx >= 0 ? Number(args[minIdx + 1]) : 1;
const selfTest = args.includes('--self-test');

const doc = YAML.parse(readFileSync(files[0], 'utf8'));

// OpenAPI 3.0 schema -> JSON Schema: nullable becomes anyOf with null, object
// schemas with properties are closed, OpenAPI-only keywords dropped.
function toJsonSchema(node) {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (['nullable', 'example', 'xml', 'externalDocs', 'discriminator'].includes(k)) continue;
    out[k] = k === 'properties' ? mapSchemas(v) : toJsonSchema(v);
  }
  if (out.properties && !('additionalProperties' in out)) out.additionalProperties = false;
  return node.nullable === true ? { anyOf: [{ type: 'null' }, out] } : out;
}
// A map of names (properties, components/schemas) to schemas.
const mapSchemas = (m) => Object.fromEntries(Object.entries(m).map(([n, s]) => [n, toJsonSchema(s)]));

const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
addFormats(ajv);
ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
ajv.addFormat('int32', { type: 'number', validate: (n) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
// components/schemas become the $defs of a schema openapi.json.
const refsTo = (base, schema) =>
  JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/components/schemas/', `"$ref":"${base}#/$defs/`));
ajv.addSchema({ $id: 'openapi.json', $defs: refsTo('', mapSchemas(doc.components?.schemas ?? {})) });

const compiled = new Map();
function validator(schema) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) {
    compiled.set(key, ajv.compile(refsTo('openapi.json', toJsonSchema(schema))));
  }
  return compiled.get(key);
}

function resolve(node) {
  for (let hops = 0; node && node.$ref && hops < 16; hops++) {
    if (!node.$ref.startsWith('#/')) throw new Error(`unsupported $ref ${node.$ref}`);
    node = node.$ref
      .slice(2)
      .split('/')
      .reduce((cur, part) => cur?.[part.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
  }
  return node;
}

// The documented template of a concrete path, or undefined (templates with
// fewer parameters first: /a/b wins over /a/{x} for /a/b).
const templates = Object.keys(doc.paths ?? {})
  .sort((a, b) => a.split('{').length - b.split('{').length)
  .map((t) => ({
    t,
    re: new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  }));
const templateOf = (path) => templates.find(({ re }) => re.test(path))?.t;

function schemaErrors(schema, value, where) {
  const v = validator(schema);
  if (v(value)) return null;
  // A nullable schema's anyOf reports "must be null" and "must match a
  // schema in anyOf" besides the error that matters: leave those out.
  let errors = v.errors.filter((e) => !(e.keyword === 'type' && e.params.type === 'null'));
  if (errors.some((e) => e.keyword !== 'anyOf')) errors = errors.filter((e) => e.keyword !== 'anyOf');
  const seen = new Set();
  for (const e of errors) {
    const extra = e.params?.additionalProperty ? ` "${e.params.additionalProperty}"` : '';
    seen.add(`${where}${e.instancePath} ${e.message}${extra} (schema ${e.schemaPath})`);
  }
  return [...seen].slice(0, 3).join('; ');
}

function parseJson(text, where) {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: `${where} is not JSON: ${err.message}` };
  }
}

// RFC 4180: quoted fields (quotes doubled), CRLF row ends, a header row
// and every row with as many fields as it. Returns null or the problem.
function csvErrors(body, where) {
  if (body === '') return `${where}: no header row`;
  const re = /"((?:[^"]|"")*)"|([^",\r\n]*)/y;
  let at = 0;
  let row = 0;
  let width = -1;
  while (at < body.length) {
    let fields = 0;
    for (;;) {
      re.lastIndex = at;
      const m = re.exec(body);
      at = re.lastIndex;
      fields++;
      if (m[2] !== undefined && body[at] === '"') return `${where}: row ${row + 1}: a quote inside an unquoted field`;
      if (body[at] === ',') {
        at++;
        continue;
      }
      if (body.startsWith('\r\n', at)) {
        at += 2;
        break;
      }
      return `${where}: row ${row + 1} does not end with CRLF`;
    }
    if (width < 0) width = fields;
    else if (fields !== width) return `${where}: row ${row + 1} has ${fields} fields, the header ${width}`;
    row++;
  }
  return null;
}

const errorSchema = { $ref: '#/components/schemas/Error' };

// Returns null when the exchange keeps the contract, else the first problem.
function check(x) {
  const [pathOnly, query] = x.path.split(/\?(.*)/s);
  const media = (x.content_type || '').split(';')[0].trim().toLowerCase();
  if (typeof x.body !== 'string') return 'the body is not UTF-8';
  if (x.status === 414 || x.status === 431)
    return /^<html>/i.test(x.body) ? null : `${x.status} without the library's HTML body`;
  const tmpl = templateOf(pathOnly);
  const method = x.method.toLowerCase() === 'head' ? 'get' : x.method.toLowerCase();
  const op = tmpl && doc.paths[tmpl][method];
  if (!op) {
    if (![400, 404, 405].includes(x.status))
      return `undocumented ${x.method} ${pathOnly} answered ${x.status} (only 400/404/405 may be)`;
    if (media !== 'application/json') return `error with Content-Type "${x.content_type}"`;
    const j = parseJson(x.body, 'body');
    return j.error ?? schemaErrors(errorSchema, j.value, 'body');
  }
  const where = `${x.method} ${tmpl} ${x.status}`;
  const response = resolve(op.responses?.[String(x.status)] ?? op.responses?.default);
  if (!response) return `status ${x.status} of ${x.method} ${tmpl} is not documented`;
  if (x.status < 400 && query) {
    // A CORS preflight is sent to the URL of the request it prepares: its
    // query parameters are those of the route's other operations.
    const ops = method === 'options' ? Object.values(doc.paths[tmpl]).filter((o) => o !== op) : [op];
    const names = ops
      .flatMap((o) => o.parameters ?? [])
      .map(resolve)
      .filter((p) => p.in === 'query')
      .map((p) => p.name);
    for (const kv of query.split('&')) {
      const name = kv.split('=')[0];
      if (!names.includes(name)) return `${where}: query parameter "${name}" is not documented`;
    }
  }
  for (const [name, h] of Object.entries(response.headers ?? {}).map(([n, h]) => [n, resolve(h)])) {
    const value = x.headers?.[name.toLowerCase()];
    if (value === undefined) {
      if (h.required) return `${where}: the required header ${name} is missing`;
      continue;
    }
    const err = h.schema && schemaErrors(h.schema, value, `${where}: header ${name}`);
    if (err) return err;
  }
  if (x.method === 'HEAD') return null;
  const content = response.content ?? {};
  if (Object.keys(content).length === 0)
    return x.body === '' ? null : `${where}: a body where none is documented`;
  const media_doc = content[media];
  if (!media_doc)
    return `${where}: Content-Type "${x.content_type}" is not documented (${Object.keys(content).join(', ')})`;
  if (!media_doc.schema) return null;
  if (media === 'application/json') {
    const j = parseJson(x.body, 'body');
    return j.error ?? schemaErrors(media_doc.schema, j.value, `${where}: body`);
  }
  if (media === 'application/x-ndjson') {
    if (!x.complete) return `${where}: the stream ended without its last chunk`;
    if (x.body !== '' && !x.body.endsWith('\n')) return `${where}: the last line has no newline`;
    const lines = x.body.split('\n').slice(0, -1);
    for (let i = 0; i < lines.length; i++) {
      const j = parseJson(lines[i], `${where}: line ${i + 1}`);
      const err = j.error ?? schemaErrors(media_doc.schema, j.value, `${where}: line ${i + 1}`);
      if (err) return err;
    }
    return null;
  }
  if (media === 'text/csv') {
    if (!x.complete) return `${where}: the stream ended without its last chunk`;
    return csvErrors(x.body, `${where}: CSV`);
  }
  if (resolve(media_doc.schema).type === 'string') return null;
  return `${where}: cannot check a ${media} body against a non-string schema`;
}

const exchanges = readFileSync(files[1], 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l));
let failures = 0;
for (const x of exchanges) {
  let err;
  try {
    err = check(x);
  } catch (e) {
    err = `validator error: ${e.message}`;
  }
  const name = `${x.label}: ${x.method} ${x.path.slice(0, 120)}`;
  if (selfTest && x.expect_error !== undefined) {
    if (!err || !err.includes(x.expect_error)) {
      failures++;
      console.error(`FAIL: ${name}: expected an error containing "${x.expect_error}", got ${err ?? 'none'}`);
    }
  } else if (err) {
    failures++;
    console.error(`FAIL: ${name}: ${err}`);
  }
}
if (exchanges.length < min) {
  failures++;
  console.error(`FAIL: ${exchanges.length} exchanges in ${files[1]}, expected at least ${min}`);
}
console.log(
  `validate.mjs: ${exchanges.length} exchanges, ${failures} failed` +
    (selfTest ? ' (self-test: those with expect_error must be refused with it)' : ''),
);
process.exit(failures ? 1 : 0);

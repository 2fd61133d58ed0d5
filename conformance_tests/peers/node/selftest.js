// Self-check of the Node.js fixture agent: starts server.js on a free port and exercises a
// handful of behaviours over HTTP. Run with `node --test conformance_tests/peers/node/`.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

let child;
let base;
let seq = 0;

before(async () => {
  child = spawn(process.execPath, [path.join(__dirname, 'server.js'), '--port', '0', '--host', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 10000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (m) resolve(m[1]); else reject(new Error(`unexpected first line: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
});

after(async () => {
  if (!child) return;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  const { code } = await exited;
  assert.equal(code, 0, 'server exits cleanly on SIGTERM');
});

const meta = (extra) => Object.assign({ protocol: 'agentlink/0.1', message_id: `m-${++seq}`, sender: 'selftest' }, extra || {});
const req = (method, params, id) => ({ jsonrpc: '2.0', id: id === undefined ? ++seq : id, method, params: Object.assign({ _meta: meta() }, params || {}) });
const isoIn = (ms) => new Date(Date.now() + ms).toISOString();

async function post(body, contentType = 'application/json') {
  const res = await fetch(`${base}/rpc`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : null };
}

async function call(method, params, metaExtra) {
  const frame = req(method, params);
  if (metaExtra) Object.assign(frame.params._meta, metaExtra);
  const { status, json } = await post(frame);
  assert.equal(status, 200);
  assert.equal(json.id, frame.id);
  return json;
}

test('agent/ping answers ok and a timestamp', async () => {
  const r = await call('agent/ping');
  assert.equal(r.result.ok, true);
  assert.match(r.result.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
});

test('echo and add return their outputs', async () => {
  assert.deepEqual((await call('tools/call', { name: 'echo', arguments: { text: 'hi' } })).result, { output: { text: 'hi' } });
  assert.deepEqual((await call('tools/call', { name: 'add', arguments: { a: 2, b: 3 } })).result, { output: { sum: 5 } });
});

test('unknown tool is tool_not_found, never a result', async () => {
  const r = await call('tools/call', { name: 'ad', arguments: {} });
  assert.equal(r.result, undefined);
  assert.equal(r.error.code, -32011);
  assert.deepEqual(r.error.data, { name: 'tool_not_found', tool: 'ad' });
});

test('invalid tool input lists a pointer per failing location', async () => {
  let r = await call('tools/call', { name: 'echo', arguments: { text: 5, 'a/b': true } });
  assert.equal(r.error.code, -32012);
  assert.equal(r.error.data.name, 'invalid_tool_input');
  assert.equal(r.error.data.tool, 'echo');
  assert.deepEqual(r.error.data.errors.map((e) => e.pointer).sort(), ['/a~1b', '/text']);
  r = await call('tools/call', { name: 'add', arguments: {} });
  assert.deepEqual(r.error.data.errors.map((e) => e.pointer), ['', '']); // missing members: at the object
  r = await call('tools/call', { name: 'slow', arguments: { ms: 60001 } });
  assert.deepEqual(r.error.data.errors.map((e) => e.pointer), ['/ms']);
  r = await call('tools/call', { name: 'echo', arguments: [] });
  assert.equal(r.error.code, -32602); // arguments not an object: invalid_params
});

test('fail is tool_execution_error', async () => {
  const r = await call('tools/call', { name: 'fail' });
  assert.equal(r.error.code, -32014);
  assert.equal(r.error.message, 'fixture failure');
  assert.deepEqual(r.error.data, { name: 'tool_execution_error', tool: 'fail' });
});

test('batch: mixed, empty, notification-only, too large', async () => {
  const ping = req('agent/ping', {}, 'p1');
  const note = { jsonrpc: '2.0', method: 'agent/ping', params: { _meta: meta() } };
  let r = await post([ping, note, 7, req('nope/nope', {}, 9)]);
  assert.equal(r.status, 200);
  assert.equal(r.json.length, 3);
  const byId = new Map(r.json.map((x) => [x.id, x]));
  assert.equal(byId.get('p1').result.ok, true);
  assert.equal(byId.get(null).error.code, -32600);
  assert.equal(byId.get(9).error.code, -32601);
  assert.equal(byId.get(9).error.data.method, 'nope/nope');

  r = await post('[]');
  assert.equal(r.status, 200);
  assert.equal(Array.isArray(r.json), false);
  assert.equal(r.json.error.code, -32600);
  assert.equal(r.json.id, null);

  r = await post([note, note]);
  assert.equal(r.status, 204);
  assert.equal(r.text, '');

  r = await post(Array.from({ length: 64 }, (_, i) => req('agent/ping', {}, i)));
  assert.equal(r.json.length, 64);
  r = await post(Array.from({ length: 65 }, (_, i) => req('agent/ping', {}, i)));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.error.data, { name: 'payload_too_large', kind: 'batch', limit: 64 });
});

test('size limit: 1 MiB accepted, one byte more is 413', async () => {
  const frame = JSON.stringify(req('agent/ping', {}, 'big'));
  const exact = frame + ' '.repeat(1048576 - Buffer.byteLength(frame));
  let r = await post(exact);
  assert.equal(r.status, 200);
  assert.equal(r.json.result.ok, true);
  r = await post(`${exact} `);
  assert.equal(r.status, 413);
  assert.equal(r.json.id, null);
  assert.equal(r.json.error.code, -32025);
  assert.deepEqual(r.json.error.data, { name: 'payload_too_large', kind: 'bytes', limit: 1048576 });
});

test('depth limit 64', async () => {
  const nest = (depth) => {
    const f = req('tools/call', { name: 'fail', arguments: {} }, 'deep');
    let v = 0;
    for (let i = 0; i < depth - 3; i++) v = [v]; // frame, params, arguments: 3 levels
    f.params.arguments.x = v;
    return f;
  };
  let r = await post(nest(64));
  assert.equal(r.json.error.code, -32014); // accepted and executed
  r = await post(nest(65));
  assert.equal(r.status, 200);
  assert.equal(r.json.id, null);
  assert.deepEqual(r.json.error.data, { name: 'payload_too_large', kind: 'depth', limit: 64 });
});

test('framing errors and HTTP statuses', async () => {
  let r = await post('{"jsonrpc":');
  assert.equal(r.json.error.code, -32700);
  assert.equal(r.json.id, null);
  r = await post(Buffer.from([0x7b, 0xff, 0x7d]));
  assert.equal(r.json.error.code, -32700);
  r = await post({ jsonrpc: '2.0', id: true, method: 'agent/ping', params: { _meta: meta() } });
  assert.equal(r.json.error.code, -32600);
  assert.equal(r.json.id, null);
  r = await post({ jsonrpc: '2.0', id: 1, method: 'agent/ping', params: {} });
  assert.equal(r.json.error.code, -32602);
  r = await post('{"jsonrpc":"2.0","id":12345678901234567890123,"method":"agent/ping","params":{"_meta":{"protocol":"agentlink/0.1","message_id":"x"}}}');
  assert.match(r.text, /"id":12345678901234567890123,/);
  r = await post(JSON.stringify(req('agent/ping')), 'text/plain');
  assert.equal(r.status, 415);
  r = await post(JSON.stringify(req('agent/ping')), 'application/json; charset=utf-8');
  assert.equal(r.status, 200);
  const g = await fetch(`${base}/rpc`);
  assert.equal(g.status, 405);
});

test('_meta checks: version, receiver, deadline', async () => {
  let r = await call('agent/ping', {}, { protocol: 'agentlink/9.9' });
  assert.equal(r.error.code, -32024);
  assert.deepEqual(r.error.data, { name: 'version_unsupported', supported: ['agentlink/0.1'], requested: 'agentlink/9.9' });
  r = await call('agent/ping', {}, { receiver: 'someone-else' });
  assert.deepEqual(r.error.data, { name: 'agent_not_found', agent_id: 'someone-else' });
  r = await call('agent/ping', {}, { receiver: 'fixture', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  assert.equal(r.result.ok, true);
  r = await call('tools/call', { name: 'stop' }, { deadline: '2020-01-01T00:00:00Z' });
  assert.deepEqual(r.error.data, { name: 'deadline_exceeded', deadline: '2020-01-01T00:00:00Z', started: false });
  r = await call('agent/ping', {}, { sender: 'has space' });
  assert.equal(r.error.code, -32602);
  assert.equal(r.error.data.errors[0].pointer, '/_meta/sender');
});

test('slow honours its deadline within 250 ms', async () => {
  const deadline = isoIn(300);
  const t0 = Date.now();
  const r = await call('tools/call', { name: 'slow', arguments: { ms: 5000 } }, { deadline });
  const late = Date.now() - Date.parse(deadline);
  assert.equal(r.error.code, -32020);
  assert.equal(r.error.data.started, true);
  assert.ok(late < 250, `answered ${late} ms after the deadline`);
  assert.ok(Date.now() - t0 < 1000);
  const ok = await call('tools/call', { name: 'slow', arguments: { ms: 20 } }, { deadline: isoIn(2000) });
  assert.deepEqual(ok.result, { output: { slept_ms: 20 } });
});

test('idempotency: replay, in flight, duplicate, refusals do not use the key', async () => {
  const count = async () => (await call('tools/call', { name: 'actuation_count' })).result.output.count;
  const start = await count();
  const k = { idempotency_key: `k-${Date.now()}` };
  const first = await call('tools/call', { name: 'stop' }, k);
  const second = await call('tools/call', { name: 'stop' }, k);
  assert.deepEqual(second.result, first.result);
  assert.equal(await count(), start + 1);
  const dup = await call('tools/call', { name: 'stop', arguments: { x: 1 } }, k);
  assert.deepEqual(dup.error.data, { name: 'duplicate', idempotency_key: k.idempotency_key });

  // Refused before execution (invalid input): the key stays free.
  const k2 = { idempotency_key: `k2-${Date.now()}` };
  const refused = await call('tools/call', { name: 'echo', arguments: {} }, k2);
  assert.equal(refused.error.code, -32012);
  const fresh = await call('tools/call', { name: 'echo', arguments: { text: 'x' } }, k2);
  assert.deepEqual(fresh.result, { output: { text: 'x' } });

  // In flight: the second call waits for the first one's response.
  const k3 = { idempotency_key: `k3-${Date.now()}` };
  const [a, b] = await Promise.all([
    call('tools/call', { name: 'slow', arguments: { ms: 200 } }, k3),
    call('tools/call', { name: 'slow', arguments: { ms: 200 } }, k3),
  ]);
  assert.deepEqual(a.result, { output: { slept_ms: 200 } });
  assert.deepEqual(b.result, a.result);
});

test('tools/list pages cover exactly the card tools; well-known card equals agent/card', async () => {
  const card = (await call('agent/card')).result;
  assert.deepEqual(card.profiles, ['core', 'tools']);
  const listed = [];
  let cursor;
  for (let page = 0; page < 20; page++) {
    const r = await call('tools/list', cursor ? { cursor } : {});
    listed.push(...r.result.tools);
    cursor = r.result.next_cursor;
    if (!cursor) break;
  }
  assert.deepEqual(listed, card.tools);
  const bad = await call('tools/list', { cursor: 'not-issued' });
  assert.equal(bad.error.code, -32602);
  const res = await fetch(`${base}/.well-known/agentlink.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(await res.json(), card);
});

#!/usr/bin/env node
// AgentLink Protocol 0.1 -- independent implementation of the conformance fixture agent
// (Core and Tools profiles, HTTP binding), written from protocol/SPEC.md and the JSON
// Schemas alone. Node.js standard library only.
//
//   node server.js --port 0 --host 127.0.0.1
//
// prints exactly one line, `listening http://<host>:<port>`, when it is ready, and exits
// cleanly on SIGTERM or SIGINT.
//
// Comments marked "SPEC-CHOICE" record places where the specification left room for
// interpretation and which reading this implementation takes.

'use strict';

const http = require('node:http');
const crypto = require('node:crypto');

// ---------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------

const PROTOCOL = 'agentlink/0.1';
const SUPPORTED_VERSIONS = [PROTOCOL]; // same set as the card's protocol_versions (ALP-CARD-003)
const AGENT_ID = 'fixture';

const MAX_FRAME_BYTES = 1048576; // fixture: exactly 1 MiB (ALP-CORE-016/017)
const MAX_DEPTH = 64; // fixture: exactly 64 (ALP-CORE-018/019)
const MAX_BATCH = 64; // fixture: exactly 64 (ALP-CORE-014/015)
// An oversized body is read and discarded up to this many bytes so that the client sees the
// 413 response instead of a connection reset; beyond it the connection is closed.
const DRAIN_CAP_BYTES = 32 * MAX_FRAME_BYTES;
const MAX_TIMER_MS = 2147483647; // setTimeout's largest delay

const STATE_CHANGING = new Set([
  'tools/call', 'message/send', 'tasks/cancel', 'tasks/input', 'tasks/approve',
  'events/publish', 'registry/register', 'registry/heartbeat', 'registry/deregister',
]);

// The error table (code, and the table's meaning used as the default message).
const ERRORS = {
  parse_error: [-32700, 'The frame is not valid UTF-8 JSON.'],
  invalid_request: [-32600, 'The frame is JSON but not a valid JSON-RPC 2.0 request.'],
  method_not_found: [-32601, 'The method does not exist or is not offered by this agent.'],
  invalid_params: [-32602, 'The method\'s params, or its _meta envelope, are invalid.'],
  internal_error: [-32603, 'The server failed in a way it did not anticipate.'],
  task_not_found: [-32001, 'No task with this id exists (or it has been forgotten).'],
  task_not_cancelable: [-32002, 'The task is in a terminal state and cannot be canceled.'],
  unsupported_operation: [-32004, 'The agent knows the method but does not support this use of it.'],
  content_type_not_supported: [-32005, 'The message\'s content_type is not one the receiver accepts.'],
  agent_not_found: [-32010, 'No agent with this id is reachable.'],
  tool_not_found: [-32011, 'The agent has no tool with this name.'],
  invalid_tool_input: [-32012, 'The arguments do not validate against the tool\'s input_schema.'],
  invalid_tool_output: [-32013, 'The tool produced output that does not validate against its output_schema.'],
  tool_execution_error: [-32014, 'The tool ran and failed.'],
  invalid_task_state: [-32015, 'The operation is not allowed in the task\'s current state.'],
  deadline_exceeded: [-32020, 'The request\'s deadline passed before the work could be done.'],
  unauthorized: [-32021, 'The caller did not prove who it is (missing, expired or invalid credentials).'],
  forbidden: [-32022, 'The caller is known but not allowed to do this.'],
  approval_required: [-32023, 'The tool actuates and needs an approval that has not been given.'],
  version_unsupported: [-32024, 'The protocol version in _meta.protocol is not supported.'],
  payload_too_large: [-32025, 'The frame exceeds the receiver\'s size or nesting limit.'],
  overloaded: [-32026, 'The receiver is over a rate or capacity limit; retry later.'],
  duplicate: [-32027, 'The idempotency key was already used for a different request.'],
  already_registered: [-32028, 'Another live registration already holds this agent id.'],
};

/** An outcome is either {result: <any>} or {error: <ErrorObject>}. */
function fault(name, data, message) {
  const [code, defaultMessage] = ERRORS[name];
  return { error: { code, message: message || defaultMessage, data: Object.assign({ name }, data || {}) } };
}

function isFault(outcome) {
  return Object.prototype.hasOwnProperty.call(outcome, 'error');
}

const own = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', pageSize: 4, idempotencyTtlS: 600, publicUrl: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq >= 0 ? arg.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--port': opts.port = Number.parseInt(value(), 10); break;
      case '--host': opts.host = value(); break;
      case '--page-size': opts.pageSize = Math.max(1, Number.parseInt(value(), 10)); break;
      case '--idempotency-ttl': opts.idempotencyTtlS = Math.max(600, Number(value())); break;
      case '--public-url': opts.publicUrl = value().replace(/\/+$/, ''); break;
      case '--help': case '-h':
        process.stderr.write('usage: node server.js [--port N] [--host H] [--page-size N] '
          + '[--idempotency-ttl SECONDS] [--public-url URL]\n');
        process.exit(0);
        break;
      default:
        process.stderr.write(`unknown argument: ${arg}\n`);
        process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('--port must be an integer 0..65535\n');
    process.exit(2);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

const TIMESTAMP_PATTERN = '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$';
const TIMESTAMP_PARTS = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Milliseconds since the epoch (fractional) of an RFC 3339 timestamp that matched the pattern. */
function parseTimestamp(text) {
  const m = TIMESTAMP_PARTS.exec(text);
  if (!m) return NaN;
  const d = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999. Out-of-range
  // days (Feb 31) and a leap second (:60) roll over into the next day / minute.
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  let ms = d.getTime() + (m[7] ? Number(`0${m[7]}`) * 1000 : 0);
  if (m[8]) {
    const offsetMin = Number(m[9]) * 60 + Number(m[10]);
    ms -= (m[8] === '-' ? -1 : 1) * offsetMin * 60000;
  }
  return ms;
}

const nowIso = () => new Date().toISOString();

// ---------------------------------------------------------------------------------------
// A small JSON Schema (2020-12) validator. It implements the keywords the fixture's tool
// schemas and this agent's params schemas use -- type, properties, required,
// additionalProperties, minimum, maximum, minLength, const, enum -- plus a few cheap extras
// (maxLength, pattern, exclusiveMinimum, exclusiveMaximum, items, minItems, maxItems, allOf,
// anyOf, oneOf, not). Other keywords are ignored (treated as annotations), `format` included
// (ALP-TOOL-002). It returns every failure as {pointer, message}, the pointer being the RFC
// 6901 instance location of the failure.
// ---------------------------------------------------------------------------------------

const escapePointerToken = (token) => String(token).replace(/~/g, '~0').replace(/\//g, '~1');

function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return 'number';
  return typeof v; // 'string' | 'boolean' | 'object'
}

function matchesType(v, type) {
  switch (type) {
    case 'null': return v === null;
    case 'boolean': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
    case 'array': return Array.isArray(v);
    case 'object': return isPlainObject(v);
    // JSON Schema: a number with a zero fractional part (1.0) is an integer.
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    default: return false;
  }
}

/** Canonical JSON text (RFC 8785 style: sorted member names, ES number rendering). */
function canonicalJson(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
}

const jsonEqual = (a, b) => canonicalJson(a) === canonicalJson(b);

const regexCache = new Map();
function compilePattern(p) {
  let re = regexCache.get(p);
  if (!re) { re = new RegExp(p, 'u'); regexCache.set(p, re); }
  return re;
}

function validate(schema, instance, pointer = '', errors = []) {
  if (schema === true || schema === undefined) return errors;
  if (schema === false) {
    errors.push({ pointer, message: 'No value is allowed here.' });
    return errors;
  }
  if (!isPlainObject(schema)) return errors;

  if (own(schema, 'type')) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => matchesType(instance, t))) {
      errors.push({ pointer, message: `Expected ${types.join(' or ')}, got ${jsonType(instance)}.` });
    }
  }
  if (own(schema, 'const') && !jsonEqual(schema.const, instance)) {
    errors.push({ pointer, message: `Value must be ${JSON.stringify(schema.const)}.` });
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => jsonEqual(e, instance))) {
    errors.push({ pointer, message: `Value must be one of ${JSON.stringify(schema.enum)}.` });
  }

  if (typeof instance === 'number') {
    if (typeof schema.minimum === 'number' && !(instance >= schema.minimum)) {
      errors.push({ pointer, message: `Value must be at least ${schema.minimum}.` });
    }
    if (typeof schema.maximum === 'number' && !(instance <= schema.maximum)) {
      errors.push({ pointer, message: `Value must be at most ${schema.maximum}.` });
    }
    if (typeof schema.exclusiveMinimum === 'number' && !(instance > schema.exclusiveMinimum)) {
      errors.push({ pointer, message: `Value must be greater than ${schema.exclusiveMinimum}.` });
    }
    if (typeof schema.exclusiveMaximum === 'number' && !(instance < schema.exclusiveMaximum)) {
      errors.push({ pointer, message: `Value must be less than ${schema.exclusiveMaximum}.` });
    }
  }

  if (typeof instance === 'string') {
    // JSON Schema counts characters (code points), not UTF-16 units.
    const length = [...instance].length;
    if (typeof schema.minLength === 'number' && length < schema.minLength) {
      errors.push({ pointer, message: `String must have at least ${schema.minLength} character(s).` });
    }
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) {
      errors.push({ pointer, message: `String must have at most ${schema.maxLength} character(s).` });
    }
    if (typeof schema.pattern === 'string' && !compilePattern(schema.pattern).test(instance)) {
      errors.push({ pointer, message: `String does not match the pattern ${schema.pattern}.` });
    }
  }

  if (Array.isArray(instance)) {
    if (typeof schema.minItems === 'number' && instance.length < schema.minItems) {
      errors.push({ pointer, message: `Array must have at least ${schema.minItems} item(s).` });
    }
    if (typeof schema.maxItems === 'number' && instance.length > schema.maxItems) {
      errors.push({ pointer, message: `Array must have at most ${schema.maxItems} item(s).` });
    }
    if (own(schema, 'items') && !Array.isArray(schema.items)) {
      instance.forEach((item, i) => validate(schema.items, item, `${pointer}/${i}`, errors));
    }
  }

  if (isPlainObject(instance)) {
    const properties = isPlainObject(schema.properties) ? schema.properties : {};
    for (const key of Object.keys(properties)) {
      if (own(instance, key)) {
        validate(properties[key], instance[key], `${pointer}/${escapePointerToken(key)}`, errors);
      }
    }
    if (own(schema, 'additionalProperties')) {
      for (const key of Object.keys(instance)) {
        if (!own(properties, key)) {
          // SPEC-CHOICE: an unexpected member is reported at its own location ("/extra"),
          // where the `additionalProperties` subschema fails in 2020-12 semantics, not at the
          // enclosing object.
          const child = `${pointer}/${escapePointerToken(key)}`;
          if (schema.additionalProperties === false) {
            errors.push({ pointer: child, message: `Member '${key}' is not allowed.` });
          } else {
            validate(schema.additionalProperties, instance[key], child, errors);
          }
        }
      }
    }
    if (Array.isArray(schema.required)) {
      for (const key of schema.required) {
        // A missing required member is reported at the object that lacks it.
        if (!own(instance, key)) errors.push({ pointer, message: `Missing required member '${key}'.` });
      }
    }
  }

  if (Array.isArray(schema.allOf)) {
    for (const sub of schema.allOf) validate(sub, instance, pointer, errors);
  }
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf.map((sub) => validate(sub, instance, pointer, []));
    if (!branches.some((b) => b.length === 0)) {
      const first = branches.flat().find((e) => e.pointer === pointer) || branches.flat()[0];
      errors.push({ pointer, message: `Value matches none of the allowed forms${first ? ` (${first.message})` : ''}.` });
    }
  }
  if (Array.isArray(schema.oneOf)) {
    const passing = schema.oneOf.filter((sub) => validate(sub, instance, pointer, []).length === 0).length;
    if (passing !== 1) {
      errors.push({ pointer, message: `Value must match exactly one allowed form (matches ${passing}).` });
    }
  }
  if (own(schema, 'not') && validate(schema.not, instance, pointer, []).length === 0) {
    errors.push({ pointer, message: 'Value matches a form that is not allowed.' });
  }
  return errors;
}

// ---------------------------------------------------------------------------------------
// Schemas of _meta and of the params of the methods this agent offers (from
// protocol/schemas/meta.json and protocol/schemas/methods/*.params.json; `_meta` itself is
// checked separately, in the order ALP-CORE-032 gives).
// ---------------------------------------------------------------------------------------

const AGENT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const nullable = (schema) => ({ anyOf: [schema, { type: 'null' }] });
const text256 = { type: 'string', minLength: 1, maxLength: 256 };

// First stage: `protocol` and `message_id` present and well-formed.
const META_HEAD_SCHEMA = {
  type: 'object',
  properties: {
    protocol: { type: 'string', pattern: '^agentlink/[0-9]+\\.[0-9]+$' },
    message_id: text256,
  },
  required: ['protocol', 'message_id'],
};

// Third stage (after the version check): every other member.
const META_REST_SCHEMA = {
  type: 'object',
  properties: {
    sender: nullable({ type: 'string', pattern: AGENT_ID_PATTERN }),
    receiver: nullable({ type: 'string', pattern: AGENT_ID_PATTERN }),
    conversation_id: nullable(text256),
    in_reply_to: nullable(text256),
    sent_at: nullable({ type: 'string', pattern: TIMESTAMP_PATTERN }),
    deadline: nullable({ type: 'string', pattern: TIMESTAMP_PATTERN }),
    idempotency_key: nullable(text256),
    traceparent: nullable({ type: 'string', pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' }),
    auth: nullable({ type: 'string', minLength: 1, maxLength: 16384 }),
  },
};

const TOOL_NAME_PATTERN = '^[A-Za-z0-9_.-]{1,128}$';

// ---------------------------------------------------------------------------------------
// The fixture's tools (the sync subset; the task-run and approval tools -- long_task, ask,
// actuate -- need the tasks and safe-actuation profiles, which this agent does not claim,
// so they are neither listed nor callable).
// ---------------------------------------------------------------------------------------

class ToolFailure extends Error {}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(new Error('aborted')); return; }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    function onAbort() { clearTimeout(timer); reject(new Error('aborted')); }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function makeFixture() {
  let actuationCount = 0;
  const tools = [
    {
      def: {
        name: 'echo',
        description: 'Returns its text.',
        input_schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false },
        output_schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
        idempotent: true,
      },
      run: async (args) => ({ text: args.text }),
    },
    {
      def: {
        name: 'add',
        description: 'Adds two numbers.',
        input_schema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
        output_schema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
        idempotent: true,
      },
      run: async (args) => ({ sum: args.a + args.b }),
    },
    {
      def: {
        name: 'fail',
        description: 'Always fails.',
        input_schema: { type: 'object' },
        output_schema: { type: 'object' },
      },
      run: async () => { throw new ToolFailure('fixture failure'); },
    },
    {
      def: {
        name: 'slow',
        description: 'Sleeps, then answers.',
        input_schema: { type: 'object', properties: { ms: { type: 'integer', minimum: 0, maximum: 60000 } }, required: ['ms'] },
        output_schema: { type: 'object', properties: { slept_ms: { type: 'integer' } }, required: ['slept_ms'] },
        idempotent: true,
      },
      // The sleep is cut short when the deadline passes (ALP-CORE-055); the deadline_exceeded
      // answer itself comes from the dispatcher's deadline timer.
      run: async (args, ctx) => { await sleep(args.ms, ctx.signal); return { slept_ms: args.ms }; },
    },
    {
      def: {
        name: 'actuation_count',
        description: 'How many actuations have executed.',
        input_schema: { type: 'object', additionalProperties: false },
        output_schema: { type: 'object', properties: { count: { type: 'integer', minimum: 0 } }, required: ['count'] },
      },
      run: async () => ({ count: actuationCount }),
    },
    {
      def: {
        name: 'stop',
        description: 'Stops the simulated equipment; never waits for approval.',
        input_schema: { type: 'object', additionalProperties: false },
        output_schema: { type: 'object', properties: { stopped: { const: true } }, required: ['stopped'] },
        safety: 'actuates',
        idempotent: true,
      },
      run: async () => { actuationCount += 1; return { stopped: true }; },
    },
    {
      def: {
        name: 'measure',
        description: 'Reads a simulated temperature.',
        input_schema: { type: 'object', properties: { asset_id: { type: 'string', minLength: 1 } }, required: ['asset_id'] },
        output_schema: {
          type: 'object',
          properties: {
            value: { type: 'number' },
            unit: { const: 'CEL' },
            quality: { enum: ['good', 'uncertain', 'bad'] },
            source_ts: { type: 'string' },
            asset_id: { type: 'string' },
          },
          required: ['value', 'unit', 'quality', 'source_ts', 'asset_id'],
        },
        idempotent: true,
      },
      run: async (args) => ({ value: 21.5, unit: 'CEL', quality: 'good', source_ts: nowIso(), asset_id: args.asset_id }),
    },
  ];
  return { tools, toolMap: new Map(tools.map((t) => [t.def.name, t])) };
}

function deepFreeze(v) {
  if (v !== null && typeof v === 'object') {
    Object.values(v).forEach(deepFreeze);
    Object.freeze(v);
  }
  return v;
}

// ---------------------------------------------------------------------------------------
// The agent: JSON-RPC processing, independent of HTTP.
// ---------------------------------------------------------------------------------------

class Agent {
  constructor(opts) {
    this.opts = opts;
    const fixture = makeFixture();
    this.tools = fixture.tools;
    this.toolMap = fixture.toolMap;
    this.card = null; // set by setBaseUrl
    this.cursorNonce = crypto.randomBytes(8).toString('hex');
    this.idempotency = new Map(); // scope -> {digest, promise, expiresAt}
    this.sweeper = setInterval(() => this.sweepIdempotency(), 30000);
    this.sweeper.unref();
    this.methods = new Map([
      ['agent/ping', { params: { type: 'object' }, prepare: () => this.ping() }],
      ['agent/card', { params: { type: 'object' }, prepare: () => this.getCard() }],
      ['tools/list', {
        params: { type: 'object', properties: { cursor: nullable({ type: 'string', minLength: 1, maxLength: 1024 }) } },
        prepare: (params) => this.listTools(params),
      }],
      ['tools/call', {
        params: {
          type: 'object',
          properties: { name: { type: 'string', pattern: TOOL_NAME_PATTERN }, arguments: { type: 'object' } },
          required: ['name'],
        },
        prepare: (params, meta) => this.callTool(params, meta),
      }],
    ]);
  }

  setBaseUrl(baseUrl) {
    // The card is built once and frozen: it never changes while requests are served
    // (ALP-CARD-011), and the well-known document is the same object (ALP-HTTP-008).
    this.card = deepFreeze({
      id: AGENT_ID,
      name: 'AgentLink conformance fixture',
      role: 'execution',
      description: 'Conformance fixture agent (Core and Tools profiles), independent Node.js implementation.',
      version: '0.1.0',
      protocol_versions: SUPPORTED_VERSIONS.slice(),
      capabilities: ['conformance.fixture'],
      tools: this.tools.map((t) => t.def),
      // SPEC-CHOICE: `accepts` and `events` of the full fixture card are left out: this agent
      // does not offer message/send (messaging) nor publish events, and the card must be
      // truthful (ALP-CARD-006, ALP-CARD-008).
      assets: ['fixture-asset-1'],
      tags: ['conformance'],
      endpoints: [{ binding: 'http', url: baseUrl }],
      // SPEC-CHOICE: the `none` scheme is listed explicitly. ALP-SEC-001 applies to "an agent
      // whose card lists no scheme of type none", which read literally also covers a card
      // without `security`.
      security: [{ type: 'none' }],
      profiles: ['core', 'tools'],
    });
    deepFreeze(this.tools.map((t) => t.def));
  }

  sweepIdempotency() {
    const now = Date.now();
    for (const [scope, entry] of this.idempotency) {
      if (entry.expiresAt <= now) this.idempotency.delete(scope);
    }
  }

  // --- methods: each `prepare` runs the method's own checks and returns either an error
  // outcome (nothing executed) or {exec(signal) -> Promise<outcome>, timeoutMs?}.

  ping() {
    return { exec: async () => ({ result: { ok: true, time: nowIso() } }) };
  }

  getCard() {
    return { exec: async () => ({ result: this.card }) };
  }

  listTools(params) {
    const size = this.opts.pageSize;
    let offset = 0;
    if (params.cursor !== undefined && params.cursor !== null) {
      offset = this.decodeCursor(params.cursor);
      if (offset === null) {
        return fault('invalid_params', { errors: [{ pointer: '/cursor', message: 'This cursor was not issued by this agent.' }] });
      }
    }
    return {
      exec: async () => {
        const result = { tools: this.tools.slice(offset, offset + size).map((t) => t.def) };
        if (offset + size < this.tools.length) result.next_cursor = `tools.${this.cursorNonce}.${offset + size}`;
        return { result };
      },
    };
  }

  decodeCursor(cursor) {
    const m = /^tools\.([0-9a-f]{16})\.([1-9][0-9]{0,6})$/.exec(cursor);
    if (!m || m[1] !== this.cursorNonce) return null;
    const offset = Number(m[2]);
    if (offset % this.opts.pageSize !== 0 || offset >= this.tools.length) return null;
    return offset;
  }

  callTool(params) {
    const tool = this.toolMap.get(params.name);
    if (!tool) return fault('tool_not_found', { tool: params.name });
    const args = own(params, 'arguments') ? params.arguments : {}; // absent arguments means {}
    const inputErrors = validate(tool.def.input_schema, args);
    if (inputErrors.length) return fault('invalid_tool_input', { tool: tool.def.name, errors: inputErrors });
    return {
      timeoutMs: tool.def.timeout_ms || null,
      exec: async (signal) => {
        let output;
        try {
          output = await tool.run(args, { signal });
        } catch (e) {
          if (signal.aborted) return fault('internal_error'); // superseded by deadline_exceeded
          const message = e instanceof ToolFailure ? e.message : `Tool '${tool.def.name}' failed unexpectedly.`;
          return fault('tool_execution_error', { tool: tool.def.name }, message);
        }
        const outputErrors = validate(tool.def.output_schema || {}, output);
        if (outputErrors.length) return fault('invalid_tool_output', { tool: tool.def.name, errors: outputErrors });
        return { result: { output } };
      },
    };
  }

  // --- the request pipeline -----------------------------------------------------------

  /**
   * Runs the checks of one structurally valid request or notification in the order of
   * ALP-CORE-032 and then executes it. Resolves to an outcome ({result} or {error}).
   */
  async process(method, params) {
    const receivedAt = Date.now();
    // ALP-CORE-009: params absent or an array, or an object without a valid _meta.
    if (params === undefined || Array.isArray(params)) {
      return fault('invalid_params', { errors: [{ pointer: '', message: 'params must be an object carrying _meta.' }] });
    }
    if (!own(params, '_meta')) {
      return fault('invalid_params', { errors: [{ pointer: '', message: "Missing required member '_meta'." }] });
    }
    const meta = params._meta;
    // _meta: protocol and message_id present, then the version, then the other members.
    let errors = validate(META_HEAD_SCHEMA, meta, '/_meta');
    if (errors.length) return fault('invalid_params', { errors });
    if (!SUPPORTED_VERSIONS.includes(meta.protocol)) {
      return fault('version_unsupported', { supported: SUPPORTED_VERSIONS.slice(), requested: meta.protocol });
    }
    errors = validate(META_REST_SCHEMA, meta, '/_meta');
    if (errors.length) return fault('invalid_params', { errors });

    // Method existence.
    const spec = this.methods.get(method);
    if (!spec) return fault('method_not_found', { method });

    // Deadline: refused before any side effect (ALP-CORE-036).
    let deadlineMs = null;
    let deadlineText = null;
    if (meta.deadline !== undefined && meta.deadline !== null) {
      deadlineText = meta.deadline;
      deadlineMs = parseTimestamp(meta.deadline);
      if (Date.now() >= deadlineMs) return fault('deadline_exceeded', { deadline: deadlineText, started: false });
    }

    // Params validity against the method's params schema (ALP-CORE-056).
    errors = validate(spec.params, params);
    if (errors.length) return fault('invalid_params', { errors });

    // Authentication: none (the card lists the `none` scheme).

    // _meta.receiver (ALP-CORE-022).
    if (meta.receiver !== undefined && meta.receiver !== null && meta.receiver !== AGENT_ID) {
      return fault('agent_not_found', { agent_id: meta.receiver });
    }

    // Authorization: none.

    // Idempotency (ALP-CORE-043..047), for state-changing methods only.
    const key = STATE_CHANGING.has(method) ? meta.idempotency_key : null;
    let scope = null;
    let digest = null;
    if (key !== undefined && key !== null) {
      scope = JSON.stringify([meta.sender === undefined ? null : meta.sender, AGENT_ID, method, key]);
      const rest = {};
      for (const k of Object.keys(params)) if (k !== '_meta') rest[k] = params[k];
      digest = crypto.createHash('sha256').update(canonicalJson(rest)).digest('hex');
      const entry = this.idempotency.get(scope);
      if (entry && entry.expiresAt <= Date.now()) this.idempotency.delete(scope);
      else if (entry && entry.digest === digest) {
        // Same scope and digest: the first response, waited for if still in flight
        // (ALP-CORE-044) -- but never a success after this request's own deadline.
        return runWithDeadline(() => entry.promise, deadlineMs, deadlineText);
      } else if (entry) {
        return fault('duplicate', { idempotency_key: key });
      }
    }

    // The method's own checks (refusals here do not use up the key, ALP-CORE-046).
    let prepared;
    try {
      prepared = spec.prepare(params, meta);
    } catch (e) {
      process.stderr.write(`internal error in ${method}: ${e && e.message}\n`);
      return fault('internal_error');
    }
    if (isFault(prepared)) return prepared;

    // ALP-TOOL-016: without a deadline, a declared timeout_ms acts as one.
    if (deadlineMs === null && prepared.timeoutMs) {
      deadlineMs = receivedAt + prepared.timeoutMs;
      deadlineText = new Date(deadlineMs).toISOString();
    }

    const promise = runWithDeadline(prepared.exec, deadlineMs, deadlineText);
    if (scope !== null) {
      const entry = { digest, promise, expiresAt: Infinity };
      this.idempotency.set(scope, entry);
      promise.then(() => { entry.expiresAt = Date.now() + this.opts.idempotencyTtlS * 1000; });
    }
    return promise;
  }

  /**
   * Handles one element (or the whole single frame). `rawId` is the exact JSON text of the
   * element's `id` member when it is a number. Resolves to the response text, or null when
   * no response is due (a notification).
   */
  async handleMessage(msg, rawId) {
    if (!isPlainObject(msg)) return serializeResponse('null', fault('invalid_request'));
    const hasId = own(msg, 'id');
    let idText = 'null';
    let idValid = true;
    if (hasId) {
      if (typeof msg.id === 'string') idText = JSON.stringify(msg.id);
      else if (typeof msg.id === 'number' && typeof rawId === 'string' && isIntegerLexeme(rawId)) idText = rawId;
      else idValid = false; // null, boolean, fractional number, object, array
    }
    const structureOk = idValid
      && msg.jsonrpc === '2.0'
      && typeof msg.method === 'string' && msg.method.length > 0
      && (!own(msg, 'params') || (msg.params !== null && typeof msg.params === 'object'));
    if (!structureOk) {
      // SPEC-CHOICE: an object without `id` that is not even a structurally valid
      // notification (wrong jsonrpc, bad method, params of the wrong type) is "neither a
      // valid request nor a valid notification" (ALP-CORE-011) and gets an invalid_request
      // response, as in JSON-RPC 2.0; ALP-CORE-006's "invalid notification" is read as a
      // well-formed notification whose params or _meta are invalid. The response carries the
      // request's id when that id itself is valid (ALP-CORE-004), else null.
      return serializeResponse(idText, fault('invalid_request'));
    }
    let outcome;
    try {
      outcome = await this.process(msg.method, msg.params);
    } catch (e) {
      process.stderr.write(`internal error: ${e && e.message}\n`);
      outcome = fault('internal_error');
    }
    if (!hasId) return null; // notifications never get a response (ALP-CORE-006)
    return serializeResponse(idText, outcome);
  }

  /**
   * Handles one frame (the bytes of a POST body, already known to be within the size
   * limit). Resolves to the response text, or null when no response is due.
   */
  async handleFrame(bytes) {
    let text;
    let value;
    try {
      // SPEC-CHOICE: a byte-order mark is not stripped; a frame starting with one is not a
      // JSON text and gets parse_error (ALP-CORE-001 says frames carry no BOM).
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
      value = JSON.parse(text);
    } catch (e) {
      return serializeResponse('null', fault('parse_error'));
    }
    if (maxDepth(text) > MAX_DEPTH) {
      return serializeResponse('null', fault('payload_too_large', { kind: 'depth', limit: MAX_DEPTH }));
    }
    const rawIds = scanRawIds(text);
    if (!Array.isArray(value)) return this.handleMessage(value, rawIds.get(0));
    if (value.length === 0) return serializeResponse('null', fault('invalid_request'));
    if (value.length > MAX_BATCH) {
      return serializeResponse('null', fault('payload_too_large', { kind: 'batch', limit: MAX_BATCH }));
    }
    // Elements run concurrently; replies are in element order (ALP-CORE-013).
    const replies = await Promise.all(value.map((el, i) => this.handleMessage(el, rawIds.get(i))));
    const parts = replies.filter((r) => r !== null);
    return parts.length ? `[${parts.join(',')}]` : null;
  }
}

/**
 * Runs exec(signal) so that no success is ever returned after the deadline: when the
 * deadline passes first, the work is aborted and the outcome is deadline_exceeded with
 * started true (ALP-CORE-037, ALP-CORE-038, ALP-CORE-055).
 */
function runWithDeadline(exec, deadlineMs, deadlineText) {
  const controller = new AbortController();
  const late = () => fault('deadline_exceeded', { deadline: deadlineText, started: true });
  return new Promise((resolve) => {
    let settled = false;
    let timer = null;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve(outcome);
    };
    if (deadlineMs !== null) {
      const delay = Math.max(0, Math.ceil(deadlineMs - Date.now()));
      if (delay <= MAX_TIMER_MS) {
        timer = setTimeout(() => { controller.abort(); settle(late()); }, delay);
      }
    }
    Promise.resolve()
      .then(() => exec(controller.signal))
      .then((outcome) => {
        if (deadlineMs !== null && !isFault(outcome) && Date.now() >= deadlineMs) settle(late());
        else settle(outcome);
      }, (e) => {
        process.stderr.write(`internal error: ${e && e.message}\n`);
        settle(fault('internal_error'));
      });
  });
}

/** The response text. The id is inserted as raw JSON text so that it is echoed exactly. */
function serializeResponse(idText, outcome) {
  const body = isFault(outcome)
    ? `"error":${JSON.stringify(outcome.error)}`
    : `"result":${JSON.stringify(outcome.result === undefined ? null : outcome.result)}`;
  return `{"jsonrpc":"2.0","id":${idText},${body}}`;
}

/**
 * Whether a JSON number text denotes an integer (JSON Schema semantics: 1.0 and 1e2 are
 * integers). Works on the text so that integers beyond 2^53 are judged and echoed exactly.
 */
function isIntegerLexeme(raw) {
  const m = /^-?(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(raw);
  if (!m) return false;
  const digits = m[1] + (m[2] || '');
  const point = m[1].length + (m[3] ? Number(m[3]) : 0);
  const fractional = point <= 0 ? digits : digits.slice(Math.min(point, digits.length));
  return /^0*$/.test(fractional);
}

/** Greatest nesting depth of a valid JSON text (the outermost object or array is depth 1). */
function maxDepth(text) {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) { depth++; if (depth > max) max = depth; }
    else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/**
 * Raw text of the `id` member of the top-level object (key 0) or of each object element of
 * a top-level array (key = element index), for valid JSON texts of bounded depth.
 */
function scanRawIds(text) {
  const ids = new Map();
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const str = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return text.slice(start, i);
  };
  const scalar = () => {
    const start = i;
    while (i < text.length && !',]} \t\n\r'.includes(text[i])) i++;
    return text.slice(start, i);
  };
  // Skips one value; returns its raw text when it is a number or literal, else undefined.
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') { object(); return undefined; }
    if (c === '[') { array(null); return undefined; }
    if (c === '"') { str(); return undefined; }
    return scalar();
  };
  const object = () => { // returns the raw text of the last `id` member (numbers only)
    let idRaw;
    i++; ws();
    if (text[i] === '}') { i++; return idRaw; }
    for (;;) {
      ws();
      const key = JSON.parse(str());
      ws(); i++; // ':'
      const raw = value();
      if (key === 'id') idRaw = raw;
      ws();
      if (text[i++] === '}') return idRaw;
    }
  };
  const array = (collect) => {
    i++; ws();
    if (text[i] === ']') { i++; return; }
    for (let index = 0; ; index++) {
      ws();
      if (collect && text[i] === '{') collect.set(index, object());
      else value();
      ws();
      if (text[i++] === ']') return;
    }
  };
  ws();
  if (text[i] === '{') ids.set(0, object());
  else if (text[i] === '[') array(ids);
  return ids;
}

// ---------------------------------------------------------------------------------------
// HTTP binding
// ---------------------------------------------------------------------------------------

/** application/json, optionally with charset=utf-8 (ALP-HTTP-001). */
function isJsonContentType(header) {
  if (typeof header !== 'string') return false;
  const [mediaType, ...parameters] = header.split(';');
  if (mediaType.trim().toLowerCase() !== 'application/json') return false;
  for (const p of parameters) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (name === 'charset' && value !== 'utf-8') return false;
  }
  return true;
}

function send(res, status, body, extraHeaders) {
  const headers = Object.assign({}, extraHeaders || {});
  if (body !== null && body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  } else if (status !== 204) {
    headers['Content-Length'] = 0;
  }
  res.writeHead(status, headers);
  res.end(body === null || body === undefined ? undefined : body);
}

/** Reads the body, keeping at most `limit` bytes; resolves to {bytes, tooLarge, aborted}. */
function readBody(req, limit) {
  return new Promise((resolve) => {
    const chunks = [];
    let total = 0;
    let tooLarge = false;
    let done = false;
    const finish = (result) => { if (!done) { done = true; resolve(result); } };
    req.on('data', (chunk) => {
      total += chunk.length;
      if (total > limit) {
        tooLarge = true;
        chunks.length = 0;
        if (total > DRAIN_CAP_BYTES) { req.pause(); finish({ bytes: null, tooLarge: true, aborted: true }); }
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => finish({ bytes: tooLarge ? null : Buffer.concat(chunks, total), tooLarge, aborted: false }));
    req.on('error', () => finish({ bytes: null, tooLarge, aborted: true }));
  });
}

function createHttpServer(agent) {
  return http.createServer(async (req, res) => {
    try {
      const path = new URL(req.url, 'http://localhost').pathname;
      if (path === '/rpc') {
        if (req.method !== 'POST') {
          req.resume();
          send(res, 405, null, { Allow: 'POST' });
          return;
        }
        if (!isJsonContentType(req.headers['content-type'])) {
          // SPEC-CHOICE: the 415 answer carries no JSON-RPC body (the spec defines none).
          req.resume();
          send(res, 415, null, { Accept: 'application/json' });
          return;
        }
        const body = await readBody(req, MAX_FRAME_BYTES);
        if (body.tooLarge) {
          const payload = serializeResponse('null', fault('payload_too_large', { kind: 'bytes', limit: MAX_FRAME_BYTES }));
          send(res, 413, payload, body.aborted ? { Connection: 'close' } : undefined);
          if (body.aborted) res.on('finish', () => req.destroy());
          return;
        }
        if (body.aborted) { req.destroy(); return; }
        const reply = await agent.handleFrame(body.bytes);
        if (reply === null) send(res, 204, null);
        else send(res, 200, reply);
        return;
      }
      if (path === '/.well-known/agentlink.json') {
        req.resume();
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          send(res, 405, null, { Allow: 'GET, HEAD' });
          return;
        }
        send(res, 200, JSON.stringify(agent.card));
        return;
      }
      req.resume();
      send(res, 404, null);
    } catch (e) {
      process.stderr.write(`http handler error: ${e && e.message}\n`);
      if (!res.headersSent) send(res, 500, serializeResponse('null', fault('internal_error')));
      else res.destroy();
    }
  });
}

function formatBaseUrl(host, port) {
  let h = host;
  if (h === '0.0.0.0' || h === '') h = '127.0.0.1';
  else if (h === '::') h = '::1';
  if (h.includes(':')) h = `[${h}]`;
  return `http://${h}:${port}`;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const agent = new Agent(opts);
  const server = createHttpServer(agent);
  server.on('error', (e) => {
    process.stderr.write(`server error: ${e.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    const boundUrl = formatBaseUrl(opts.host, port);
    agent.setBaseUrl(opts.publicUrl || boundUrl);
    process.stdout.write(`listening ${boundUrl}\n`);
  });
  const shutdown = () => {
    clearInterval(agent.sweeper);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (require.main === module) main();

module.exports = { Agent, validate, parseTimestamp, isIntegerLexeme, maxDepth, scanRawIds, canonicalJson };

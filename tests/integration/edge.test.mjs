// The edge features: virtual keys (keygen, 401s, the provider key upstream), teams and routes with
// model allowlists (403s in the API's format, typed SDK errors), session ids and identity in the
// access log, routing by model, Azure deployment paths, the responses API, the admin listener
// (/healthz, /readyz, /metrics, POST /admin/reload with and without a token), live reload (POST
// and SIGHUP, refused configs, reload under load) and SIGTERM draining a stream in flight.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
    startMock, startGateway, gatewayConfig, request, postJson, streamRequest, RawConn, rawPost,
    chatBody, messagesBody, chatText, openaiStreamText, parseSse, assertOpenAIError,
    assertAnthropicError, toYaml, waitUntil, withDeadline, deadPort, GW_BIN, UPSTREAM_KEY,
    TEST_OPTS, T,
} from './lib.mjs';

const CHAT = '/v1/chat/completions';
const MODEL = 'gpt-4o-mini';

// ---------------------------------------------------------------------------------------------
// helpers

/** Runs `portcullis keygen`; returns {key, sha256, out}. */
function keygen(team, { user, id } = {}) {
    const args = ['keygen', '--team', team];
    if (user)
        args.push('--user', user);
    if (id)
        args.push('--id', id);
    const out = execFileSync(GW_BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const km = /^(pc-\S+)$/m.exec(out);
    assert.ok(km, `keygen printed no key line starting with pc-:\n${out}`);
    const hm = /^\s*sha256:\s*([0-9a-f]{64})\s*$/m.exec(out);
    assert.ok(hm, `keygen printed no sha256 entry:\n${out}`);
    return { key: km[1], sha256: hm[1], out };
}

function sha256hex(s) {
    return crypto.createHash('sha256').update(s).digest('hex');
}

/** Parses Prometheus text: [{name, labels: {}, value}]. */
function parseMetrics(text) {
    const out = [];
    for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#'))
            continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        assert.ok(m, `bad metrics line: ${JSON.stringify(line)}`);
        const labels = {};
        if (m[2]) {
            const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/g;
            let lm;
            let consumed = 0;
            while ((lm = re.exec(m[2])) !== null) {
                labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
                consumed = re.lastIndex;
            }
            assert.equal(consumed, m[2].length, `bad labels in metrics line: ${line}`);
        }
        out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
}

class Metrics {
    constructor(text) {
        this.text = text;
        this.samples = parseMetrics(text);
    }

    /** Sum of the series of name whose labels include all of want (0 when there is none). */
    sum(name, want = {}) {
        let s = 0;
        for (const x of this.samples)
            if (x.name === name && Object.entries(want).every(([k, v]) => x.labels[k] === v))
                s += x.value;
        return s;
    }

    /** The value of the one series of name with exactly these labels; undefined if absent. */
    get(name, labels = {}) {
        const hits = this.samples.filter((x) => x.name === name &&
            Object.keys(x.labels).length === Object.keys(labels).length &&
            Object.entries(labels).every(([k, v]) => x.labels[k] === v));
        assert.ok(hits.length <= 1, `${hits.length} series ${name} ${JSON.stringify(labels)}`);
        return hits.length ? hits[0].value : undefined;
    }
}

async function metrics(g) {
    const r = await request(g.adminPort, { path: '/metrics' });
    assert.equal(r.status, 200, `/metrics answered ${r.status}: ${r.body}`);
    assert.match(r.headers['content-type'] || '', /^text\/plain/);
    return new Metrics(r.body);
}

async function generation(g) {
    return (await metrics(g)).get('portcullis_config_generation');
}

function adminPost(g, pathname, headers = {}) {
    return request(g.adminPort, { method: 'POST', path: pathname, headers, body: '' });
}

function bearer(key) {
    return { authorization: `Bearer ${key}` };
}

function openaiClient(port, key, prefix = '/v1') {
    return new OpenAI({
        baseURL: `http://127.0.0.1:${port}${prefix}`, apiKey: key, maxRetries: 0, timeout: T(20000),
    });
}

function anthropicClient(port, key) {
    return new Anthropic({
        baseURL: `http://127.0.0.1:${port}`, apiKey: key, maxRetries: 0, timeout: T(20000),
    });
}

async function collectChat(stream) {
    let text = '';
    for await (const chunk of stream)
        text += chunk.choices[0]?.delta?.content ?? '';
    return text;
}

/** Asserts the virtual key appears nowhere in what the mock received. */
function assertNoVirtualKey(last, key) {
    const seen = JSON.stringify(last);
    assert.ok(!seen.includes(key), `the virtual key reached the provider: ${seen}`);
}

/** The listening ports printed at start-up, in config order: [{port, tls}]. */
function listeningPorts(g) {
    return [...g.stderr.matchAll(/portcullis: listening on 127\.0\.0\.1:(\d+)( TLS)? \((\d+) workers?\)/g)]
        .map((m) => ({ port: Number(m[1]), tls: !!m[2], workers: Number(m[3]) }));
}

// ---------------------------------------------------------------------------------------------
// The shared gateway: keys for two teams, an allowlisted route, routing by model, Azure.

let mock;
let gw; // identity, policies, providers
const K = {}; // name -> {key, sha256}

function mainConfig(dir) {
    return gatewayConfig(mock.url, dir, {
        workers: 2,
        providers: [
            { name: 'alt', api: 'openai', base_url: `${mock.url}/alt`, auth: 'bearer',
                key_env: 'PC_TEST_KEY' },
            { name: 'azure', api: 'openai', base_url: `${mock.url}/az`, auth: 'api-key',
                key_env: 'PC_TEST_KEY', azure_api_version: '2024-10-21',
                deployments: { 'gpt-4o': 'my-deploy' } },
        ],
        routes: [
            { prefix: '/azure/v1/', provider: 'azure' },
            { prefix: '/ro/v1/', provider: 'openai', allowed_models: ['gpt-4o-mini', 'o1*'] },
            { prefix: '/v1/', provider: 'alt', models: ['llama*'] },
        ],
        extra: {
            auth: { required: 'auto', session_header: 'X-Session-Id' },
            teams: [
                { name: 'gpt-team', allowed_models: ['gpt-4o*'] },
                { name: 'open-team' },
            ],
            keys: [
                { id: 'k-alice', team: 'gpt-team', user: 'alice', sha256: K.alice.sha256 },
                { id: 'k-bob', team: 'open-team', user: 'bob', sha256: K.bob.sha256 },
            ],
        },
    });
}

before(async () => {
    K.alice = keygen('gpt-team', { user: 'alice', id: 'k-alice' });
    K.bob = keygen('open-team', { user: 'bob', id: 'k-bob' });
    mock = await startMock({ threads: 2 });
    gw = await startGateway(mainConfig);
});

after(async () => {
    for (const g of [gw, gwr, gwa, gwd])
        if (g)
            await g.kill();
    if (mock)
        await mock.stop();
});

// ---------------------------------------------------------------------------------------------
// identity

test('keygen: a pc- key and a keys: entry whose sha256 is the key\'s SHA-256', TEST_OPTS, () => {
    const k = keygen('team-x', { user: 'carol', id: 'k-carol' });
    assert.match(k.key, /^pc-[A-Za-z0-9_-]{20,}$/);
    assert.equal(k.sha256, sha256hex(k.key));
    assert.match(k.out, /^\s*- id: k-carol$/m);
    assert.match(k.out, /^\s*team: team-x$/m);
    assert.match(k.out, /^\s*user: "?carol"?$/m);
    const k2 = keygen('team-x');
    assert.notEqual(k2.key, k.key, 'two keygen runs printed the same key');
    assert.equal(k2.sha256, sha256hex(k2.key));
});

test('start-up: admin line and one listening line', TEST_OPTS, () => {
    assert.match(gw.stderr, /^portcullis: admin on 127\.0\.0\.1:\d+$/m);
    assert.ok(gw.adminPort > 0);
    assert.deepEqual(listeningPorts(gw), [{ port: gw.port, tls: false, workers: 2 }]);
});

test('no key → 401 authentication_error / invalid_api_key (OpenAI format), nothing upstream',
    TEST_OPTS, async () => {
        const m0 = await metrics(gw);
        const s0 = await mock.stats();
        const r = await postJson(gw.port, CHAT, chatBody('no key'), { 'x-request-id': 'nokey-1' });
        const j = assertOpenAIError(r, 401, 'no key');
        assert.equal(j.error.type, 'authentication_error');
        assert.equal(j.error.code, 'invalid_api_key');
        assert.equal(j.error.param, null);
        assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
        assert.equal(r.headers['x-request-id'], 'nokey-1');
        assert.equal((await mock.stats()).requests, s0.requests, 'a 401 request reached the mock');
        const e = await gw.waitAccessLog((l) => l.request_id === 'nokey-1');
        assert.equal(e.status, 401);
        assert.equal(e.key_id, null);
        assert.equal(e.team, null);
        const m1 = await metrics(gw);
        assert.equal(m1.sum('portcullis_auth_failures_total', { reason: 'missing_key' }) -
                     m0.sum('portcullis_auth_failures_total', { reason: 'missing_key' }), 1);
        assert.equal(m1.sum('portcullis_auth_failures_total', { reason: 'unknown_key' }) -
                     m0.sum('portcullis_auth_failures_total', { reason: 'unknown_key' }), 0);
    });

test('unknown key (Bearer and x-api-key) → 401 invalid_api_key; counted as unknown_key',
    TEST_OPTS, async () => {
        const m0 = await metrics(gw);
        const s0 = await mock.stats();
        const bogus = 'pc-not-a-key-the-gateway-knows';
        for (const h of [bearer(bogus), { 'x-api-key': bogus }, bearer(K.alice.key.slice(0, -1))]) {
            const r = await postJson(gw.port, CHAT, chatBody('bad key'), h);
            const j = assertOpenAIError(r, 401, JSON.stringify(h));
            assert.equal(j.error.type, 'authentication_error');
            assert.equal(j.error.code, 'invalid_api_key');
        }
        // the provider's own key is no virtual key either
        const r = await postJson(gw.port, CHAT, chatBody('upstream key'), bearer(UPSTREAM_KEY));
        assertOpenAIError(r, 401, 'the upstream key presented as a client key');
        assert.equal((await mock.stats()).requests, s0.requests, 'a 401 request reached the mock');
        const m1 = await metrics(gw);
        assert.equal(m1.sum('portcullis_auth_failures_total', { reason: 'unknown_key' }) -
                     m0.sum('portcullis_auth_failures_total', { reason: 'unknown_key' }), 4);
    });

test('Anthropic route: missing / unknown key → 401 in Anthropic format', TEST_OPTS, async () => {
    for (const h of [{}, { 'x-api-key': 'pc-unknown' }, bearer('pc-unknown')]) {
        const r = await postJson(gw.port, '/v1/messages', messagesBody('who'),
            { 'anthropic-version': '2023-06-01', ...h });
        const j = assertAnthropicError(r, 401, JSON.stringify(h));
        assert.equal(j.error.type, 'authentication_error');
    }
});

test('valid key (Bearer): 200; upstream gets the provider key, never the virtual key',
    TEST_OPTS, async () => {
        const r = await postJson(gw.port, CHAT, chatBody('alice speaks'), bearer(K.alice.key));
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'alice speaks');
        const last = await mock.last();
        assert.equal(last.path, CHAT);
        assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        assert.equal(last.headers['x-api-key'], undefined);
        assertNoVirtualKey(last, K.alice.key);
    });

test('valid key as x-api-key on an OpenAI route: the upstream sees only the provider key',
    TEST_OPTS, async () => {
        const r = await postJson(gw.port, CHAT, chatBody('bob via x-api-key'),
            { 'x-api-key': K.bob.key });
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'bob via x-api-key');
        const last = await mock.last();
        assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        assert.equal(last.headers['x-api-key'], undefined);
        assertNoVirtualKey(last, K.bob.key);
    });

test('anthropic SDK with a virtual key: upstream x-api-key is the provider key', TEST_OPTS,
    async () => {
        const a = anthropicClient(gw.port, K.bob.key);
        const msg = await a.messages.create({
            model: 'claude-3-5-haiku-latest', max_tokens: 32,
            messages: [{ role: 'user', content: 'anthropic with a virtual key' }],
        });
        assert.equal(msg.content[0].text, 'anthropic with a virtual key');
        const last = await mock.last();
        assert.equal(last.path, '/v1/messages');
        assert.equal(last.headers['x-api-key'], UPSTREAM_KEY);
        assert.equal(last.headers.authorization, undefined);
        assertNoVirtualKey(last, K.bob.key);
    });

test('SDKs raise AuthenticationError (401) for an unknown key', TEST_OPTS, async () => {
    await assert.rejects(
        openaiClient(gw.port, 'pc-unknown').chat.completions.create(
            { model: MODEL, messages: [{ role: 'user', content: 'x' }] }),
        (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 &&
            e.code === 'invalid_api_key');
    await assert.rejects(
        anthropicClient(gw.port, 'pc-unknown').messages.create({
            model: 'claude-3-5-haiku-latest', max_tokens: 16,
            messages: [{ role: 'user', content: 'x' }],
        }),
        (e) => e instanceof Anthropic.AuthenticationError && e.status === 401);
});

test('access log: team, key_id, user, model and session (X-Session-Id header)', TEST_OPTS,
    async () => {
        const r = await postJson(gw.port, CHAT, chatBody('with session', { user: 'body-user' }),
            { ...bearer(K.alice.key), 'x-session-id': 'sess-header-1', 'x-request-id': 'ident-1' });
        assert.equal(r.status, 200, r.body);
        const e = await gw.waitAccessLog((l) => l.request_id === 'ident-1');
        assert.equal(e.team, 'gpt-team');
        assert.equal(e.key_id, 'k-alice');
        assert.equal(e.user, 'alice');
        assert.equal(e.model, MODEL);
        assert.equal(e.session, 'sess-header-1', 'the header wins over the body user');
        assert.equal(e.provider, 'openai');
    });

test('access log: session from the body (OpenAI user, Anthropic metadata.user_id)', TEST_OPTS,
    async () => {
        let r = await postJson(gw.port, CHAT, chatBody('session in body', { user: 'sess-body-2' }),
            { ...bearer(K.bob.key), 'x-request-id': 'ident-2' });
        assert.equal(r.status, 200, r.body);
        let e = await gw.waitAccessLog((l) => l.request_id === 'ident-2');
        assert.equal(e.session, 'sess-body-2');
        assert.equal(e.team, 'open-team');
        assert.equal(e.key_id, 'k-bob');
        assert.equal(e.user, 'bob');

        r = await postJson(gw.port, '/v1/messages',
            messagesBody('anthropic session', { metadata: { user_id: 'sess-anth-3' } }),
            { 'x-api-key': K.bob.key, 'anthropic-version': '2023-06-01', 'x-request-id': 'ident-3' });
        assert.equal(r.status, 200, r.body);
        e = await gw.waitAccessLog((l) => l.request_id === 'ident-3');
        assert.equal(e.session, 'sess-anth-3');
        assert.equal(e.model, 'claude-3-5-haiku-latest');
        assert.equal(e.provider, 'anthropic');
        assert.equal(e.key_id, 'k-bob');

        r = await postJson(gw.port, CHAT, chatBody('no session'),
            { ...bearer(K.bob.key), 'x-request-id': 'ident-4' });
        assert.equal(r.status, 200, r.body);
        e = await gw.waitAccessLog((l) => l.request_id === 'ident-4');
        assert.equal(e.session, null);
    });

test('no virtual key appears in the access log or the gateway\'s stderr', TEST_OPTS, () => {
    const log = fs.readFileSync(gw.accessLogPath, 'utf8');
    assert.ok(log.length > 0);
    for (const k of [K.alice.key, K.bob.key]) {
        assert.ok(!log.includes(k), 'a virtual key is in the access log');
        assert.ok(!gw.stderr.includes(k), 'a virtual key is in stderr');
    }
});

// ---------------------------------------------------------------------------------------------
// policies

test('team allowlist: allowed model → 200, other model → 403 model_not_allowed naming the team',
    TEST_OPTS, async () => {
        let r = await postJson(gw.port, CHAT, chatBody('allowed', { model: 'gpt-4o' }),
            bearer(K.alice.key));
        assert.equal(r.status, 200, r.body);
        const s0 = await mock.stats();
        r = await postJson(gw.port, CHAT, chatBody('denied', { model: 'o1-mini' }),
            { ...bearer(K.alice.key), 'x-request-id': 'deny-1' });
        const j = assertOpenAIError(r, 403, 'team denial');
        assert.equal(j.error.type, 'permission_error');
        assert.equal(j.error.code, 'model_not_allowed');
        assert.match(j.error.message, /team 'gpt-team'/);
        assert.match(j.error.message, /allowed_models/);
        assert.match(j.error.message, /o1-mini/);
        assert.equal((await mock.stats()).requests, s0.requests, 'a denied request reached the mock');
        const e = await gw.waitAccessLog((l) => l.request_id === 'deny-1');
        assert.equal(e.status, 403);
        assert.equal(e.model, 'o1-mini');
        assert.equal(e.key_id, 'k-alice');
        // the other team has no allowlist
        r = await postJson(gw.port, CHAT, chatBody('bob may', { model: 'o1-mini' }), bearer(K.bob.key));
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'bob may');
    });

test('team allowlist: a body without a model → 403; GET /v1/models passes', TEST_OPTS,
    async () => {
        let r = await postJson(gw.port, CHAT, { messages: [{ role: 'user', content: 'x' }] },
            bearer(K.alice.key));
        const j = assertOpenAIError(r, 403, 'no model');
        assert.equal(j.error.code, 'model_not_allowed');
        assert.match(j.error.message, /team 'gpt-team'/);
        r = await request(gw.port, { path: '/v1/models', headers: bearer(K.alice.key) });
        assert.equal(r.status, 200, r.body);
        assert.equal(JSON.parse(r.body).object, 'list');
    });

test('team allowlist on /v1/messages → 403 permission_error in Anthropic format', TEST_OPTS,
    async () => {
        const r = await postJson(gw.port, '/v1/messages', messagesBody('claude for alice?'),
            { 'x-api-key': K.alice.key, 'anthropic-version': '2023-06-01' });
        const j = assertAnthropicError(r, 403, 'anthropic team denial');
        assert.equal(j.error.type, 'permission_error');
        assert.match(j.error.message, /team 'gpt-team'/);
        assert.match(j.error.message, /allowed_models/);
    });

test('SDKs raise PermissionDeniedError (403) for a model the team may not use', TEST_OPTS,
    async () => {
        await assert.rejects(
            openaiClient(gw.port, K.alice.key).chat.completions.create(
                { model: 'o3', messages: [{ role: 'user', content: 'x' }] }),
            (e) => e instanceof OpenAI.PermissionDeniedError && e.status === 403 &&
                e.code === 'model_not_allowed' && /team 'gpt-team'/.test(e.message));
        await assert.rejects(
            openaiClient(gw.port, K.alice.key).chat.completions.create(
                { model: 'o3', stream: true, messages: [{ role: 'user', content: 'x' }] }),
            (e) => e instanceof OpenAI.PermissionDeniedError && e.status === 403);
        await assert.rejects(
            anthropicClient(gw.port, K.alice.key).messages.create({
                model: 'claude-3-5-haiku-latest', max_tokens: 16,
                messages: [{ role: 'user', content: 'x' }],
            }),
            (e) => e instanceof Anthropic.PermissionDeniedError && e.status === 403 &&
                /allowed_models/.test(e.message));
    });

test('route allowlist: 403 naming the route for another model, 200 for an approved one',
    TEST_OPTS, async () => {
        let r = await postJson(gw.port, '/ro/v1/chat/completions', chatBody('route ok'),
            bearer(K.bob.key));
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'route ok');
        assert.equal((await mock.last()).path, '/ro/v1/chat/completions');
        r = await postJson(gw.port, '/ro/v1/chat/completions', chatBody('route o1', { model: 'o1-pro' }),
            bearer(K.bob.key));
        assert.equal(r.status, 200, r.body);
        const s0 = await mock.stats();
        r = await postJson(gw.port, '/ro/v1/chat/completions', chatBody('x', { model: 'gpt-4o' }),
            bearer(K.bob.key));
        const j = assertOpenAIError(r, 403, 'route denial');
        assert.equal(j.error.type, 'permission_error');
        assert.equal(j.error.code, 'model_not_allowed');
        assert.match(j.error.message, /route '\/ro\/v1\/'/);
        assert.match(j.error.message, /allowed_models/);
        assert.equal((await mock.stats()).requests, s0.requests);
        // both policies apply: the route allows o1*, alice's team does not
        r = await postJson(gw.port, '/ro/v1/chat/completions', chatBody('x', { model: 'o1-pro' }),
            bearer(K.alice.key));
        const j2 = assertOpenAIError(r, 403, 'team denial on an allowlisted route');
        assert.match(j2.error.message, /team 'gpt-team'/);
    });

// ---------------------------------------------------------------------------------------------
// providers

test('routing by model: llama* goes to provider alt, others to the catch-all', TEST_OPTS,
    async () => {
        let r = await postJson(gw.port, CHAT, chatBody('to llama', { model: 'llama-3.1-70b' }),
            { ...bearer(K.bob.key), 'x-request-id': 'route-llama' });
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'to llama');
        let last = await mock.last();
        assert.equal(last.path, '/alt/v1/chat/completions');
        assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        let e = await gw.waitAccessLog((l) => l.request_id === 'route-llama');
        assert.equal(e.provider, 'alt');

        r = await postJson(gw.port, CHAT, chatBody('to openai', { model: 'mistral-large' }),
            { ...bearer(K.bob.key), 'x-request-id': 'route-other' });
        assert.equal(r.status, 200, r.body);
        last = await mock.last();
        assert.equal(last.path, CHAT);
        e = await gw.waitAccessLog((l) => l.request_id === 'route-other');
        assert.equal(e.provider, 'openai');

        // streaming, with the SDK
        const stream = await openaiClient(gw.port, K.bob.key).chat.completions.create({
            model: 'llama-3.2-3b', stream: true,
            messages: [{ role: 'user', content: 'llama streams here' }],
        });
        assert.equal(await collectChat(stream), 'llama streams here');
        last = await mock.last();
        assert.equal(last.path, '/alt/v1/chat/completions');
        assert.equal(JSON.parse(last.body).model, 'llama-3.2-3b');
    });

test('Azure: deployment path, api-version query, api-key header', TEST_OPTS, async () => {
    let r = await postJson(gw.port, '/azure/v1/chat/completions',
        chatBody('azure deployed', { model: 'gpt-4o' }), bearer(K.alice.key));
    assert.equal(r.status, 200, r.body);
    assert.equal(chatText(r.body), 'azure deployed');
    let last = await mock.last();
    assert.equal(last.method, 'POST');
    assert.equal(last.path, '/az/openai/deployments/my-deploy/chat/completions');
    assert.equal(last.query, 'api-version=2024-10-21');
    assert.equal(last.headers['api-key'], UPSTREAM_KEY);
    assert.equal(last.headers.authorization, undefined);
    assert.equal(last.headers['x-api-key'], undefined);
    assertNoVirtualKey(last, K.alice.key);

    // a model without a deployment entry is its own deployment; the client's query is kept
    r = await postJson(gw.port, '/azure/v1/chat/completions?trace=1',
        chatBody('azure by model', { model: 'gpt-4o-mini' }), bearer(K.alice.key));
    assert.equal(r.status, 200, r.body);
    last = await mock.last();
    assert.equal(last.path, '/az/openai/deployments/gpt-4o-mini/chat/completions');
    assert.equal(last.query, 'api-version=2024-10-21&trace=1');

    // the openai SDK, streaming
    const stream = await openaiClient(gw.port, K.alice.key, '/azure/v1').chat.completions.create({
        model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'azure streaming text' }],
    });
    assert.equal(await collectChat(stream), 'azure streaming text');
    last = await mock.last();
    assert.equal(last.path, '/az/openai/deployments/my-deploy/chat/completions');
    assert.equal(last.headers['api-key'], UPSTREAM_KEY);
});

test('Azure: a request without a model → 400, nothing upstream', TEST_OPTS, async () => {
    const s0 = await mock.stats();
    const r = await postJson(gw.port, '/azure/v1/chat/completions',
        { messages: [{ role: 'user', content: 'x' }] }, bearer(K.bob.key));
    const j = assertOpenAIError(r, 400, 'azure without model');
    assert.match(j.error.message, /model/);
    assert.equal((await mock.stats()).requests, s0.requests);
});

test('openai SDK: responses.create, non-streaming and streaming', TEST_OPTS, async () => {
    const client = openaiClient(gw.port, K.alice.key);
    const resp = await client.responses.create({ model: 'gpt-4o-mini', input: 'responses api hello' });
    assert.equal(resp.object, 'response');
    assert.equal(resp.output_text, 'responses api hello');
    let last = await mock.last();
    assert.equal(last.path, '/v1/responses');
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);

    const stream = await client.responses.create({
        model: 'gpt-4o-mini', input: 'responses streamed word by word', stream: true,
    });
    let text = '';
    const types = [];
    for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'response.output_text.delta')
            text += ev.delta;
    }
    assert.equal(text, 'responses streamed word by word');
    assert.equal(types[0], 'response.created');
    assert.equal(types[types.length - 1], 'response.completed');
    last = await mock.last();
    assert.equal(last.path, '/v1/responses');
    // the team allowlist applies to the responses API too
    await assert.rejects(client.responses.create({ model: 'o3', input: 'x' }),
        (e) => e instanceof OpenAI.PermissionDeniedError && e.code === 'model_not_allowed');
});

// ---------------------------------------------------------------------------------------------
// admin

let gwa; // admin token, exact metrics

test('admin: /healthz, /readyz, unknown path', TEST_OPTS, async () => {
    let r = await request(gw.adminPort, { path: '/healthz' });
    assert.equal(r.status, 200);
    assert.equal(r.body.trim(), 'ok');
    r = await request(gw.adminPort, { path: '/readyz' });
    assert.equal(r.status, 200);
    assert.equal(r.body.trim(), 'ready');
    r = await request(gw.adminPort, { path: '/nope' });
    assert.equal(r.status, 404);
    // the admin endpoints are not on the API listener
    r = await request(gw.port, { path: '/metrics', headers: bearer(K.bob.key) });
    assert.notEqual(r.status, 200);
    assert.ok(!r.body.includes('portcullis_requests_total'), 'metrics served on the API port');
});

test('metrics: requests_total, upstream latency histogram and auth failures counted exactly', TEST_OPTS,
    async () => {
        gwa = await startGateway((dir) => gatewayConfig(mock.url, dir, {
            workers: 2,
            extra: {
                admin: { listen: '127.0.0.1:0', token_env: 'PC_ADMIN_TOKEN' },
                teams: [{ name: 'm-team' }],
                keys: [{ id: 'k-m', team: 'm-team', sha256: K.bob.sha256 }],
            },
        }), { env: { PC_ADMIN_TOKEN: 'admin-secret-123' } });
        const m0 = await metrics(gwa);
        assert.equal(m0.get('portcullis_config_generation'), 1);
        assert.equal(m0.get('portcullis_config_reloads_total', { result: 'success' }), 0);
        assert.equal(m0.get('portcullis_config_reloads_total', { result: 'failure' }), 0);
        assert.equal(m0.get('portcullis_active_connections'), 0);
        const sel = { route: '/v1/', provider: 'openai', model: MODEL, status: '200' };
        assert.equal(m0.get('portcullis_requests_total', sel), undefined);

        // 3 JSON and 2 streamed 200s, then three 401s (one missing key, two unknown)
        for (let i = 0; i < 3; i++) {
            const r = await postJson(gwa.port, CHAT, chatBody(`m ${i}`), bearer(K.bob.key));
            assert.equal(r.status, 200, r.body);
        }
        for (let i = 0; i < 2; i++) {
            const r = await streamRequest(gwa.port, CHAT, chatBody(`s ${i} two words`, { stream: true }),
                { headers: bearer(K.bob.key) });
            assert.equal(r.status, 200);
            assert.equal(openaiStreamText(r.text), `s ${i} two words`);
        }
        assert.equal((await postJson(gwa.port, CHAT, chatBody('x'))).status, 401);
        assert.equal((await postJson(gwa.port, CHAT, chatBody('x'), bearer('pc-nope'))).status, 401);
        assert.equal((await postJson(gwa.port, CHAT, chatBody('x'), bearer('pc-nope2'))).status, 401);

        const m1 = await metrics(gwa);
        assert.equal(m1.get('portcullis_requests_total', sel), 5, m1.text);
        assert.match(m1.text, /^portcullis_requests_total\{route="\/v1\/",provider="openai",model="gpt-4o-mini",status="200"\} 5$/m);
        assert.equal(m1.sum('portcullis_requests_total', { status: '401' }), 3);
        assert.equal(m1.get('portcullis_auth_failures_total', { reason: 'missing_key' }), 1);
        assert.equal(m1.get('portcullis_auth_failures_total', { reason: 'unknown_key' }), 2);
        // upstream latency: one observation per proxied request, cumulative buckets
        const count = m1.get('portcullis_upstream_latency_seconds_count', { provider: 'openai' });
        assert.equal(count, 5);
        const buckets = m1.samples.filter((x) => x.name === 'portcullis_upstream_latency_seconds_bucket' &&
            x.labels.provider === 'openai');
        assert.ok(buckets.length >= 2, 'no upstream latency buckets');
        for (let i = 1; i < buckets.length; i++)
            assert.ok(buckets[i].value >= buckets[i - 1].value, 'buckets not cumulative');
        assert.equal(buckets[buckets.length - 1].labels.le, '+Inf');
        assert.equal(buckets[buckets.length - 1].value, 5);
        assert.ok(m1.get('portcullis_upstream_latency_seconds_sum', { provider: 'openai' }) > 0);
    });

test('metrics: portcullis_time_to_first_token_seconds observes streamed responses', TEST_OPTS,
    async () => {
        const TTFT = 'portcullis_time_to_first_token_seconds';
        const p = { provider: 'openai' };
        const m0 = await metrics(gwa);
        const c0 = m0.get(`${TTFT}_count`, p) ?? 0;
        const s0 = m0.get(`${TTFT}_sum`, p) ?? 0;
        for (let i = 0; i < 2; i++) {
            const r = await streamRequest(gwa.port, CHAT,
                chatBody(`ttft ${i}`, { stream: true, mock: { first_byte_delay_ms: 100 } }),
                { headers: bearer(K.bob.key) });
            assert.equal(r.status, 200);
            assert.equal(openaiStreamText(r.text), `ttft ${i}`);
        }
        const m1 = await metrics(gwa);
        const c1 = m1.get(`${TTFT}_count`, p);
        assert.ok(c1 !== undefined, `no ${TTFT}_count{provider="openai"}`);
        assert.equal(c1 - c0, 2, `${TTFT}_count went from ${c0} to ${c1} over 2 streamed responses`);
        assert.equal(m1.get(`${TTFT}_bucket`, { ...p, le: '+Inf' }), c1);
        assert.equal(m1.get(`${TTFT}_bucket`, { ...p, le: '0.05' }),
            m0.get(`${TTFT}_bucket`, { ...p, le: '0.05' }) ?? 0,
            'a first token 100 ms after the request was observed as under 50 ms');
        const ds = m1.get(`${TTFT}_sum`, p) - s0;
        assert.ok(ds >= 0.19 && ds < T(10), `${TTFT}_sum grew by ${ds} s for two 100 ms waits`);
    });

test('metrics: portcullis_active_connections follows open client connections', TEST_OPTS,
    async () => {
        const sel = { route: '/v1/', provider: 'openai', model: MODEL, status: '200' };
        const n0 = (await metrics(gwa)).get('portcullis_requests_total', sel);
        // two idle keep-alive connections, then none
        const c1 = await RawConn.connect(gwa.port);
        const c2 = await RawConn.connect(gwa.port);
        for (const c of [c1, c2]) {
            await c.write(rawPost(CHAT, chatBody('conn'), [`Authorization: Bearer ${K.bob.key}`]));
            assert.equal((await c.readResponse()).status, 200);
        }
        await waitUntil(async () => (await metrics(gwa)).get('portcullis_active_connections') === 2,
            T(5000), 'portcullis_active_connections == 2 with two keep-alive clients');
        c1.destroy();
        c2.destroy();
        await waitUntil(async () => (await metrics(gwa)).get('portcullis_active_connections') === 0,
            T(5000), 'portcullis_active_connections back to 0');
        assert.equal((await metrics(gwa)).get('portcullis_requests_total', sel), n0 + 2);
    });

test('admin token: wrong token → 401, right token → 200, loopback without token → 200',
    TEST_OPTS, async () => {
        let r = await adminPost(gwa, '/admin/reload', { authorization: 'Bearer wrong' });
        assert.equal(r.status, 401, r.body);
        assert.equal(JSON.parse(r.body).status, 'error');
        assert.equal(await generation(gwa), 1, 'a refused reload request reloaded');
        r = await adminPost(gwa, '/admin/reload', { authorization: 'Bearer admin-secret-123' });
        assert.equal(r.status, 200, r.body);
        let j = JSON.parse(r.body);
        assert.equal(j.status, 'ok');
        assert.equal(j.generation, 2);
        r = await adminPost(gwa, '/admin/reload');
        assert.equal(r.status, 200, r.body);
        j = JSON.parse(r.body);
        assert.equal(j.generation, 3);
        const m = await metrics(gwa);
        assert.equal(m.get('portcullis_config_generation'), 3);
        assert.equal(m.get('portcullis_config_reloads_total', { result: 'success' }), 2);
        assert.equal(m.get('portcullis_config_reloads_total', { result: 'failure' }), 0);
        await gwa.stopAndCheck();
    });

// ---------------------------------------------------------------------------------------------
// reload

let gwr;
const R = {}; // reload state: the config pieces that change

function reloadConfig(dir, state) {
    return gatewayConfig(mock.url, dir, {
        workers: 2,
        routes: state.routes,
        extra: {
            auth: { required: 'auto' },
            teams: state.teams,
            keys: state.keys,
            ...(state.extra || {}),
        },
    });
}

function writeReloadConfig(state) {
    fs.writeFileSync(gwr.cfgPath, toYaml(reloadConfig(gwr.dir, state)));
}

test('reload: POST /admin/reload adds a key; the config hash changes with the content',
    TEST_OPTS, async () => {
        R.k1 = keygen('r-team', { id: 'k-r1' });
        R.k2 = keygen('r-team', { id: 'k-r2' });
        R.state = {
            teams: [{ name: 'r-team', allowed_models: ['gpt-4o*'] }],
            keys: [{ id: 'k-r1', team: 'r-team', sha256: R.k1.sha256 }],
        };
        gwr = await startGateway((dir) => reloadConfig(dir, R.state));
        let r = await postJson(gwr.port, CHAT, chatBody('k2 early'), bearer(R.k2.key));
        assertOpenAIError(r, 401, 'a key not yet configured');

        r = await adminPost(gwr, '/admin/reload');
        assert.equal(r.status, 200, r.body);
        const same = JSON.parse(r.body);
        assert.equal(same.status, 'ok');
        assert.equal(same.generation, 2);
        assert.match(same.config_hash, /^[0-9a-f]{8,}$/);

        R.state.keys.push({ id: 'k-r2', team: 'r-team', sha256: R.k2.sha256 });
        writeReloadConfig(R.state);
        r = await adminPost(gwr, '/admin/reload');
        assert.equal(r.status, 200, r.body);
        const j = JSON.parse(r.body);
        assert.deepEqual(Object.keys(j).sort(), ['config_hash', 'generation', 'status']);
        assert.equal(j.status, 'ok');
        assert.equal(j.generation, 3);
        assert.notEqual(j.config_hash, same.config_hash, 'config_hash unchanged by a new key');
        r = await postJson(gwr.port, CHAT, chatBody('k2 after reload'),
            { ...bearer(R.k2.key), 'x-request-id': 'reload-k2' });
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'k2 after reload');
        const e = await gwr.waitAccessLog((l) => l.request_id === 'reload-k2');
        assert.equal(e.key_id, 'k-r2');
        assert.match(gwr.stderr, /reloaded/);
    });

test('reload: SIGHUP changes a team\'s allowed_models', TEST_OPTS, async () => {
    let r = await postJson(gwr.port, CHAT, chatBody('x', { model: 'claude-3-opus' }), bearer(R.k1.key));
    assertOpenAIError(r, 403, 'before the allowlist change');
    const g0 = await generation(gwr);
    R.state.teams = [{ name: 'r-team', allowed_models: ['claude-*'] }];
    writeReloadConfig(R.state);
    gwr.proc.kill('SIGHUP');
    await waitUntil(async () => (await generation(gwr)) === g0 + 1, T(5000),
        'portcullis_config_generation to advance after SIGHUP');
    r = await postJson(gwr.port, CHAT, chatBody('now allowed', { model: 'claude-3-opus' }),
        bearer(R.k1.key));
    assert.equal(r.status, 200, r.body);
    assert.equal(chatText(r.body), 'now allowed');
    r = await postJson(gwr.port, CHAT, chatBody('x', { model: MODEL }), bearer(R.k1.key));
    const j = assertOpenAIError(r, 403, 'after the allowlist change');
    assert.equal(j.error.code, 'model_not_allowed');
    assert.match(gwr.stderr, /SIGHUP/);
});

test('reload: an invalid config → 422 with file:line:col; the old config keeps serving',
    TEST_OPTS, async () => {
        const m0 = await metrics(gwr);
        const good = fs.readFileSync(gwr.cfgPath, 'utf8');
        fs.writeFileSync(gwr.cfgPath, `${good}bogus_key: 1\n`);
        const badLine = good.split('\n').length; // 1-based line of the appended key
        let r = await adminPost(gwr, '/admin/reload');
        assert.equal(r.status, 422, r.body);
        assert.match(r.headers['content-type'] || '', /application\/json/);
        const j = JSON.parse(r.body);
        assert.equal(j.status, 'error');
        assert.equal(typeof j.error, 'string');
        const esc = gwr.cfgPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        assert.match(j.error, new RegExp(`${esc}:${badLine}:1: .*bogus_key`));
        const m1 = await metrics(gwr);
        assert.equal(m1.get('portcullis_config_generation'), m0.get('portcullis_config_generation'));
        assert.equal(m1.get('portcullis_config_reloads_total', { result: 'failure' }),
            m0.get('portcullis_config_reloads_total', { result: 'failure' }) + 1);
        // the running config (claude-* for r-team, both keys) still serves
        r = await postJson(gwr.port, CHAT, chatBody('still here', { model: 'claude-3-haiku' }),
            bearer(R.k2.key));
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'still here');

        // a YAML syntax error, by SIGHUP: counted as a failure, generation unchanged
        fs.writeFileSync(gwr.cfgPath, `${good}teams: [unclosed\n`);
        gwr.proc.kill('SIGHUP');
        await waitUntil(async () => (await metrics(gwr)).get('portcullis_config_reloads_total',
            { result: 'failure' }) === m1.get('portcullis_config_reloads_total', { result: 'failure' }) + 1,
        T(5000), 'the failed SIGHUP reload to be counted');
        assert.equal(await generation(gwr), m0.get('portcullis_config_generation'));
        assert.match(gwr.stderr, /reload refused/);
        r = await postJson(gwr.port, CHAT, chatBody('still serving'), bearer(R.k1.key));
        assertOpenAIError(r, 403, 'the old allowlist (claude-*) still applies');
        fs.writeFileSync(gwr.cfgPath, good);
    });

test('reload: changing listen addresses is refused (422 naming \'listen\')', TEST_OPTS,
    async () => {
        const g0 = await generation(gwr);
        const port = await deadPort();
        writeReloadConfig({ ...R.state, extra: { listen: [`127.0.0.1:${port}`] } });
        const r = await adminPost(gwr, '/admin/reload');
        assert.equal(r.status, 422, r.body);
        const j = JSON.parse(r.body);
        assert.equal(j.status, 'error');
        assert.match(j.error, /'listen'/);
        assert.equal(await generation(gwr), g0);
        await assert.rejects(RawConn.connect(port), /ECONNREFUSED/, 'the new address was bound');
        const res = await postJson(gwr.port, CHAT, chatBody('same port', { model: 'claude-x' }),
            bearer(R.k1.key));
        assert.equal(res.status, 200, res.body);
        writeReloadConfig(R.state);
    });

test('reload under load: 4 keep-alive SDK loops across 5 reloads (one invalid), no failures',
    { timeout: T(60000) }, async (t) => {
        const loadKey = keygen('load-team', { id: 'k-load' });
        R.state = {
            teams: [{ name: 'r-team', allowed_models: ['claude-*'] }, { name: 'load-team' }],
            keys: [...R.state.keys, { id: 'k-load', team: 'load-team', sha256: loadKey.sha256 }],
        };
        writeReloadConfig(R.state);
        let r = await adminPost(gwr, '/admin/reload');
        assert.equal(r.status, 200, r.body);

        const LOAD_MODEL = 'gpt-4o-load';
        const sel = { route: '/v1/', provider: 'openai', model: LOAD_MODEL, status: '200' };
        const m0 = await metrics(gwr);
        const gen0 = m0.get('portcullis_config_generation');
        const ok0 = m0.get('portcullis_config_reloads_total', { result: 'success' });
        const fail0 = m0.get('portcullis_config_reloads_total', { result: 'failure' });
        const req0 = m0.get('portcullis_requests_total', sel) ?? 0;

        let stop = false;
        let done = 0;
        let streamed = 0;
        const failures = [];
        const loop = async (id) => {
            const client = openaiClient(gwr.port, loadKey.key);
            for (let n = 0; !stop; n++) {
                const text = `loop ${id} request ${n} ${'xyz'.repeat(n % 5)}`;
                const stream = n % 2 === 1;
                try {
                    let got;
                    if (stream) {
                        const s = await client.chat.completions.create({
                            model: LOAD_MODEL, stream: true,
                            messages: [{ role: 'user', content: text }],
                        });
                        got = await collectChat(s);
                        streamed++;
                    } else {
                        const c = await client.chat.completions.create({
                            model: LOAD_MODEL, messages: [{ role: 'user', content: text }],
                        });
                        got = c.choices[0].message.content;
                    }
                    if (got !== text)
                        failures.push(`loop ${id} #${n}: got ${JSON.stringify(got)}`);
                } catch (e) {
                    failures.push(`loop ${id} #${n}: ${e.constructor.name} ${e.status ?? ''} ${e.message}`);
                }
                done++;
            }
        };
        const loops = [0, 1, 2, 3].map(loop);
        const progress = async (n, what) => {
            const target = done + n;
            await waitUntil(() => done >= target || failures.length > 0, T(20000), what, 5);
        };
        const sighup = async (expectGen) => {
            gwr.proc.kill('SIGHUP');
            await waitUntil(async () => (await generation(gwr)) === expectGen, T(10000),
                `generation ${expectGen} after SIGHUP`);
        };
        try {
            let gen = gen0;
            await progress(40, 'requests before reload 1');
            // 1: POST, a new team
            R.state.teams.push({ name: 'extra-1', allowed_models: ['a*'] });
            writeReloadConfig(R.state);
            r = await adminPost(gwr, '/admin/reload');
            assert.equal(r.status, 200, r.body);
            assert.equal(JSON.parse(r.body).generation, ++gen);
            await progress(40, 'requests after reload 1');
            // 2: SIGHUP, a changed timeout
            R.state.extra = { timeouts: { request: '5m' } };
            writeReloadConfig(R.state);
            await sighup(++gen);
            await progress(40, 'requests after reload 2');
            // 3: POST, invalid
            const good = fs.readFileSync(gwr.cfgPath, 'utf8');
            fs.writeFileSync(gwr.cfgPath, good.replace('providers:', 'providerz:'));
            r = await adminPost(gwr, '/admin/reload');
            assert.equal(r.status, 422, r.body);
            assert.equal(JSON.parse(r.body).status, 'error');
            fs.writeFileSync(gwr.cfgPath, good);
            await progress(40, 'requests after reload 3 (refused)');
            // 4: SIGHUP, a new route
            R.state.routes = [{ prefix: '/extra/v1/', provider: 'openai' }];
            writeReloadConfig(R.state);
            await sighup(++gen);
            await progress(40, 'requests after reload 4');
            // 5: POST, a removed team
            R.state.teams = R.state.teams.filter((t) => t.name !== 'extra-1');
            writeReloadConfig(R.state);
            r = await adminPost(gwr, '/admin/reload');
            assert.equal(r.status, 200, r.body);
            assert.equal(JSON.parse(r.body).generation, ++gen);
            await waitUntil(() => done >= 400 || failures.length > 0, T(30000),
                '400 requests in total', 5);
            await progress(20, 'requests after reload 5');
        } finally {
            stop = true;
            await withDeadline(Promise.all(loops), T(20000), 'the load loops to finish');
        }
        t.diagnostic(`${done} requests (${streamed} streamed) across 5 reloads`);
        assert.deepEqual(failures, [], `${failures.length} of ${done} requests failed`);
        assert.ok(done >= 400, `only ${done} requests`);
        assert.ok(streamed >= done / 2 - 4, `only ${streamed} streamed of ${done}`);
        const m1 = await metrics(gwr);
        assert.equal(m1.get('portcullis_config_generation') - gen0, 4);
        assert.equal(m1.get('portcullis_config_reloads_total', { result: 'success' }) - ok0, 4);
        assert.equal(m1.get('portcullis_config_reloads_total', { result: 'failure' }) - fail0, 1);
        assert.equal(m1.get('portcullis_requests_total', sel) - req0, done,
            'requests_total does not count every load request exactly once');
        // the route added by reload 4 is live
        const res = await postJson(gwr.port, '/extra/v1/chat/completions', chatBody('extra route'),
            bearer(loadKey.key));
        assert.equal(res.status, 200, res.body);
        assert.equal((await mock.last()).path, '/extra/v1/chat/completions');
        await gwr.stopAndCheck();
    });

// ---------------------------------------------------------------------------------------------
// shutdown

let gwd;

/** Resolves once connecting to port is refused (polling: a closed listener is observed by asking). */
function connectRefused(port) {
    return new Promise((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.once('connect', () => {
            s.destroy();
            resolve(false);
        });
        s.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
    });
}

test('SIGTERM with a stream in flight: the stream finishes, /readyz 503, new connections refused, exit 0',
    TEST_OPTS, async () => {
        gwd = await startGateway((dir) => gatewayConfig(mock.url, dir, { workers: 2 }));
        const text = 'draining streams keep every single word until the very end';
        let firstEvent;
        const gotFirst = new Promise((r) => (firstEvent = r));
        const streamP = streamRequest(gwd.port, CHAT,
            chatBody(text, { stream: true, mock: { delay_ms: 100 } }),
            { onEvent: () => firstEvent() });
        await withDeadline(gotFirst, T(5000), 'the first event of the stream');
        gwd.signal('SIGTERM');
        // while the stream runs, the admin listener answers /readyz with 503
        const ready = await waitUntil(async () => {
            const r = await request(gwd.adminPort, { path: '/readyz' });
            return r.status === 503 ? r : null;
        }, T(3000), '/readyz to answer 503 after SIGTERM');
        assert.match(ready.body, /shutting down/);
        const h = await request(gwd.adminPort, { path: '/healthz' });
        assert.equal(h.status, 200);
        const m = await metrics(gwd);
        assert.equal(m.get('portcullis_draining'), 1);
        await waitUntil(() => connectRefused(gwd.port), T(3000),
            'new connections to be refused after SIGTERM');
        const res = await streamP;
        assert.ok(res.complete, `the stream was cut: ${res.error}`);
        assert.equal(res.status, 200);
        assert.equal(openaiStreamText(res.text), text);
        const evs = parseSse(res.text);
        assert.equal(evs[evs.length - 1].data, '[DONE]');
        assert.ok(res.tEnd - res.events[0].t >= 500,
            'the stream ended early (mock delays 100 ms per event)');
        await gwd.stopAndCheck(); // exit code 0, no sanitizer report
    });

test('timeouts.drain: a stalled stream is cut at the drain deadline, exit 0', TEST_OPTS,
    async () => {
        const g = await startGateway((dir) => gatewayConfig(mock.url, dir, {
            workers: 1, timeouts: { drain: '700ms' },
        }));
        let firstEvent;
        const gotFirst = new Promise((r) => (firstEvent = r));
        const streamP = streamRequest(g.port, CHAT,
            chatBody('one two three four', { stream: true, mock: { stall_after: 1 } }),
            { onEvent: () => firstEvent() });
        await withDeadline(gotFirst, T(5000), 'the first event');
        const t0 = performance.now();
        g.signal('SIGTERM');
        const res = await streamP;
        const took = performance.now() - t0;
        assert.ok(!res.complete, 'a stalled stream ended as if complete');
        assert.ok(!res.text.includes('[DONE]'), 'a stalled stream got [DONE]');
        assert.ok(took >= 600, `cut after ${took} ms, before the 700 ms drain deadline`);
        assert.ok(took < T(5000), `cut after ${took} ms`);
        await g.stopAndCheck();
        assert.match(g.stderr, /drain deadline/);
    });

test('gateways and mock: SIGTERM → exit 0, no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    await mock.stopAndCheck();
});

// curl, the access log, `portcullis check`, 404 for unrouted paths, SIGTERM.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
    startMock, startGateway, gatewayConfig, request, postJson, rawExchange, RawConn, rawPost,
    chatBody, chatText, openaiStreamText, parseSse, assertOpenAIError, runCheck, tmpDir,
    waitUntil, ROOT, TEST_OPTS, T,
} from './lib.mjs';

let mock;
let gw;

before(async () => {
    mock = await startMock();
    gw = await startGateway((dir) => gatewayConfig(mock.url, dir, { workers: 1 }));
});

after(async () => {
    if (gw)
        await gw.kill();
    if (mock)
        await mock.stop();
});

function curl(args) {
    return new Promise((resolve) => {
        execFile('curl', args, { timeout: T(20000) }, (err, stdout, stderr) =>
            resolve({ code: err ? err.code : 0, stdout, stderr }));
    });
}

function isNum(v) {
    return typeof v === 'number' && Number.isFinite(v);
}

function assertTime(v) {
    assert.ok(v !== undefined && v !== null, 'time missing');
    const ms = typeof v === 'number' ? (v > 1e12 ? v : v * 1000) : Date.parse(v);
    assert.ok(Number.isFinite(ms), `time not a timestamp: ${v}`);
    assert.ok(Math.abs(ms - Date.now()) < 10 * 60 * 1000, `time far from now: ${v}`);
}

const LOG_FIELDS = ['time', 'request_id', 'method', 'path', 'status', 'upstream_status',
    'bytes_in', 'bytes_out', 'duration_ms', 'upstream_connect_ms', 'ttfb_ms'];

test('access log: one JSON line with sane fields for a proxied request', TEST_OPTS, async () => {
    const body = chatBody('logged', { mock: { first_byte_delay_ms: 200 } });
    const res = await postJson(gw.port, '/v1/chat/completions', body,
        { 'x-request-id': 'log-rid-1' });
    assert.equal(res.status, 200, res.body);
    const e = await gw.waitAccessLog((l) => l.request_id === 'log-rid-1');
    for (const f of LOG_FIELDS)
        assert.ok(f in e, `access log entry lacks ${f}: ${JSON.stringify(e)}`);
    assertTime(e.time);
    assert.equal(e.method, 'POST');
    assert.equal(e.path, '/v1/chat/completions');
    assert.equal(e.status, 200);
    assert.equal(e.upstream_status, 200);
    assert.ok(isNum(e.bytes_in) && e.bytes_in >= JSON.stringify(body).length,
        `bytes_in ${e.bytes_in}`);
    assert.ok(isNum(e.bytes_out) && e.bytes_out >= res.bodyBuf.length, `bytes_out ${e.bytes_out}`);
    assert.ok(isNum(e.upstream_connect_ms) && e.upstream_connect_ms >= 0,
        `upstream_connect_ms ${e.upstream_connect_ms}`);
    assert.ok(isNum(e.ttfb_ms) && e.ttfb_ms >= 150, `ttfb_ms ${e.ttfb_ms} (mock delayed 200 ms)`);
    assert.ok(isNum(e.duration_ms) && e.duration_ms >= e.ttfb_ms,
        `duration_ms ${e.duration_ms} < ttfb_ms ${e.ttfb_ms}`);
    assert.ok(e.duration_ms < 10000, `duration_ms ${e.duration_ms}`);
    assert.equal(gw.accessLog().filter((l) => l.request_id === 'log-rid-1').length, 1);
});

test('access log: a 400 is logged with no upstream figures', TEST_OPTS, async () => {
    const n0 = gw.accessLog().length;
    const { conn, res } = await rawExchange(gw.port,
        'POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    conn.destroy();
    assert.equal(res.status, 400);
    const rid = res.headers['x-request-id'];
    const e = await gw.waitAccessLog((l) => l.status === 400 &&
        (rid === undefined || l.request_id === rid));
    for (const f of LOG_FIELDS)
        assert.ok(f in e, `access log entry lacks ${f}: ${JSON.stringify(e)}`);
    assertTime(e.time);
    assert.equal(e.method, 'POST');
    assert.equal(e.path, '/v1/chat/completions');
    assert.ok(e.upstream_status === null || e.upstream_status === 0,
        `upstream_status ${e.upstream_status} for a request never sent upstream`);
    for (const f of ['upstream_connect_ms', 'ttfb_ms'])
        assert.ok(e[f] === null || (isNum(e[f]) && e[f] <= 0), `${f} ${e[f]} for a 400`);
    assert.ok(isNum(e.bytes_in) && e.bytes_in > 0, `bytes_in ${e.bytes_in}`);
    assert.ok(isNum(e.bytes_out) && e.bytes_out > 0, `bytes_out ${e.bytes_out}`);
    assert.ok(isNum(e.duration_ms) && e.duration_ms >= 0, `duration_ms ${e.duration_ms}`);
    assert.equal(gw.accessLog().length, n0 + 1, 'more than one line for one request');
});

test('curl: a JSON chat completion', TEST_OPTS, async () => {
    const r = await curl(['-sS', `http://127.0.0.1:${gw.port}/v1/chat/completions`,
        '-H', 'content-type: application/json',
        '-d', JSON.stringify(chatBody('hello from curl'))]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(chatText(r.stdout), 'hello from curl');
});

test('curl -N: a streamed chat completion prints the SSE events', TEST_OPTS, async () => {
    const text = 'curl streams this';
    const r = await curl(['-sS', '-N', `http://127.0.0.1:${gw.port}/v1/chat/completions`,
        '-H', 'content-type: application/json',
        '-d', JSON.stringify(chatBody(text, { stream: true }))]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^data: /m);
    assert.equal(openaiStreamText(r.stdout), text);
    const evs = parseSse(r.stdout);
    assert.equal(evs[evs.length - 1].data, '[DONE]');
});

test('404 JSON error for an unrouted path', TEST_OPTS, async () => {
    const r1 = await request(gw.port, { path: '/nope' });
    assertOpenAIError(r1, 404, 'GET /nope');
    const r2 = await postJson(gw.port, '/nope/chat/completions', chatBody('x'));
    assertOpenAIError(r2, 404, 'POST /nope/...');
});

test('portcullis check: the default config is valid and names the mock fallback', TEST_OPTS,
    async () => {
        const r = await runCheck(path.join(ROOT, 'config/portcullis.yaml'));
        assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
        assert.match(r.stdout, /fallback/i);
        assert.match(r.stdout, /mock/);
    });

test('portcullis check: an unknown key → exit 1 with file:line:col naming it', TEST_OPTS,
    async () => {
        const dir = tmpDir('pc-check-');
        const file = path.join(dir, 'bad.yaml');
        fs.writeFileSync(file, [
            'workers: 1',
            'listen:',
            '  - 127.0.0.1:0',
            'limits:',
            '  max_header_bytes: 4k',
            '  max_header_byts: 4k',
            'providers:',
            '  - name: p',
            '    api: openai',
            '    base_url: http://127.0.0.1:9',
            '    auth: none',
            'routes:',
            '  - prefix: /v1/',
            '    provider: p',
            '',
        ].join('\n'));
        const r = await runCheck(file);
        fs.rmSync(dir, { recursive: true, force: true });
        assert.equal(r.code, 1, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
        const m = /^(.*):(\d+):(\d+): (.*)$/m.exec(r.stderr);
        assert.ok(m, `no file:line:col: message in stderr: ${r.stderr}`);
        assert.equal(m[1], file);
        assert.equal(Number(m[2]), 6, `line ${m[2]}`);
        assert.equal(Number(m[3]), 3, `column ${m[3]}`);
        assert.match(m[4], /max_header_byts/);
    });

test('portcullis check --rule-times: each rule compiled alone, the slowest N listed', TEST_OPTS,
    async () => {
        const dir = tmpDir('pc-check-');
        const file = path.join(dir, 'rt.yaml');
        fs.writeFileSync(file, [
            'listen: [127.0.0.1:0]',
            'providers:',
            '  - {name: p, api: openai, base_url: "http://127.0.0.1:9", auth: none}',
            'filters:',
            '  - type: patterns',
            '    rules:',
            "      - {id: rt-one, regex: 'alpha[0-9]{4}', action: redact}",
            "      - {id: rt-two, regex: 'beta.{0,40}gamma', action: event}",
            "      - {id: rt-three, regex: '\\bdelta\\b', flags: i, action: block}",
            'routes:',
            '  - {prefix: /v1/, provider: p}',
            '',
        ].join('\n'));
        const env = { PORTCULLIS_CACHE_DIR: 'off' };
        const lines = (out) => out.split('\n').filter((l) => /^ +[0-9.]+ s +patterns +rt-/.test(l));
        try {
            let r = await runCheck(file, env, ['--rule-times', '2']);
            assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
            assert.match(r.stdout, /compile time of each rule compiled alone, per database .*: 3 rules, [0-9.]+ s in all; the slowest:/);
            assert.equal(lines(r.stdout).length, 2, r.stdout);
            assert.match(r.stdout, /configuration OK/);
            // 0: every rule; each named once
            r = await runCheck(file, env, ['--rule-times', '0']);
            assert.equal(r.code, 0, r.stderr);
            const ids = lines(r.stdout).map((l) => l.trim().split(/ +/)[3]).sort();
            assert.deepEqual(ids, ['rt-one', 'rt-three', 'rt-two']);
            // without a number: the default 30 (all three here); without the option: no listing
            r = await runCheck(file, env, ['--rule-times']);
            assert.equal(lines(r.stdout).length, 3, r.stdout);
            r = await runCheck(file, env);
            assert.equal(r.code, 0, r.stderr);
            assert.doesNotMatch(r.stdout, /compile time/);
            r = await runCheck(file, env, ['--rule-times', '12x']);
            assert.equal(r.code, 2);
            assert.match(r.stderr, /--rule-times wants a number/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

test('SIGTERM drains an in-flight request, then exits 0', TEST_OPTS, async () => {
    const g = await startGateway((dir) => gatewayConfig(mock.url, dir, { workers: 1 }));
    const s0 = await mock.stats();
    const conn = await RawConn.connect(g.port);
    await conn.write(rawPost('/v1/chat/completions',
        chatBody('draining', { mock: { first_byte_delay_ms: 500 } })));
    await waitUntil(async () => (await mock.stats()).requests > s0.requests, T(5000),
        'the request to reach the mock');
    g.signal('SIGTERM');
    const res = await conn.readResponse({ ms: T(5000) });
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'draining');
    conn.destroy();
    await g.stopAndCheck();
});

test('SIGTERM while idle (with an idle keep-alive client) → exit 0 promptly', TEST_OPTS,
    async () => {
        const g = await startGateway((dir) => gatewayConfig(mock.url, dir, { workers: 2 }));
        const conn = await RawConn.connect(g.port);
        await conn.write(rawPost('/v1/chat/completions', chatBody('then idle')));
        const res = await conn.readResponse();
        assert.equal(res.status, 200);
        const t0 = performance.now();
        await g.stopAndCheck();
        assert.ok(performance.now() - t0 < T(5000), 'exit waited for the idle connection');
        await conn.waitClose(T(5000));
    });

test('SIGTERM: the shared gateway and a fresh idle one exit 0, no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    // the shared gateway served the tests above; also a fresh one:
    const g = await startGateway((dir) => gatewayConfig(mock.url, dir, { workers: 1 }));
    await g.stopAndCheck();
    await mock.stopAndCheck();
});

// Upstream failures and TLS: provider down, resets, error statuses and invalid JSON passed
// through, mid-stream resets, client disconnects aborting the upstream, HTTPS verification,
// upstream_connect timeout, retry on a dead pooled connection and on a restarted provider.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
    startMock, startGateway, gatewayConfig, RawConn, rawPost, postJson, chatBody, chatText,
    streamRequest, assertOpenAIError, makeCerts, tmpDir, deadPort, silentServer, TEST_OPTS, T,
} from './lib.mjs';

const CONNECT_TO = 1000;

let mock; // plain http provider
let tlsMock; // https, good cert
let wrongMock; // https, cert for another name
let restartMock; // killed and restarted on the same port
let streamMock; // only used by the client-disconnect test, so its connection count is exact
let hang; // accepts TCP, never speaks
let dead; // nothing listens
let certs;
let certDir;
let gw;

before(async () => {
    certDir = tmpDir('pc-certs-');
    certs = makeCerts(certDir);
    mock = await startMock();
    tlsMock = await startMock({ tlsCert: certs.cert, tlsKey: certs.key });
    wrongMock = await startMock({ tlsCert: certs.wrongCert, tlsKey: certs.wrongKey });
    restartMock = await startMock();
    streamMock = await startMock();
    hang = await silentServer();
    dead = await deadPort();
    const p = (name, baseUrl, extra = {}) => ({
        name, api: 'openai', base_url: baseUrl, auth: 'bearer', key_env: 'PC_TEST_KEY', ...extra,
    });
    gw = await startGateway((dir) => gatewayConfig(mock.url, dir, {
        workers: 1,
        timeouts: { upstream_connect: `${CONNECT_TO}ms`, upstream_first_byte: '10s' },
        providers: [
            p('dead', `http://127.0.0.1:${dead}`),
            p('tls-ok', `https://localhost:${tlsMock.port}`, { ca_file: certs.ca }),
            p('tls-system', `https://localhost:${tlsMock.port}`),
            p('tls-wrongname', `https://localhost:${wrongMock.port}`, { ca_file: certs.ca }),
            p('hang', `https://127.0.0.1:${hang.port}`, { ca_file: certs.ca }),
            p('restart', `http://127.0.0.1:${restartMock.port}`),
            p('slow', `http://127.0.0.1:${streamMock.port}`),
        ],
        routes: [
            { prefix: '/dead/', provider: 'dead' },
            { prefix: '/tls-ok/', provider: 'tls-ok' },
            { prefix: '/tls-system/', provider: 'tls-system' },
            { prefix: '/tls-wrongname/', provider: 'tls-wrongname' },
            { prefix: '/hang/', provider: 'hang' },
            { prefix: '/restart/', provider: 'restart' },
            { prefix: '/slow/', provider: 'slow' },
        ],
    }));
});

after(async () => {
    if (gw)
        await gw.kill();
    for (const m of [mock, tlsMock, wrongMock, restartMock, streamMock])
        if (m)
            await m.stop();
    if (hang)
        await hang.close();
    if (certDir)
        fs.rmSync(certDir, { recursive: true, force: true });
});

const CHAT = '/v1/chat/completions';

test('provider down (nothing listening) → 502 JSON error', TEST_OPTS, async () => {
    const res = await postJson(gw.port, `/dead${CHAT}`, chatBody('anyone?'));
    assertOpenAIError(res, 502, 'upstream down');
});

test('upstream resets before answering → 502', TEST_OPTS, async () => {
    const res = await postJson(gw.port, CHAT, chatBody('reset', { mock: { reset: true } }));
    assertOpenAIError(res, 502, 'reset');
});

for (const status of [429, 500]) {
    test(`upstream ${status} is passed through with its body`, TEST_OPTS, async () => {
        const body = chatBody(`status ${status}`, { mock: { status } });
        const direct = await postJson(mock.port, CHAT, body);
        assert.equal(direct.status, status, 'mock did not answer as scripted');
        const res = await postJson(gw.port, CHAT, body);
        assert.equal(res.status, status, res.body);
        assert.equal(res.body, direct.body, 'error body rewritten by the gateway');
        assert.equal(res.headers['content-type'], direct.headers['content-type']);
    });
}

test('invalid JSON from the upstream is passed through as is', TEST_OPTS, async () => {
    const body = chatBody('broken', { mock: { invalid_json: true } });
    const direct = await postJson(mock.port, CHAT, body);
    assert.throws(() => JSON.parse(direct.body), 'mock sent valid JSON');
    const res = await postJson(gw.port, CHAT, body);
    assert.equal(res.status, direct.status);
    assert.equal(res.body, direct.body);
});

test('upstream reset mid-stream → the client stream is cut, not ended', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gw.port);
    await conn.write(rawPost(CHAT, chatBody('one two three four five six seven eight',
        { stream: true, mock: { chunks: [4], reset_after: 2 } })));
    const res = await conn.readResponse({ ms: T(5000) });
    assert.equal(res.status, 200);
    assert.equal(res.chunked, true);
    assert.equal(res.complete, false,
        `stream ended with a clean terminator after an upstream reset: ${JSON.stringify(res.text)}`);
    assert.equal(conn.closed, true);
});

test('client disconnecting mid-stream closes the upstream connection', TEST_OPTS, async () => {
    const text = 'word '.repeat(60);
    let sawFirst = false;
    const r = await streamRequest(gw.port, `/slow${CHAT}`, chatBody(text,
        { stream: true, mock: { chunks: [5], delay_ms: 200 } }), {
        onEvent: (ev, req) => {
            if (!sawFirst && ev.data && ev.data !== '[DONE]') {
                sawFirst = true;
                req.destroy();
            }
        },
    }).catch((e) => ({ error: e }));
    assert.ok(sawFirst, `no event before the disconnect: ${JSON.stringify(r)}`);
    const status = await streamMock.waitOpen(0, 1000);
    const stats = await streamMock.stats();
    assert.equal(status, 200,
        `upstream connection still open 1 s after the client left: ${JSON.stringify(stats)}`);
});

test('HTTPS upstream verified with ca_file → proxied', TEST_OPTS, async () => {
    const res = await postJson(gw.port, `/tls-ok${CHAT}`, chatBody('over tls'));
    assert.equal(res.status, 200, res.body);
    assert.equal(chatText(res.body), 'over tls');
    const last = await tlsMock.last();
    assert.equal(last.headers.host, `localhost:${tlsMock.port}`);
});

test('HTTPS upstream with an unknown CA (system trust store) → 502', TEST_OPTS, async () => {
    const before0 = await tlsMock.stats();
    const res = await postJson(gw.port, `/tls-system${CHAT}`, chatBody('untrusted'));
    assertOpenAIError(res, 502, 'untrusted CA');
    const after0 = await tlsMock.stats();
    assert.equal(after0.requests, before0.requests, 'request sent over an unverified connection');
});

test('HTTPS upstream whose certificate names another host → 502', TEST_OPTS, async () => {
    const before0 = await wrongMock.stats();
    const res = await postJson(gw.port, `/tls-wrongname${CHAT}`, chatBody('wrong name'));
    assertOpenAIError(res, 502, 'name mismatch');
    const after0 = await wrongMock.stats();
    assert.equal(after0.requests, before0.requests, 'request sent to a host with the wrong name');
});

test('upstream_connect: a TLS peer that never answers the handshake → 504', TEST_OPTS,
    async () => {
        const t0 = performance.now();
        const res = await postJson(gw.port, `/hang${CHAT}`, chatBody('hello?'));
        const elapsed = performance.now() - t0;
        assertOpenAIError(res, 504, 'connect timeout');
        assert.ok(hang.accepted() >= 1, 'the gateway never connected to the silent server');
        assert.ok(elapsed >= CONNECT_TO * 0.8, `504 after only ${elapsed.toFixed(0)} ms`);
        assert.ok(elapsed < T(CONNECT_TO * 5), `504 after ${elapsed.toFixed(0)} ms`);
    });

test('a pooled connection the upstream closed is not fatal (retry)', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gw.port);
    await conn.write(rawPost(CHAT, chatBody('then close', { mock: { close: true } })));
    const r1 = await conn.readResponse();
    assert.equal(r1.status, 200, r1.text);
    assert.equal(chatText(r1.text), 'then close');
    for (let i = 0; i < 3; i++) {
        await conn.write(rawPost(CHAT, chatBody(`after close ${i}`)));
        const r2 = await conn.readResponse();
        assert.equal(r2.status, 200, r2.text);
        assert.equal(chatText(r2.text), `after close ${i}`);
    }
    conn.destroy();
});

test('a restarted provider (same port) is reached again', TEST_OPTS, async () => {
    const r1 = await postJson(gw.port, `/restart${CHAT}`, chatBody('before restart'));
    assert.equal(r1.status, 200, r1.body);
    const port = restartMock.port;
    await restartMock.stop({ kill: true });
    restartMock = await startMock({ port });
    assert.equal(restartMock.port, port);
    const r2 = await postJson(gw.port, `/restart${CHAT}`, chatBody('after restart'));
    assert.equal(r2.status, 200, r2.body);
    assert.equal(chatText(r2.body), 'after restart');
});

test('gateway: SIGTERM exits 0 with no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    for (const m of [mock, tlsMock, wrongMock, restartMock, streamMock])
        await m.stopAndCheck();
});

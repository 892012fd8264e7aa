// Request limits: header bytes, header count, body size (Content-Length and chunked), and
// Expect: 100-continue against the body limit. Error bodies in the provider's format.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    startMock, startGateway, gatewayConfig, RawConn, rawPost, rawExchange, chatBody, chatText,
    messagesBody, assertOpenAIError, assertAnthropicError, TEST_OPTS, T,
} from './lib.mjs';

const MAX_HEADER_BYTES = 4096;
const MAX_HEADERS = 20;
const MAX_BODY = 4096;

let mock;
let gw;

before(async () => {
    mock = await startMock();
    gw = await startGateway((dir) => gatewayConfig(mock.url, dir, {
        workers: 1,
        limits: { max_header_bytes: '4k', max_headers: MAX_HEADERS, max_body_bytes: '4k' },
    }));
});

after(async () => {
    if (gw)
        await gw.kill();
    if (mock)
        await mock.stop();
});

/** Sends bytes on a fresh connection; returns the response and waits for the close. */
async function expectRejected(bytes, status, { anthropic = false, what = '' } = {}) {
    const before0 = await mock.stats();
    const { conn, res } = await rawExchange(gw.port, bytes);
    if (anthropic)
        assertAnthropicError(res, status, what);
    else
        assertOpenAIError(res, status, what);
    await conn.waitClose(T(5000));
    const after0 = await mock.stats();
    assert.equal(after0.requests, before0.requests, `${what}: the request reached the upstream`);
    return res;
}

/** A request with a body of exactly n bytes that is still a valid chat completion. */
function chatOfSize(n) {
    const base = JSON.stringify(chatBody(''));
    return JSON.stringify(chatBody('x'.repeat(n - base.length)));
}

test('request head over max_header_bytes → 431', TEST_OPTS, async () => {
    const big = `X-Big: ${'a'.repeat(MAX_HEADER_BYTES)}`;
    await expectRejected(rawPost('/v1/chat/completions', chatBody('big'), [big]), 431,
        { what: 'big header' });
});

test('a request head under max_header_bytes passes', TEST_OPTS, async () => {
    const ok = `X-Big: ${'a'.repeat(MAX_HEADER_BYTES - 400)}`;
    const { conn, res } = await rawExchange(gw.port,
        rawPost('/v1/chat/completions', chatBody('big but fine'), [ok]));
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'big but fine');
});

test('many small header lines adding up over max_header_bytes → 431', TEST_OPTS, async () => {
    // under max_headers in count, over max_header_bytes in size: 15 headers of 300 bytes
    const hs = Array.from({ length: 15 }, (_, i) => `X-H${i}: ${'b'.repeat(300)}`);
    await expectRejected(rawPost('/v1/chat/completions', chatBody('sum'), hs), 431,
        { what: 'sum of headers' });
});

test('exactly max_headers headers pass', TEST_OPTS, async () => {
    // rawPost sends Host, Content-Type, Content-Length
    const hs = Array.from({ length: MAX_HEADERS - 3 }, (_, i) => `X-N${i}: v`);
    const { conn, res } = await rawExchange(gw.port,
        rawPost('/v1/chat/completions', chatBody('count ok'), hs));
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'count ok');
});

test('more than max_headers headers → 431', TEST_OPTS, async () => {
    const hs = Array.from({ length: MAX_HEADERS - 2 }, (_, i) => `X-N${i}: v`);
    await expectRejected(rawPost('/v1/chat/completions', chatBody('count'), hs), 431,
        { what: 'header count' });
});

test('a body of exactly max_body_bytes passes', TEST_OPTS, async () => {
    const body = chatOfSize(MAX_BODY);
    assert.equal(Buffer.byteLength(body), MAX_BODY);
    const { conn, res } = await rawExchange(gw.port, rawPost('/v1/chat/completions', body));
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    const last = await mock.last();
    assert.equal(last.body.length, MAX_BODY);
});

test('Content-Length over max_body_bytes → 413 before the body is sent', TEST_OPTS, async () => {
    await expectRejected('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
        `Content-Type: application/json\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`, 413,
    { what: 'content-length' });
});

test('413 on an Anthropic route is in the Anthropic error format', TEST_OPTS, async () => {
    await expectRejected('POST /v1/messages HTTP/1.1\r\nHost: gw.test\r\n' +
        'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n', 413,
    { anthropic: true, what: 'anthropic 413' });
});

test('a chunked body growing past max_body_bytes → 413', TEST_OPTS, async () => {
    let wire = 'POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunk = 'c'.repeat(1000);
    for (let i = 0; i < 5; i++)
        wire += `3e8\r\n${chunk}\r\n`;
    // no terminating chunk: the gateway must answer once the limit is crossed
    await expectRejected(wire, 413, { what: 'chunked growth' });
});

test('a chunked body under max_body_bytes passes', TEST_OPTS, async () => {
    const body = JSON.stringify(messagesBody('chunks under the limit'));
    const wire = 'POST /v1/messages HTTP/1.1\r\nHost: gw.test\r\n' +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
        `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const { conn, res } = await rawExchange(gw.port, wire);
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text).content[0].text, 'chunks under the limit');
});

test('Expect: 100-continue with Content-Length over the limit → 413, no 100', TEST_OPTS,
    async () => {
        const conn = await RawConn.connect(gw.port);
        await conn.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
            'Content-Type: application/json\r\nContent-Length: 10000\r\n' +
            'Expect: 100-continue\r\n\r\n');
        const res = await conn.readResponse();
        assert.notEqual(res.status, 100, 'gateway sent 100 Continue for an over-limit body');
        assertOpenAIError(res, 413, 'expect + too large');
        await conn.waitClose(T(5000));
        assert.ok(!conn.buf.toString('latin1').includes('100 Continue'));
    });

test('Expect: 100-continue under the limit → 100 then 200', TEST_OPTS, async () => {
    const body = JSON.stringify(chatBody('continue please'));
    const conn = await RawConn.connect(gw.port);
    await conn.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
        'Expect: 100-continue\r\n\r\n');
    const interim = await conn.readResponse();
    assert.equal(interim.status, 100);
    assert.match(interim.head, /^HTTP\/1\.1 100 Continue$/m);
    await conn.write(body);
    const res = await conn.readResponse();
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'continue please');
});

test('gateway: SIGTERM exits 0 with no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    await mock.stopAndCheck();
});

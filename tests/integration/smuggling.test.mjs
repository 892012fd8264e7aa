// Request smuggling and malformed requests: each answered 400 with a JSON error, the connection
// closed, and nothing forwarded upstream.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    startMock, startGateway, gatewayConfig, rawExchange, RawConn, rawPost, chatBody, chatText,
    assertOpenAIError, TEST_OPTS, T,
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

const BODY = JSON.stringify(chatBody('smuggled?'));
const LINE = 'POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
    'Content-Type: application/json\r\n';
// A second request glued behind the first: must never be answered as a request of its own.
const GET_AFTER = 'GET /v1/models HTTP/1.1\r\nHost: gw.test\r\n\r\n';

function chunkedBody(s) {
    return `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n0\r\n\r\n`;
}

const CASES = [
    ['Content-Length with Transfer-Encoding: chunked',
        `${LINE}Content-Length: ${BODY.length}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${chunkedBody(BODY)}`],
    ['Transfer-Encoding: chunked then Content-Length',
        `${LINE}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${chunkedBody(BODY)}`],
    ['two equal Content-Length headers',
        `${LINE}Content-Length: ${BODY.length}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['two different Content-Length headers',
        `${LINE}Content-Length: ${BODY.length}\r\nContent-Length: 5\r\n\r\n${BODY}`],
    ['Content-Length list "n, n"',
        `${LINE}Content-Length: ${BODY.length}, ${BODY.length}\r\n\r\n${BODY}`],
    ['Content-Length: abc', `${LINE}Content-Length: abc\r\n\r\n${BODY}`],
    ['Content-Length: -1', `${LINE}Content-Length: -1\r\n\r\n${BODY}`],
    ['Content-Length: 1 2', `${LINE}Content-Length: 1 2\r\n\r\n${BODY}`],
    ['Content-Length: +5', `${LINE}Content-Length: +5\r\n\r\n${BODY}`],
    ['invalid chunk size zz',
        `${LINE}Transfer-Encoding: chunked\r\n\r\nzz\r\n${BODY}\r\n0\r\n\r\n`],
    ['obs-fold continuation line (space)',
        `${LINE}X-Folded: first\r\n second\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['obs-fold continuation line (tab)',
        `${LINE}X-Folded: first\r\n\tsecond\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['obs-fold of Transfer-Encoding',
        `${LINE}Transfer-Encoding: identity\r\n chunked\r\n\r\n${chunkedBody(BODY)}`],
    ['bare CR inside a header value',
        `${LINE}X-Cr: a\rb\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['bare CR ending a header line',
        `${LINE}X-Cr: a\rContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['bare LF line endings',
        `POST /v1/chat/completions HTTP/1.1\nHost: gw.test\nContent-Type: application/json\n` +
        `Content-Length: ${BODY.length}\n\n${BODY}`],
    ['one bare LF among CRLF lines',
        `${LINE}X-Lf: a\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['Transfer-Encoding: gzip', `${LINE}Transfer-Encoding: gzip\r\n\r\n${chunkedBody(BODY)}`],
    ['Transfer-Encoding: gzip, chunked',
        `${LINE}Transfer-Encoding: gzip, chunked\r\n\r\n${chunkedBody(BODY)}`],
    ['Transfer-Encoding: identity',
        `${LINE}Transfer-Encoding: identity\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['Transfer-Encoding: chunked, chunked',
        `${LINE}Transfer-Encoding: chunked, chunked\r\n\r\n${chunkedBody(BODY)}`],
    ['two Transfer-Encoding: chunked headers',
        `${LINE}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${chunkedBody(BODY)}`],
    ['Transfer-Encoding: xchunked', `${LINE}Transfer-Encoding: xchunked\r\n\r\n${chunkedBody(BODY)}`],
    ['space before the colon',
        `${LINE}Content-Length : ${BODY.length}\r\n\r\n${BODY}`],
    ['malformed request line: extra token',
        'POST /v1/chat/completions HTTP/1.1 extra\r\nHost: gw.test\r\n\r\n'],
    ['malformed request line: double space',
        'POST  /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n\r\n'],
    ['malformed request line: bad protocol name',
        'GET /v1/models XTTP/1.1\r\nHost: gw.test\r\n\r\n'],
    ['malformed request line: garbage', 'G@RBAGE\r\n\r\n'],
    ['malformed request line: control character in the target',
        'GET /v1/mo\x01dels HTTP/1.1\r\nHost: gw.test\r\n\r\n'],
];

for (const [name, bytes] of CASES) {
    test(`400 and close: ${name}`, TEST_OPTS, async () => {
        const before0 = await mock.stats();
        const conn = await RawConn.connect(gw.port);
        await conn.write(bytes + GET_AFTER);
        const res = await conn.readResponse();
        assertOpenAIError(res, 400, name);
        await conn.waitClose(T(5000));
        const rest = conn.buf.subarray(conn.pos).toString('latin1');
        assert.equal(rest, '', `bytes after the 400 (a second response?): ${JSON.stringify(rest)}`);
        const after0 = await mock.stats();
        assert.equal(after0.requests, before0.requests, 'a request reached the upstream');
    });
}

test('a well-formed request still works after all that', TEST_OPTS, async () => {
    const { conn, res } = await rawExchange(gw.port, rawPost('/v1/chat/completions',
        chatBody('still fine')));
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'still fine');
});

test('gateway: SIGTERM exits 0 with no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    await mock.stopAndCheck();
});

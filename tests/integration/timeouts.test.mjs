// Timeouts, each configured small: client_header, client_body, keepalive and request on one
// gateway; upstream_first_byte and upstream_idle on a second one (so the timeout that fires is
// the one under test).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    startMock, startGateway, gatewayConfig, RawConn, rawPost, chatBody, chatText,
    assertOpenAIError, openaiStreamText, TEST_OPTS, T,
} from './lib.mjs';

const CLIENT_TO = 500; // client_header, client_body, keepalive
const REQUEST_TO = 2500; // above the trickled body's whole time, below the mock's 5 s delay
const UPSTREAM_TO = 600; // upstream_first_byte, upstream_idle

let mock;
let gwc; // client-side timeouts + request
let gwu; // upstream timeouts

before(async () => {
    mock = await startMock();
    gwc = await startGateway((dir) => gatewayConfig(mock.url, dir, {
        workers: 1,
        timeouts: {
            client_header: `${CLIENT_TO}ms`,
            client_body: `${CLIENT_TO}ms`,
            keepalive: `${CLIENT_TO}ms`,
            request: `${REQUEST_TO}ms`,
            upstream_first_byte: '30s',
            upstream_idle: '30s',
        },
    }));
    gwu = await startGateway((dir) => gatewayConfig(mock.url, dir, {
        workers: 1,
        timeouts: {
            request: '60s',
            upstream_first_byte: `${UPSTREAM_TO}ms`,
            upstream_idle: `${UPSTREAM_TO}ms`,
        },
    }));
});

after(async () => {
    for (const g of [gwc, gwu])
        if (g)
            await g.kill();
    if (mock)
        await mock.stop();
});

test('client_header: half a request head → 408 and close', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwc.port);
    const t0 = performance.now();
    await conn.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
        'Content-Type: application/json\r\n');
    const res = await conn.readResponse({ ms: T(5000) });
    const elapsed = performance.now() - t0;
    assertOpenAIError(res, 408, 'client_header');
    await conn.waitClose(T(5000));
    assert.ok(elapsed >= CLIENT_TO * 0.8, `408 after only ${elapsed.toFixed(0)} ms`);
});

test('client_header bounds the whole head, not the gap between bytes (slow loris)', TEST_OPTS,
    async () => {
        const conn = await RawConn.connect(gwc.port);
        const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
            `X-Slow: ${'s'.repeat(200)}\r\n`;
        let i = 0;
        // one byte every 50 ms: each gap is far below client_header, the total is not
        const timer = setInterval(() => {
            if (conn.closed || i >= head.length) {
                clearInterval(timer);
                return;
            }
            conn.write(head[i++]);
        }, 50);
        try {
            const res = await conn.readResponse({ ms: T(5000) });
            assertOpenAIError(res, 408, 'slow loris');
            await conn.waitClose(T(5000));
        } finally {
            clearInterval(timer);
            conn.destroy();
        }
        assert.ok(i < head.length, 'the whole head was sent before the timeout fired');
    });

test('client_body: 10 of 100 body bytes → 408 and close', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwc.port);
    const t0 = performance.now();
    await conn.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":"');
    const res = await conn.readResponse({ ms: T(5000) });
    const elapsed = performance.now() - t0;
    assertOpenAIError(res, 408, 'client_body');
    await conn.waitClose(T(5000));
    assert.ok(elapsed >= CLIENT_TO * 0.8, `408 after only ${elapsed.toFixed(0)} ms`);
});

// The connection's timer is moved lazily: a later deadline is only written down and the timer,
// firing at the earlier one, is added again for the rest. A body whose bytes come in gaps under
// client_body, for longer in all than client_header, must then be read whole, not refused.
test('client_body bounds the gap between body bytes, not the whole body', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwc.port);
    const body = JSON.stringify(chatBody('trickled'));
    const pieces = 10, size = Math.ceil(body.length / pieces);
    await conn.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    const t0 = performance.now();
    for (let i = 0; i < body.length; i += size) {
        await new Promise((r) => setTimeout(r, CLIENT_TO / 5)); // the client's pace, under test
        await conn.write(body.slice(i, i + size));
    }
    const spent = performance.now() - t0;
    const res = await conn.readResponse({ ms: T(5000) });
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'trickled');
    assert.ok(spent > CLIENT_TO, `the body took only ${spent.toFixed(0)} ms`);
    conn.destroy();
});

// After a request the timer still fires at that request's earlier deadline; the next request's
// head on the same connection must get its own full client_header, and a 408 when it stalls.
test('client_header on the second request of a keep-alive connection → 408', TEST_OPTS,
    async () => {
        const conn = await RawConn.connect(gwc.port);
        await conn.write(rawPost('/v1/chat/completions', chatBody('first')));
        const res1 = await conn.readResponse();
        assert.equal(res1.status, 200, res1.text);
        const t0 = performance.now();
        await conn.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n');
        const res = await conn.readResponse({ ms: T(5000) });
        const elapsed = performance.now() - t0;
        assertOpenAIError(res, 408, 'second head');
        await conn.waitClose(T(5000));
        assert.ok(elapsed >= CLIENT_TO * 0.8, `408 after only ${elapsed.toFixed(0)} ms`);
    });

test('keepalive: an idle connection is closed after a request', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwc.port);
    await conn.write(rawPost('/v1/chat/completions', chatBody('then idle')));
    const res = await conn.readResponse();
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'then idle');
    assert.equal(conn.closed, false);
    const idle = await conn.waitClose(T(5000));
    assert.ok(idle >= CLIENT_TO * 0.8, `closed after only ${idle.toFixed(0)} ms idle`);
    assert.equal(conn.buf.length, conn.pos, 'bytes sent after the response on an idle close');
});

test('a connection that never sends a byte is closed', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwc.port);
    await conn.waitClose(T(5000));
});

test('request: upstream slower than the whole-exchange timeout → 504', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwc.port);
    const t0 = performance.now();
    await conn.write(rawPost('/v1/chat/completions',
        chatBody('too slow', { mock: { first_byte_delay_ms: 5000 } })));
    const res = await conn.readResponse({ ms: T(4000) });
    const elapsed = performance.now() - t0;
    conn.destroy();
    assertOpenAIError(res, 504, 'request timeout');
    assert.ok(elapsed >= REQUEST_TO * 0.8, `504 after only ${elapsed.toFixed(0)} ms`);
    assert.ok(elapsed < 5000, 'the 504 came after the upstream would have answered');
});

test('upstream_first_byte: stalled upstream → 504 JSON error', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwu.port);
    const t0 = performance.now();
    await conn.write(rawPost('/v1/chat/completions', chatBody('stall', { mock: { stall: true } })));
    const res = await conn.readResponse({ ms: T(5000) });
    const elapsed = performance.now() - t0;
    conn.destroy();
    assertOpenAIError(res, 504, 'first byte timeout');
    assert.ok(elapsed >= UPSTREAM_TO * 0.8, `504 after only ${elapsed.toFixed(0)} ms`);
});

test('upstream_first_byte on an Anthropic route → Anthropic-format 504', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gwu.port);
    await conn.write(rawPost('/v1/messages', {
        model: 'claude-3-5-haiku-latest',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'stall' }],
        mock: { stall: true },
    }));
    const res = await conn.readResponse({ ms: T(5000) });
    conn.destroy();
    assert.equal(res.status, 504, res.text);
    const j = JSON.parse(res.text);
    assert.equal(j.type, 'error');
    assert.equal(typeof j.error.message, 'string');
});

test('upstream_idle: a stream that stalls mid-way is cut, not ended cleanly', TEST_OPTS,
    async () => {
        const conn = await RawConn.connect(gwu.port);
        await conn.write(rawPost('/v1/chat/completions', chatBody('one two three four five six',
            { stream: true, mock: { chunks: [4], stall_after: 1 } })));
        const res = await conn.readResponse({ ms: T(5000) });
        assert.equal(res.status, 200);
        assert.equal(res.chunked, true);
        assert.equal(res.complete, false,
            `the cut stream was terminated as if complete: ${JSON.stringify(res.text)}`);
        assert.equal(conn.closed, true);
        assert.ok(openaiStreamText(res.text.slice(0, res.text.lastIndexOf('\n\n') + 2))
            .startsWith('one '), `first event missing: ${JSON.stringify(res.text)}`);
    });

// The upstream read deadline is moved by every read (lazily, see client_body above): a stream
// whose events come in gaps under upstream_idle, for longer in all, ends whole.
test('upstream_idle bounds the gap between response bytes, not the whole stream', TEST_OPTS,
    async () => {
        const text = 'one two three four five six seven eight nine ten';
        const conn = await RawConn.connect(gwu.port);
        const t0 = performance.now();
        await conn.write(rawPost('/v1/chat/completions', chatBody(text,
            { stream: true, mock: { chunks: [4], delay_ms: UPSTREAM_TO / 4 } })));
        const res = await conn.readResponse({ ms: T(10000) });
        const elapsed = performance.now() - t0;
        conn.destroy();
        assert.equal(res.status, 200);
        assert.equal(res.complete, true, `the stream was cut: ${JSON.stringify(res.text)}`);
        assert.equal(openaiStreamText(res.text), text);
        assert.ok(elapsed > UPSTREAM_TO, `the stream took only ${elapsed.toFixed(0)} ms`);
    });

test('gateways: SIGTERM exits 0 with no sanitizer report', TEST_OPTS, async () => {
    await gwc.stopAndCheck();
    await gwu.stopAndCheck();
    await mock.stopAndCheck();
});

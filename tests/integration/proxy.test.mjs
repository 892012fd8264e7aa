// Proxying: JSON and SSE, framing towards the client, request ids, header hygiene, keep-alive,
// pipelining, chunked request bodies.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    startMock, startGateway, gatewayConfig, RawConn, rawPost, postJson, chatBody, chatText,
    messagesBody, streamRequest, openaiStreamText, parseSse, TEST_OPTS, UPSTREAM_KEY, CLIENT_KEY,
} from './lib.mjs';

let mock;
let gw;

before(async () => {
    mock = await startMock();
    gw = await startGateway((dir) => gatewayConfig(mock.url, dir, {
        workers: 1,
        providers: [{ name: 'noauth', api: 'openai', base_url: mock.url, auth: 'none' }],
        routes: [{ prefix: '/noauth/', provider: 'noauth' }],
    }));
});

after(async () => {
    if (gw)
        await gw.kill();
    if (mock)
        await mock.stop();
});

test('POST /v1/chat/completions (JSON) is proxied and answered with Content-Length', TEST_OPTS,
    async () => {
        const res = await postJson(gw.port, '/v1/chat/completions', chatBody('hello json'),
            { authorization: `Bearer ${CLIENT_KEY}` });
        assert.equal(res.status, 200, res.body);
        assert.match(res.headers['content-type'], /application\/json/);
        assert.equal(chatText(res.body), 'hello json');
        assert.equal(res.headers['transfer-encoding'], undefined);
        assert.equal(Number(res.headers['content-length']), res.bodyBuf.length);
        const last = await mock.last();
        assert.equal(last.method, 'POST');
        assert.equal(last.path, '/v1/chat/completions');
        assert.deepEqual(JSON.parse(last.body), chatBody('hello json'));
    });

test('the upstream sees the provider key, never the client key', TEST_OPTS, async () => {
    const res = await postJson(gw.port, '/v1/chat/completions', chatBody('auth check'),
        { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY });
    assert.equal(res.status, 200, res.body);
    const last = await mock.last();
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.ok(!JSON.stringify(last).includes(CLIENT_KEY), 'client key reached the upstream');
});

test('auth: none forwards no credentials at all (not the client\'s either)', TEST_OPTS,
    async () => {
        const res = await postJson(gw.port, '/noauth/v1/chat/completions', chatBody('no auth'), {
            authorization: `Bearer ${CLIENT_KEY}`,
            'x-api-key': CLIENT_KEY,
            'api-key': CLIENT_KEY,
        });
        assert.equal(res.status, 200, res.body);
        assert.equal(chatText(res.body), 'no auth');
        const last = await mock.last();
        assert.equal(last.path, '/noauth/v1/chat/completions');
        for (const h of ['authorization', 'x-api-key', 'api-key'])
            assert.equal(last.headers[h], undefined, `${h} forwarded: ${last.headers[h]}`);
        assert.ok(!JSON.stringify(last).includes(CLIENT_KEY), 'client key reached the upstream');
    });

test('an upstream chunked JSON response reaches the client chunked', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gw.port);
    await conn.write(rawPost('/v1/chat/completions', chatBody('chunky', { mock: { chunked: true } })));
    const res = await conn.readResponse();
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(res.chunked, true, `headers: ${res.head}`);
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.complete, true);
    assert.equal(chatText(res.text), 'chunky');
});

test('SSE stream is proxied chunked, with every event and [DONE]', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gw.port);
    const text = 'streaming through the gateway';
    await conn.write(rawPost('/v1/chat/completions', chatBody(text, { stream: true })));
    const res = await conn.readResponse();
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.chunked, true, `headers: ${res.head}`);
    assert.equal(res.complete, true, 'chunked stream not terminated');
    assert.equal(openaiStreamText(res.text), text);
    const events = parseSse(res.text);
    assert.equal(events[events.length - 1].data, '[DONE]');
});

test('SSE events are forwarded as they arrive, not buffered to the end', TEST_OPTS, async () => {
    // 3 content chunks, 300 ms apart: the first must reach the client well before the end.
    const text = 'aaaa bbbb cccc';
    const mockScript = { chunks: [5], delay_ms: 300 };
    let tFirst = null;
    const r = await streamRequest(gw.port, '/v1/chat/completions',
        chatBody(text, { stream: true }), {
            headers: { 'x-mock': JSON.stringify(mockScript) },
            onEvent: (ev) => {
                if (tFirst === null && ev.data !== '[DONE]' && ev.data !== '') {
                    const j = JSON.parse(ev.data);
                    if (j.choices?.[0]?.delta?.content)
                        tFirst = ev.t;
                }
            },
        });
    assert.equal(r.status, 200);
    assert.equal(r.complete, true);
    assert.equal(openaiStreamText(r.text), text);
    const contentEvents = parseSse(r.text).filter((e) => e.data !== '[DONE]' &&
        JSON.parse(e.data).choices?.[0]?.delta?.content);
    assert.equal(contentEvents.length, 3, `expected 3 content events: ${r.text}`);
    assert.notEqual(tFirst, null);
    assert.ok(r.tEnd - tFirst >= 300,
        `first content event arrived only ${(r.tEnd - tFirst).toFixed(0)} ms before the end ` +
        '(mock spaced 3 events 300 ms apart: the gateway buffered the stream)');
});

test('the client x-request-id is returned and sent upstream', TEST_OPTS, async () => {
    const res = await postJson(gw.port, '/v1/chat/completions', chatBody('rid'),
        { 'x-request-id': 'client-rid-42' });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['x-request-id'], 'client-rid-42');
    assert.equal(res.headers['x-upstream-saw-request-id'], 'client-rid-42');
    const last = await mock.last();
    assert.equal(last.headers['x-request-id'], 'client-rid-42');
});

test('without a client x-request-id a unique one is generated', TEST_OPTS, async () => {
    const ids = new Set();
    for (let i = 0; i < 3; i++) {
        const res = await postJson(gw.port, '/v1/chat/completions', chatBody(`gen ${i}`));
        assert.equal(res.status, 200, res.body);
        const id = res.headers['x-request-id'];
        assert.equal(typeof id, 'string');
        assert.ok(id.length > 0, 'empty x-request-id');
        assert.doesNotMatch(id, /^mock-\d+$/, 'x-request-id is the upstream\'s, not the gateway\'s');
        ids.add(id);
    }
    assert.equal(ids.size, 3, `x-request-id not unique: ${[...ids]}`);
});

test('hop-by-hop headers are not forwarded; Host is the upstream\'s; Accept-Encoding dropped',
    TEST_OPTS, async () => {
        const conn = await RawConn.connect(gw.port);
        await conn.write(rawPost('/v1/chat/completions', chatBody('hop'), [
            'Connection: keep-alive, X-Custom-Hop',
            'Keep-Alive: timeout=5',
            'TE: trailers',
            'Trailer: X-Foo',
            'Upgrade: websocket',
            'Proxy-Connection: keep-alive',
            'X-Custom-Hop: must-not-pass',
            'X-Custom-Keep: kept',
            `Authorization: Bearer ${CLIENT_KEY}`,
            'Accept-Encoding: gzip, br',
        ], { host: 'client-facing.example' }));
        const res = await conn.readResponse();
        conn.destroy();
        assert.equal(res.status, 200, res.text);
        assert.equal(chatText(res.text), 'hop');
        const last = await mock.last();
        const h = last.headers;
        for (const name of ['keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection',
            'x-custom-hop'])
            assert.equal(h[name], undefined, `hop-by-hop header ${name} was forwarded: ${h[name]}`);
        if (h.connection !== undefined)
            assert.doesNotMatch(h.connection, /x-custom-hop/i, 'client Connection forwarded');
        assert.equal(h['x-custom-keep'], 'kept', 'an end-to-end header was dropped');
        assert.equal(h.host, `127.0.0.1:${mock.port}`);
        assert.equal(h.authorization, `Bearer ${UPSTREAM_KEY}`);
        if (h['accept-encoding'] !== undefined)
            assert.equal(h['accept-encoding'].trim().toLowerCase(), 'identity');
        const raw = JSON.stringify(last.header_list ?? last.headers).toLowerCase();
        assert.ok(!raw.includes('client-facing.example'), 'client Host forwarded');
        assert.ok(!raw.includes('gzip'), 'client Accept-Encoding forwarded');
        assert.ok(!raw.includes('must-not-pass'), 'header named in Connection forwarded');
    });

test('/v1/messages routes to the anthropic provider with x-api-key auth', TEST_OPTS, async () => {
    const res = await postJson(gw.port, '/v1/messages', messagesBody('hello claude'),
        { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' });
    assert.equal(res.status, 200, res.body);
    const j = JSON.parse(res.body);
    assert.equal(j.content[0].text, 'hello claude');
    const last = await mock.last();
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.headers['x-api-key'], UPSTREAM_KEY);
    assert.equal(last.headers['anthropic-version'], '2023-06-01');
    assert.ok(!JSON.stringify(last).includes(CLIENT_KEY), 'client key reached the upstream');
});

test('keep-alive: sequential requests on one connection reuse one upstream connection',
    TEST_OPTS, async () => {
        const before0 = await mock.stats();
        const conn = await RawConn.connect(gw.port);
        for (let i = 0; i < 4; i++) {
            await conn.write(rawPost('/v1/chat/completions', chatBody(`seq ${i}`)));
            const res = await conn.readResponse();
            assert.equal(res.status, 200, res.text);
            assert.equal(res.complete, true);
            assert.equal(chatText(res.text), `seq ${i}`);
            assert.equal(conn.closed, false, `connection closed after request ${i}`);
        }
        conn.destroy();
        const after0 = await mock.stats();
        assert.equal(after0.requests - before0.requests, 4);
        assert.ok(after0.connections_total - before0.connections_total <= 1,
            `upstream connections opened for 4 sequential requests: ` +
            `${after0.connections_total - before0.connections_total} (pool not reused)`);
        assert.ok(after0.connections_total >= 1);
    });

test('pipelining: 3 requests in one write get 3 responses in order', TEST_OPTS, async () => {
    const conn = await RawConn.connect(gw.port);
    const words = ['first pipelined', 'second pipelined', 'third pipelined'];
    await conn.write(words.map((w) => rawPost('/v1/chat/completions', chatBody(w))).join(''));
    for (const w of words) {
        const res = await conn.readResponse();
        assert.equal(res.status, 200, res.text);
        assert.equal(chatText(res.text), w);
    }
    conn.destroy();
});

test('a chunked request body is de-chunked for the upstream', TEST_OPTS, async () => {
    const body = JSON.stringify(chatBody('chunked request body, in pieces'));
    const pieces = [body.slice(0, 7), body.slice(7, 30), body.slice(30)];
    let wire = 'POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (const p of pieces)
        wire += `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`;
    wire += '0\r\n\r\n';
    const conn = await RawConn.connect(gw.port);
    // header and each chunk in separate writes, then check the echo
    const cut = wire.indexOf('\r\n\r\n') + 4;
    await conn.write(wire.slice(0, cut));
    await conn.write(wire.slice(cut, cut + 12));
    await conn.write(wire.slice(cut + 12));
    const res = await conn.readResponse();
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(chatText(res.text), 'chunked request body, in pieces');
    const last = await mock.last();
    assert.equal(last.body, body);
});

test('Expect: 100-continue gets an interim 100 and then the final response', TEST_OPTS,
    async () => {
        const body = JSON.stringify(chatBody('expecting'));
        const conn = await RawConn.connect(gw.port);
        await conn.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw.test\r\n' +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
            'Expect: 100-continue\r\n\r\n');
        const interim = await conn.readResponse();
        assert.equal(interim.status, 100, interim.head);
        assert.match(interim.head, /^HTTP\/1\.1 100 Continue$/m);
        await conn.write(body);
        const res = await conn.readResponse();
        conn.destroy();
        assert.equal(res.status, 200, res.text);
        assert.equal(chatText(res.text), 'expecting');
    });

test('gateway: SIGTERM exits 0 with no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    await mock.stopAndCheck();
});

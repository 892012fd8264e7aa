// The official SDKs through the gateway: openai (chat completions, JSON and streaming, with
// natural and random wire splits, 100 concurrent streams, errors) and @anthropic-ai/sdk.
// With PC_TEST_TRACE=1 (scripts/integration.sh runs it so too) the route's chain holds the
// `trace` filter, which re-chunks every stream at random: the same assertions must hold.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock, startGateway, gatewayConfig, TEST_OPTS, T, CLIENT_KEY, UPSTREAM_KEY } from './lib.mjs';

const MODEL = 'gpt-4o-mini';
const TRACE = process.env.PC_TEST_TRACE === '1';
let mock;
let gw;
let openai;
let anthropic;

before(async () => {
    mock = await startMock({ threads: 2 });
    gw = await startGateway((dir) => gatewayConfig(mock.url, dir, {
        workers: 2,
        extra: TRACE ? { filters: [{ type: 'trace', seed: 11 }] } : {},
    }));
    openai = new OpenAI({
        baseURL: `http://127.0.0.1:${gw.port}/v1`,
        apiKey: CLIENT_KEY,
        maxRetries: 0,
        timeout: T(20000),
    });
    anthropic = new Anthropic({
        baseURL: `http://127.0.0.1:${gw.port}`,
        apiKey: CLIENT_KEY,
        maxRetries: 0,
        timeout: T(20000),
    });
});

after(async () => {
    if (gw)
        await gw.kill();
    if (mock)
        await mock.stop();
});

function msgs(text) {
    return [{ role: 'system', content: 'You echo.' }, { role: 'user', content: text }];
}

async function collect(stream) {
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
        chunks++;
        text += chunk.choices[0]?.delta?.content ?? '';
    }
    return { text, chunks };
}

test('openai SDK: create() (non-streaming) with its request id', TEST_OPTS, async () => {
    const { data, request_id: rid } = await openai.chat.completions
        .create({ model: MODEL, messages: msgs('sdk json') }).withResponse();
    assert.equal(data.choices[0].message.content, 'sdk json');
    assert.equal(typeof rid, 'string');
    assert.ok(rid.length > 0, 'no x-request-id');
    const last = await mock.last();
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
});

test('openai SDK: streaming, natural wire split', TEST_OPTS, async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    const stream = await openai.chat.completions.create({
        model: MODEL, messages: msgs(text), stream: true, mock: { chunks: [4] },
    });
    const r = await collect(stream);
    assert.equal(r.text, text);
    if (!TRACE) /* trace merges and splits chunks at random */
        assert.ok(r.chunks >= Math.ceil(text.length / 4), `only ${r.chunks} chunks`);
});

for (const seed of [1, 2, 3]) {
    test(`openai SDK: streaming, random wire split (seed ${seed}, via X-Mock header)`, TEST_OPTS,
        async () => {
            const text = `Random wire splits, seed ${seed}: ünïcödé ✓ and "quotes" \\ too.`;
            const stream = await openai.chat.completions.create(
                { model: MODEL, messages: msgs(text), stream: true },
                { headers: { 'X-Mock': JSON.stringify({ chunks: [3], wire_split: 'random', seed }) } });
            const r = await collect(stream);
            assert.equal(r.text, text);
        });
}

test('openai SDK: 100 concurrent streams each get exactly their own text', TEST_OPTS,
    async () => {
        const texts = Array.from({ length: 100 }, (_, i) =>
            `stream ${i}: ${'abcdefghij'.slice(i % 10)}${i * 7919} end`);
        const results = await Promise.all(texts.map(async (text) => {
            const stream = await openai.chat.completions.create({
                model: MODEL, messages: msgs(text), stream: true, mock: { chunks: [3] },
            });
            return (await collect(stream)).text;
        }));
        for (let i = 0; i < texts.length; i++)
            assert.equal(results[i], texts[i], `stream ${i} got another stream's text`);
    });

test('openai SDK: upstream 429 raises RateLimitError', TEST_OPTS, async () => {
    await assert.rejects(
        openai.chat.completions.create({ model: MODEL, messages: msgs('limit'), mock: { status: 429 } }),
        (e) => e instanceof OpenAI.RateLimitError && e.status === 429);
});

test('openai SDK: upstream reset mid-stream makes the stream throw', TEST_OPTS, async () => {
    const stream = await openai.chat.completions.create({
        model: MODEL,
        messages: msgs('one two three four five six seven eight nine ten'),
        stream: true,
        mock: { chunks: [4], reset_after: 2 },
    });
    let got = '';
    await assert.rejects(async () => {
        for await (const chunk of stream)
            got += chunk.choices[0]?.delta?.content ?? '';
    }, 'the cut stream ended without an error');
    assert.ok(got.length < 'one two three four five six seven eight nine ten'.length);
});

test('openai SDK: gateway error (404 unrouted) raises NotFoundError', TEST_OPTS, async () => {
    const other = new OpenAI({
        baseURL: `http://127.0.0.1:${gw.port}/nope`, apiKey: CLIENT_KEY, maxRetries: 0,
    });
    await assert.rejects(other.chat.completions.create({ model: MODEL, messages: msgs('x') }),
        (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
});

test('anthropic SDK: messages.create (non-streaming)', TEST_OPTS, async () => {
    const msg = await anthropic.messages.create({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'hello anthropic' }],
    });
    assert.equal(msg.content[0].type, 'text');
    assert.equal(msg.content[0].text, 'hello anthropic');
    const last = await mock.last();
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.headers['x-api-key'], UPSTREAM_KEY);
});

test('anthropic SDK: streaming with random wire split', TEST_OPTS, async () => {
    const text = 'Anthropic streaming through Portcullis, split at random.';
    const stream = await anthropic.messages.create({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 64,
        messages: [{ role: 'user', content: text }],
        stream: true,
    }, { headers: { 'X-Mock': JSON.stringify({ chunks: [5], wire_split: 'random', seed: 9 }) } });
    let got = '';
    const types = [];
    for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta')
            got += ev.delta.text;
    }
    assert.equal(got, text);
    assert.equal(types[0], 'message_start');
    assert.equal(types[types.length - 1], 'message_stop');
});

test('anthropic SDK: upstream 429 raises RateLimitError', TEST_OPTS, async () => {
    await assert.rejects(anthropic.messages.create({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'limit' }],
    }, { headers: { 'X-Mock': JSON.stringify({ status: 429 }) } }),
    (e) => e instanceof Anthropic.RateLimitError && e.status === 429);
});

test('gateway: SIGTERM exits 0 with no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    await mock.stopAndCheck();
});

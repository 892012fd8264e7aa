// Secrets and personal data end to end (README "Secrets and personal data"), with the shipped
// packs as the default config enables them: credentials redacted both ways, personal data
// reported in requests and redacted in answers; a route with per-type actions (a card in a request
// blocks with 403 naming the type in each provider's format; a card in an answer is masked). THE
// property for streams: a multi-line private key in a streamed answer, split into pieces of 1, 5
// and 13 bytes and across TCP writes, reaches no client — not one line of it — through the openai
// and Anthropic SDKs and raw HTTP. Events are in the audit trail and the metrics, never the values.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
    startMock, startGateway, gatewayConfig, postJson, streamRequest, chatBody, messagesBody,
    assertOpenAIError, assertAnthropicError, runCheck, request, waitUntil, readRecords,
    GW_BIN, ROOT, CLIENT_KEY, TEST_OPTS, T,
} from './lib.mjs';
import fs from 'node:fs';

const SECRETS = path.join(ROOT, 'config/rules/secrets.yaml');
const PII = path.join(ROOT, 'config/rules/pii.yaml');
const OA_MODEL = 'gpt-4o-mini';
const AN_MODEL = 'claude-3-5-haiku-latest';

// Credentials of the right shape, random each run (none of them is real).
const rnd = (alphabet, n) => Array.from(crypto.randomBytes(n), (b) => alphabet[b % alphabet.length])
    .join('');
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const AWS_ID = `AKIA${rnd(UPPER_DIGITS, 16)}`;
const GH_PAT = `ghp_${rnd(ALNUM, 36)}`;
const EMAIL = 'jane.doe@acme-corp.com';
const CARD = '4111 1111 1111 1111';
const IBAN = 'DE89 3704 0044 0532 0130 00';
const PEM = crypto.generateKeyPairSync('rsa', {
    modulusLength: 1024,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey.trim();
// Every line of the key's body: none may reach a client.
const PEM_LINES = PEM.split('\n').filter((l) => !l.startsWith('-----'));

let mock;
let gw;
let auditFile;

before(async () => {
    mock = await startMock();
    gw = await startGateway((dir) => {
        auditFile = path.join(dir, 'audit.jsonl');
        const cfg = gatewayConfig(mock.url, dir, {
            workers: 2,
            extra: {
                audit: {
                    spool_dir: path.join(dir, 'spool'),
                    sinks: [{ name: 'file', type: 'file', path: auditFile }],
                },
                filters: [
                    { type: 'patterns', name: 'secrets', rules_file: SECRETS, request: 'redact',
                        response: 'redact' },
                    { type: 'patterns', name: 'pii', rules_file: PII, request: 'event',
                        response: 'redact' },
                    { type: 'patterns', name: 'pii-strict', rules_file: PII, request: 'event',
                        response: 'redact',
                        types: { card: { request: 'block', response: 'redact', mask: true, keep: 4 } } },
                    { type: 'trace', name: 'chop1', seed: 3 },
                    { type: 'trace', name: 'chop2', seed: 8 },
                ],
            },
        });
        const route = (prefix, provider, filters) =>
            ({ prefix, provider, strip_prefix: true, filters });
        cfg.routes = [
            route('/t-a/', 'anthropic', ['chop1', 'secrets', 'pii', 'chop2']),
            route('/t/', 'openai', ['chop1', 'secrets', 'pii', 'chop2']),
            route('/strict-a/', 'anthropic', ['pii-strict']),
            route('/strict/', 'openai', ['pii-strict']),
            { prefix: '/v1/messages', provider: 'anthropic', filters: ['secrets', 'pii'] },
            { prefix: '/v1/', provider: 'openai', filters: ['secrets', 'pii'] },
        ];
        return cfg;
    });
});

after(async () => {
    if (gw)
        await gw.stopAndCheck();
    if (mock)
        await mock.stopAndCheck();
});

const openai = (prefix = '/v1') => new OpenAI({
    baseURL: `http://127.0.0.1:${gw.port}${prefix}`, apiKey: CLIENT_KEY, maxRetries: 0,
    timeout: T(20000),
});
const anthropic = (prefix = '') => new Anthropic({
    baseURL: `http://127.0.0.1:${gw.port}${prefix}`, apiKey: CLIENT_KEY, maxRetries: 0,
    timeout: T(20000),
});

function assertAbsent(hay, values, what) {
    for (const v of values)
        assert.ok(!hay.includes(v), `${what}: ${JSON.stringify(v)} found`);
}

test('requests: credentials in every role are redacted before the provider sees them; an e-mail ' +
     'is reported, not changed; the audit trail has both events and neither value', TEST_OPTS,
async () => {
    const body = {
        model: OA_MODEL,
        messages: [
            { role: 'system', content: `Deploy with aws_access_key_id = ${AWS_ID}` },
            { role: 'user', content: `My token is ${GH_PAT}, reach me at ${EMAIL}.` },
        ],
    };
    const r = await postJson(gw.port, '/v1/chat/completions', body);
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse((await mock.last()).body);
    // (an overlapping generic rule may name the span: the leftmost match's replacement wins;
    // whether it fires depends on the random key's entropy, else the key id rule alone does)
    assert.match(seen.messages[0].content,
        /^Deploy with aws_(\S*|access_key_id = )\[REDACTED:[a-z-]+\]$/);
    assert.match(seen.messages[1].content, /^My token is \[REDACTED:github-pat\], reach me at /);
    assertAbsent(JSON.stringify(seen), [AWS_ID, GH_PAT], 'provider request');
    assert.ok(seen.messages[1].content.includes(EMAIL), 'personal data in requests: event only');

    let recs = [];
    await waitUntil(() => {
        recs = readRecords(auditFile).filter((x) => x.rule?.category === 'pii:email');
        return recs.length > 0;
    }, T(5000), 'the e-mail event');
    assert.equal(recs[0].event.action, 'event');
    assert.equal(recs[0].portcullis.filter, 'pii');
    assert.equal(recs[0].portcullis.direction, 'request');
    assert.equal(recs[0].portcullis.segment.role, 'user');
    await waitUntil(() => readRecords(auditFile).some((x) => x.rule?.id === 'github-pat' &&
        x.event.action === 'redact' && x.rule.category === 'secret'), T(5000), 'the PAT event');
    assertAbsent(fs.readFileSync(auditFile, 'utf8'), [AWS_ID, GH_PAT, EMAIL], 'audit file');

    const m = await request(gw.adminPort, { path: '/metrics' });
    assert.match(m.body, /portcullis_sensitive_data_detections_total\{direction="request",kind="pii",type="email"\} [1-9]/);
    assert.match(m.body, /portcullis_sensitive_data_detections_total\{direction="request",kind="secret",type="github-pat"\} [1-9]/);
});

test('requests: a credential inside a base64 or hex payload is redacted, the whole encoded run',
    TEST_OPTS, async () => {
        const b64 = Buffer.from(`export GITHUB_TOKEN=${GH_PAT}`).toString('base64');
        const hex = Buffer.from(`aws ${AWS_ID}`).toString('hex');
        const r = await postJson(gw.port, '/v1/chat/completions', { model: OA_MODEL, messages: [
            { role: 'user', content: `Why does this fail? env: ${b64} and key dump ${hex} end` }] });
        assert.equal(r.status, 200, r.body);
        const seen = JSON.parse((await mock.last()).body).messages[0].content;
        assert.match(seen, /^Why does this fail\? env: \[REDACTED:[a-z-]+\] and key dump \[REDACTED:[a-z-]+\] end$/);
        assertAbsent(seen, [b64, hex], 'provider request');
        await waitUntil(() => readRecords(auditFile).some((x) => x.portcullis?.segment?.encoding === 'base64' &&
            x.rule?.category === 'secret' && x.event.action === 'redact'), T(5000), 'an event of an encoded secret');
    });

test('requests: a credential written in invisible tag characters, variation selectors or full-width forms is redacted',
    TEST_OPTS, async () => {
        // what "ASCII smuggling" and "emoji smuggling" tools and fancy-text sites make of it
        const tags = [...GH_PAT].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
        const vs = '\u{1f600}' + [...Buffer.from(`token ${GH_PAT}`)].map((x) =>
            String.fromCodePoint(x < 16 ? 0xfe00 + x : 0xe0100 + x - 16)).join('');
        const wide = [...AWS_ID].map((c) => String.fromCodePoint(0xff00 + c.charCodeAt(0) - 0x20)).join('');
        const r = await postJson(gw.port, '/v1/chat/completions', { model: OA_MODEL, messages: [
            { role: 'user', content: `one ${tags} two ${vs} three ${wide} end` }] });
        assert.equal(r.status, 200, r.body);
        const seen = JSON.parse((await mock.last()).body).messages[0].content;
        assert.match(seen,
            /^one \[REDACTED:github-pat\] two \u{1f600}\[REDACTED:github-pat\] three \[REDACTED:aws-access-key-id\] end$/u);
        await waitUntil(() => ['tags', 'variation-selectors', 'fullwidth'].every((enc) =>
            readRecords(auditFile).some((x) => x.portcullis?.segment?.encoding === enc &&
                x.rule?.category === 'secret' && x.event.action === 'redact')), T(5000),
        'an event per hidden form, with its encoding');
    });

test('requests (Anthropic): a credential inside a tool result is redacted', TEST_OPTS, async () => {
    const body = {
        model: AN_MODEL, max_tokens: 64,
        messages: [
            { role: 'user', content: 'read the config' },
            { role: 'assistant', content: [{ type: 'tool_use', id: 'tu_1', name: 'read', input: {} }] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1',
                content: `token: ${GH_PAT}\nowner: ${EMAIL}` }] },
        ],
    };
    const r = await postJson(gw.port, '/v1/messages', body, { 'anthropic-version': '2023-06-01' });
    assert.equal(r.status, 200, r.body);
    const seen = (await mock.last()).body;
    assertAbsent(seen, [GH_PAT], 'provider request');
    assert.match(seen, /"content":"(?:token: )?\[REDACTED:[a-z-]+\]\\nowner: jane/);
});

for (const [name, prefix] of [['plain', ''], ['traced', '/t']]) {
    test(`streams (${name}): a multi-line private key split into 1, 5 and 13-byte pieces and ` +
         'across TCP writes never reaches the openai SDK, the Anthropic SDK or raw HTTP', TEST_OPTS,
    async () => {
        const text = `Here is the key you asked for:\n${PEM}\nKeep it safe.`;
        const want = 'Here is the key you asked for:\n[REDACTED:private-key]\nKeep it safe.';
        for (const chunks of [[1], [5], [13]]) {
            const script = { text, chunks, wire_split: 'random', seed: chunks[0] };
            const oa = openai(`${prefix}/v1`);
            const s = oa.chat.completions.stream({ model: OA_MODEL, messages: [{ role: 'user',
                content: 'key?' }], mock: script });
            const got = (await s.finalChatCompletion()).choices[0].message.content;
            assert.equal(got, want, `openai chunks ${chunks}`);

            const an = anthropic(prefix === '' ? '' : '/t-a');
            const ms = an.messages.stream({ model: AN_MODEL, max_tokens: 512,
                messages: [{ role: 'user', content: 'key?' }], mock: script });
            const fin = await ms.finalMessage();
            assert.equal(fin.content[0].text, want, `anthropic chunks ${chunks}`);

            const raw = await streamRequest(gw.port, `${prefix}/v1/chat/completions`,
                { ...chatBody('key?'), stream: true, mock: script });
            assert.equal(raw.status, 200);
            assertAbsent(raw.text, PEM_LINES.map((l) => l.slice(0, 12)), `raw SSE, chunks ${chunks}`);
        }
    });
}

test('answers: personal data is redacted in JSON and streamed answers of both APIs', TEST_OPTS,
async () => {
    const text = `Write to ${EMAIL}, pay to ${IBAN}; card ${CARD}.`;
    const want = 'Write to [REDACTED:email], pay to [REDACTED:iban]; card [REDACTED:card].';
    const j = await openai().chat.completions.create({ model: OA_MODEL,
        messages: [{ role: 'user', content: 'x' }], mock: { text } });
    assert.equal(j.choices[0].message.content, want);
    const s = await anthropic('/t-a').messages.stream({ model: AN_MODEL, max_tokens: 256,
        messages: [{ role: 'user', content: 'x' }], mock: { text, chunks: [3] } }).finalMessage();
    assert.equal(s.content[0].text, want);
});

test('per-type actions: a card in a request → 403 naming the data type (openai SDK, Anthropic ' +
     'format); a card in an answer is masked, streamed too; other types keep the filter\'s actions',
TEST_OPTS, async () => {
    let err;
    try {
        await openai('/strict/v1').chat.completions.create({ model: OA_MODEL,
            messages: [{ role: 'user', content: `charge ${CARD} please` }] });
    } catch (e) {
        err = e;
    }
    assert.ok(err instanceof OpenAI.PermissionDeniedError, String(err));
    assert.match(err.message, /personal data \(card\)/);
    assert.ok(!err.message.includes('4111'), 'the error never holds the data');

    const r = await postJson(gw.port, '/strict-a/v1/messages', messagesBody(`card: ${CARD}`),
        { 'anthropic-version': '2023-06-01' });
    assertAnthropicError(r, 403);
    assert.match(JSON.parse(r.body).error.message, /personal data \(card\)/);

    const ok = await postJson(gw.port, '/strict/v1/chat/completions', chatBody(`mail ${EMAIL}`));
    assert.equal(ok.status, 200, 'an e-mail in a request is only reported');

    const text = `Your card ${CARD} and mail ${EMAIL}.`;
    const s = openai('/strict/v1').chat.completions.stream({ model: OA_MODEL,
        messages: [{ role: 'user', content: 'x' }], mock: { text, chunks: [2] } });
    assert.equal((await s.finalChatCompletion()).choices[0].message.content,
        'Your card **** **** **** 1111 and mail [REDACTED:email].');
    const blocked = await postJson(gw.port, '/strict/v1/chat/completions',
        chatBody(`my card is ${CARD}`));
    assertOpenAIError(blocked, 403);
});

test('the default config: both packs load, with the documented actions; portcullis scan ' +
     'redacts a credential in a prompt and personal data in an answer', TEST_OPTS, async () => {
    const cfg = path.join(ROOT, 'config/portcullis.yaml');
    const chk = await runCheck(cfg);
    assert.equal(chk.code, 0, chk.stderr);
    assert.match(chk.stdout, /filter secrets: type patterns.*rules from .*secrets\.yaml; requests: \d+ redact; responses: \d+ redact/);
    assert.match(chk.stdout, /filter pii: type patterns.*rules from .*pii\.yaml; requests: \d+ event; responses: \d+ redact/);
    const lines = [
        { role: 'user', text: `key ${AWS_ID} and ${EMAIL}` },
        { role: 'assistant', text: `mail ${EMAIL}` },
    ].map((x) => JSON.stringify(x)).join('\n');
    const out = execFileSync(GW_BIN, ['scan', '-c', cfg], { input: lines, encoding: 'utf8' })
        .trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(out[0].action, 'redact');
    assert.ok(!out[0].text.includes(AWS_ID) && out[0].text.includes(EMAIL), out[0].text);
    assert.equal(out[1].text, 'mail [REDACTED:email]');
});

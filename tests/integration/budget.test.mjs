// Token and cost budgets and rate limits (README "Budgets and rate limits"), with real clients and
// a real redis-server: exact accounting of JSON and streamed answers of both APIs against the
// provider's usage (read back through the admin API), 429 in each provider's format with
// Retry-After, 200 concurrent requests against a budget that admits 50 (never more), two gateway
// instances sharing one budget through Redis, spend kept across a restart (journal), Redis down →
// 503 (fail closed) or admitted (fail open), a stream cut at the hard cap that the official SDKs
// see as an error, soft-threshold events in the audit trail, and the admin reset / adjust calls.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
    startMock, startGateway, gatewayConfig, postJson, request, chatBody, messagesBody,
    assertOpenAIError, assertAnthropicError, waitUntil, readRecords, deadPort, delayProxy, tmpDir,
    withDeadline, ROOT, TEST_OPTS, T,
} from './lib.mjs';

const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';
const OA_MODEL = 'gpt-4o-mini';
const AN_MODEL = 'claude-3-5-haiku-latest';

let mock;

before(async () => {
    mock = await startMock({ threads: 2 });
});

after(async () => {
    if (mock)
        await mock.stop();
});

/** A virtual key and its config entry. */
function vkey(id, team) {
    const key = `pc-test-${id}-${crypto.randomBytes(8).toString('hex')}`;
    return {
        key, id, team,
        entry: { id, team, sha256: crypto.createHash('sha256').update(key).digest('hex') },
    };
}

const auth = (k) => ({ authorization: `Bearer ${k.key}` });

async function adminGet(gw, query) {
    const r = await request(gw.adminPort, { path: `/admin/budgets${query}` });
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body);
}

async function adminPost(gw, what, body) {
    const r = await request(gw.adminPort, {
        method: 'POST', path: `/admin/budgets/${what}`,
        headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: r.status, json: JSON.parse(r.body) };
}

/** The `used` of one limit of a team or key, from the admin API. */
async function used(gw, scope, name, metric, window) {
    const j = await adminGet(gw, `?${scope}=${name}`);
    const l = j.budgets[0].limits.find((x) => x.metric === metric && x.window === window);
    assert.ok(l, `no ${metric}/${window} limit in ${JSON.stringify(j)}`);
    return l.used;
}

/** Waits until the limit's use equals want (settlement runs as the exchange ends). */
async function usedBecomes(gw, scope, name, metric, window, want) {
    let last;
    try {
        await waitUntil(async () => (last = await used(gw, scope, name, metric, window)) === want,
            T(5000), `${scope} ${name} ${metric}/${window} used = ${want}`);
    } catch {
        assert.equal(last, want, `${scope} ${name} ${metric}/${window}: used`);
    }
}

function budgetConfig(dir, keys, teams, extra = {}) {
    return gatewayConfig(mock.url, dir, {
        workers: 2,
        extra: {
            teams,
            keys: keys.map((k) => k.entry),
            budgets: { journal: path.join(dir, 'budgets.journal'), ...(extra.budgets || {}) },
            ...(extra.top || {}),
        },
    });
}

// ---------------------------------------------------------------------------------------------

test('exact accounting: JSON and streamed answers of both APIs settle the provider usage',
    TEST_OPTS, async () => {
        const k = vkey('acct', 'acct');
        const gw = await startGateway((dir) => budgetConfig(dir, [k], [{
            name: 'acct',
            budgets: [{ window: 'day', tokens: 10000000, cost: 1000 },
                { window: 'month', input_tokens: 10000000, output_tokens: 10000000 }],
        }], {
            top: { prices: [{ models: ['gpt-4o*'], input: 2.5, output: 10 },
                { models: ['claude-*'], input: 1, output: 5 }] },
        }));
        try {
            let tokens = 0;
            let inTok = 0;
            let outTok = 0;
            let costMicro = 0;
            const add = (i, o, pin, pout) => {
                tokens += i + o;
                inTok += i;
                outTok += o;
                costMicro += Math.ceil((i * pin + o * pout));
            };
            const check = async () => {
                await usedBecomes(gw, 'team', 'acct', 'tokens', 'day', tokens);
                assert.equal(await used(gw, 'team', 'acct', 'input_tokens', 'month'), inTok);
                assert.equal(await used(gw, 'team', 'acct', 'output_tokens', 'month'), outTok);
            };
            const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: k.key, maxRetries: 0 });
            const anthropic = new Anthropic({ baseURL: gw.url, apiKey: k.key, maxRetries: 0 });

            // OpenAI chat, JSON
            const c1 = await openai.chat.completions.create({
                model: OA_MODEL, messages: [{ role: 'user', content: 'count these words please' }],
                max_tokens: 50,
            });
            add(c1.usage.prompt_tokens, c1.usage.completion_tokens, 2.5, 10);
            await check();
            // OpenAI chat, streamed with usage
            const s1 = await openai.chat.completions.create({
                model: OA_MODEL, stream: true, stream_options: { include_usage: true },
                messages: [{ role: 'user', content: 'a somewhat longer streamed answer here' }],
            });
            let u1;
            for await (const ch of s1)
                if (ch.usage)
                    u1 = ch.usage;
            assert.ok(u1, 'the stream carried usage');
            add(u1.prompt_tokens, u1.completion_tokens, 2.5, 10);
            await check();
            // OpenAI chat, streamed without asking for usage (the gateway asks and strips it)
            const s2 = await openai.chat.completions.create({
                model: OA_MODEL, stream: true,
                messages: [{ role: 'user', content: 'no usage requested by this client' }],
            });
            let sawUsage = false;
            for await (const ch of s2)
                sawUsage ||= !!ch.usage;
            assert.equal(sawUsage, false, 'the usage chunk the gateway asked for is stripped');
            const last = JSON.parse((await request(mock.port, { path: '/_mock/last' })).body);
            const lastBody = JSON.parse(last.body);
            assert.equal(lastBody.stream_options.include_usage, true);
            // the mock's usage: ceil(bytes / 4) of the prompt and of the answer (an echo)
            const p2 = Math.max(1, Math.ceil(Buffer.byteLength('no usage requested by this client') / 4));
            add(p2, p2, 2.5, 10);
            await check();
            // Anthropic, JSON
            const m1 = await anthropic.messages.create({
                model: AN_MODEL, max_tokens: 64,
                messages: [{ role: 'user', content: 'hello from the anthropic sdk' }],
            });
            add(m1.usage.input_tokens, m1.usage.output_tokens, 1, 5);
            await check();
            // Anthropic, streamed
            const ms = anthropic.messages.stream({
                model: AN_MODEL, max_tokens: 64,
                messages: [{ role: 'user', content: 'stream this one from anthropic too' }],
            });
            const fin = await ms.finalMessage();
            add(fin.usage.input_tokens, fin.usage.output_tokens, 1, 5);
            await check();
            // cost: USD per million tokens, settled in micro-USD
            const j = await adminGet(gw, '?team=acct');
            const cost = j.budgets[0].limits.find((x) => x.metric === 'cost');
            assert.ok(Math.abs(cost.used - costMicro) <= 5, `cost used ${cost.used} vs ${costMicro}`);
            assert.equal(cost.limit_usd, 1000);
            // a refused request (the provider answers 400) settles nothing but what it reserved
            const before = await used(gw, 'team', 'acct', 'tokens', 'day');
            const bad = await postJson(gw.port, CHAT,
                chatBody('x', { mock: { status: 400 } }), auth(k));
            assert.equal(bad.status, 400);
            await usedBecomes(gw, 'team', 'acct', 'tokens', 'day', before);
        } finally {
            await gw.stopAndCheck();
        }
    });

test('over budget: 429 in each provider format with Retry-After, naming the budget; thresholds',
    TEST_OPTS, async () => {
        const k = vkey('small', 'small');
        const other = vkey('other', 'small');
        let audit;
        const gw = await startGateway((dir) => {
            audit = path.join(dir, 'audit.jsonl');
            return budgetConfig(dir, [k, other], [{
                name: 'small', budgets: [{ window: 'day', tokens: 400 }],
            }], {
                budgets: { thresholds: [50, 80, 100], default_output_tokens: 100 },
                top: { audit: { spool_dir: path.join(dir, 'spool'),
                    sinks: [{ name: 'file', type: 'file', path: audit }] } },
            });
        });
        try {
            // each request reserves ~ 3 + 4 input and 100 output tokens; settles ~ 2 + 2
            const ok = await postJson(gw.port, CHAT, chatBody('hi there', { max_tokens: 250 }),
                auth(k));
            assert.equal(ok.status, 200, ok.body);
            // ~6 input + 395 output more would not fit in 400: refused before the provider sees it
            const before = JSON.parse((await request(mock.port, { path: '/_mock/stats' })).body);
            const no = await postJson(gw.port, CHAT, chatBody('hi again', { max_tokens: 395 }),
                auth(other));
            const j = assertOpenAIError(no, 429, 'over budget');
            assert.equal(j.error.code, 'budget_exceeded');
            assert.match(j.error.message, /team 'small' has used its daily tokens budget \(400 tokens\)/);
            const ra = Number(no.headers['retry-after']);
            assert.ok(ra >= 1 && ra <= 86400, `Retry-After ${no.headers['retry-after']}`);
            const after = JSON.parse((await request(mock.port, { path: '/_mock/stats' })).body);
            assert.equal(after.requests, before.requests, 'the provider never saw it');
            const an = await postJson(gw.port, MESSAGES, messagesBody('hi', { max_tokens: 395 }),
                auth(k));
            const aj = assertAnthropicError(an, 429, 'anthropic over budget');
            assert.equal(aj.error.type, 'rate_limit_error');
            assert.match(aj.error.message, /Budget exceeded/);
            // the SDKs see a rate-limit error
            const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: k.key, maxRetries: 0 });
            await assert.rejects(openai.chat.completions.create({
                model: OA_MODEL, max_tokens: 395, messages: [{ role: 'user', content: 'x' }],
            }), (e) => e.status === 429 && e instanceof OpenAI.RateLimitError);
            // thresholds: the first request's reservation (~257 of 400) passed 50 %
            const recs = await waitUntil(() => {
                const r = readRecords(audit).filter((x) => x.rule?.category === 'budget_threshold');
                return r.length >= 1 ? r : null;
            }, T(5000), 'a threshold event');
            assert.equal(recs[0].rule.id, 'team/small/tokens/day');
            assert.equal(recs[0].portcullis.filter, 'budget');
            const blocks = await waitUntil(() => {
                const b = readRecords(audit).filter((x) => x.rule?.category === 'budget_exceeded');
                return b.length >= 3 ? b : null;
            }, T(5000), 'each refusal in the audit trail');
            assert.equal(blocks[0].event.action, 'block');
        } finally {
            await gw.stopAndCheck();
        }
    });

test('200 concurrent requests against a budget that admits 50: exactly 50 pass', TEST_OPTS,
    async () => {
        const k = vkey('burst', 'burst');
        const gw = await startGateway((dir) => budgetConfig(dir, [k], [{
            name: 'burst', budgets: [{ window: 'month', requests: 50 }],
        }]));
        try {
            const rs = await Promise.all(Array.from({ length: 200 }, (_, i) =>
                postJson(gw.port, CHAT, chatBody(`burst ${i}`), auth(k))));
            const okN = rs.filter((r) => r.status === 200).length;
            const denied = rs.filter((r) => r.status === 429).length;
            assert.equal(okN, 50, `admitted ${okN}`);
            assert.equal(denied, 150);
            assert.equal(await used(gw, 'team', 'burst', 'requests', 'month'), 50);
        } finally {
            await gw.stopAndCheck();
        }
    });

test('rate limits: requests per minute per key, tokens per minute per team', TEST_OPTS,
    async () => {
        const a = vkey('rl-a', 'rl');
        const b = vkey('rl-b', 'rl');
        a.entry.rate_limits = { requests_per_minute: 3 };
        const gw = await startGateway((dir) => budgetConfig(dir, [a, b], [{
            name: 'rl', rate_limits: { tokens_per_minute: 100000 },
        }]));
        try {
            const st = [];
            for (let i = 0; i < 5; i++)
                st.push((await postJson(gw.port, CHAT, chatBody(`r${i}`), auth(a))).status);
            assert.deepEqual(st, [200, 200, 200, 429, 429]);
            const r = await postJson(gw.port, CHAT, chatBody('r'), auth(a));
            const j = assertOpenAIError(r, 429);
            assert.equal(j.error.code, 'rate_limit_exceeded');
            assert.match(j.error.message, /key 'rl-a' may use 3 requests per minute/);
            // another key of the team is not limited by it
            assert.equal((await postJson(gw.port, CHAT, chatBody('b'), auth(b))).status, 200);
        } finally {
            await gw.stopAndCheck();
        }
    });

test('a stream that would pass the remaining budget ends with an error the SDKs raise',
    TEST_OPTS, async () => {
        const k = vkey('cap', 'cap');
        const gw = await startGateway((dir) => budgetConfig(dir, [k], [{
            name: 'cap', budgets: [{ window: 'day', output_tokens: 60 }],
        }], { budgets: { default_output_tokens: 10 } }));
        try {
            const long = 'word '.repeat(400); // ~2000 bytes: ~500 tokens, the budget has 60
            const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: k.key, maxRetries: 0 });
            let got = '';
            await assert.rejects(async () => {
                const s = await openai.chat.completions.create({
                    model: OA_MODEL, stream: true, messages: [{ role: 'user', content: 'go' }],
                    mock: { text: long, chunks: [20] },
                });
                for await (const ch of s)
                    got += ch.choices[0]?.delta?.content ?? '';
            }, (e) => /Budget exceeded during the answer/.test(e.message));
            assert.ok(got.length > 0 && got.length < 400, `the client got ${got.length} bytes`);
            await adminPost(gw, 'reset', { team: 'cap' });
            const anthropic = new Anthropic({ baseURL: gw.url, apiKey: k.key, maxRetries: 0 });
            let agot = '';
            await assert.rejects(async () => {
                const s = anthropic.messages.stream({
                    model: AN_MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'go' }],
                    mock: { text: long, chunks: [20] },
                });
                for await (const ev of s)
                    if (ev.type === 'content_block_delta')
                        agot += ev.delta.text;
            }, (e) => /Budget exceeded during the answer/.test(e.message));
            assert.ok(agot.length > 0 && agot.length < 400, `anthropic client got ${agot.length}`);
        } finally {
            await gw.stopAndCheck();
        }
    });

test('cost anomaly: spend far above the baseline alerts and lowers the team\'s limits',
    TEST_OPTS, async () => {
        const k = vkey('anom', 'anom');
        let audit;
        const gw = await startGateway((dir) => {
            audit = path.join(dir, 'audit.jsonl');
            return budgetConfig(dir, [k], [{
                name: 'anom', budgets: [{ window: 'day', cost: 100 }],
            }], {
                budgets: { anomaly: { factor: 5, window: '1m', baseline: '1h', min_cost: 1,
                    lower_to: 0.01, cooldown: '10m' } },
                top: {
                    // 0.1 USD per token: one request reserves ~$1.5 (~5 input, 10 output)
                    prices: [{ models: ['gpt-4o*'], input: 100000, output: 100000 }],
                    audit: { spool_dir: path.join(dir, 'spool'),
                        sinks: [{ name: 'file', type: 'file', path: audit }] },
                },
            });
        });
        try {
            // no history: the first request's spend is far above a baseline of nothing
            const r1 = await postJson(gw.port, CHAT, chatBody('spend', { max_tokens: 10 }), auth(k));
            assert.equal(r1.status, 200, r1.body);
            const ev = await waitUntil(() => readRecords(audit)
                .find((x) => x.rule?.category === 'budget_cost_anomaly'), T(5000), 'the alert');
            assert.equal(ev.rule.id, 'team/anom/cost_anomaly');
            assert.equal(ev.event.action, 'limit_lowered');
            // the day's $100 is now $1 for the cooldown: the next request does not fit
            const r2 = await postJson(gw.port, CHAT, chatBody('spend', { max_tokens: 10 }), auth(k));
            const j = assertOpenAIError(r2, 429, 'lowered limit');
            assert.equal(j.error.code, 'budget_exceeded');
            // one alert per cooldown
            assert.equal(readRecords(audit)
                .filter((x) => x.rule?.category === 'budget_cost_anomaly').length, 1);
        } finally {
            await gw.stopAndCheck();
        }
    });

test('the embedded store keeps spend across a restart (journal)', TEST_OPTS, async () => {
    const k = vkey('keep', 'keep');
    const shared = tmpDir('pc-budget-');
    const journal = path.join(shared, 'budgets.journal');
    const cfg = (dir) => budgetConfig(dir, [k], [{
        name: 'keep', budgets: [{ window: 'month', requests: 100, tokens: 1000000 }],
    }], { budgets: { journal, fsync: 'always' } });
    let gw = await startGateway(cfg);
    let spent;
    try {
        for (let i = 0; i < 3; i++)
            assert.equal((await postJson(gw.port, CHAT, chatBody(`keep ${i}`), auth(k))).status,
                200);
        await usedBecomes(gw, 'team', 'keep', 'requests', 'month', 3);
        spent = await used(gw, 'team', 'keep', 'tokens', 'month');
        assert.ok(spent > 0);
    } finally {
        await gw.stopAndCheck();
    }
    gw = await startGateway(cfg);
    try {
        assert.equal(await used(gw, 'team', 'keep', 'requests', 'month'), 3);
        assert.equal(await used(gw, 'team', 'keep', 'tokens', 'month'), spent);
        // a crash (SIGKILL, no clean shutdown) keeps what was written too
        assert.equal((await postJson(gw.port, CHAT, chatBody('one more'), auth(k))).status, 200);
        await usedBecomes(gw, 'team', 'keep', 'requests', 'month', 4);
        await gw.kill();
    } finally {
        await gw.kill();
    }
    gw = await startGateway(cfg);
    try {
        assert.equal(await used(gw, 'team', 'keep', 'requests', 'month'), 4);
    } finally {
        await gw.stopAndCheck();
        fs.rmSync(shared, { recursive: true, force: true });
    }
});

test('admin API: reset and adjust a budget; errors are clear', TEST_OPTS, async () => {
    const k = vkey('adm', 'adm');
    const gw = await startGateway((dir) => budgetConfig(dir, [k], [{
        name: 'adm', budgets: [{ window: 'day', requests: 2 }, { window: 'day', tokens: 5000 }],
    }]));
    try {
        for (let i = 0; i < 2; i++)
            assert.equal((await postJson(gw.port, CHAT, chatBody('a'), auth(k))).status, 200);
        assert.equal((await postJson(gw.port, CHAT, chatBody('a'), auth(k))).status, 429);
        const r = await adminPost(gw, 'reset', { team: 'adm', metric: 'requests' });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.changed, 1);
        assert.equal(r.json.budget.limits.find((l) => l.metric === 'requests').used, 0);
        assert.equal((await postJson(gw.port, CHAT, chatBody('a'), auth(k))).status, 200);
        // the answer can reach the client before the exchange settles (its reservation of the
        // default 1024 output tokens becomes the mock's few): a `set` before that would be moved
        // by the settlement
        await waitUntil(async () => (await used(gw, 'team', 'adm', 'tokens', 'day')) < 1000,
            T(5000), 'the last request settled');
        const adj = await adminPost(gw, 'adjust',
            { team: 'adm', metric: 'tokens', window: 'day', set: 4990 });
        assert.equal(adj.status, 200);
        assert.equal(adj.json.budget.limits.find((l) => l.metric === 'tokens').remaining, 10);
        const d = await adminPost(gw, 'adjust',
            { team: 'adm', metric: 'tokens', window: 'day', delta: -990 });
        assert.equal(d.json.budget.limits.find((l) => l.metric === 'tokens').used, 4000);
        const e1 = await adminPost(gw, 'reset', { team: 'nope' });
        assert.equal(e1.status, 404);
        assert.match(e1.json.error, /no team or key/);
        const e2 = await adminPost(gw, 'adjust', { team: 'adm', metric: 'tokens', window: 'day' });
        assert.equal(e2.status, 400);
        assert.match(e2.json.error, /delta/);
        const all = await adminGet(gw, '');
        assert.equal(all.budgets.length, 1);
    } finally {
        await gw.stopAndCheck();
    }
});

// ---------------------------------------------------------------------------------------------
// Redis

async function startRedis(fixedPort) {
    const port = fixedPort ?? await deadPort();
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await withDeadline(new Promise((resolve, reject) => {
        proc.stdout.setEncoding('utf8');
        proc.stdout.on('data', (d) => {
            out += d;
            if (/Ready to accept connections/.test(out))
                resolve();
        });
        proc.once('error', (e) => reject(new Error(`redis-server: ${e.message} (is it ` +
            'installed? scripts/deps.sh installs it)')));
        proc.once('exit', (c) => reject(new Error(`redis-server exited ${c}: ${out}`)));
    }), T(10000), 'redis-server to start');
    return {
        port, proc,
        stop: async () => {
            if (proc.exitCode === null && proc.signalCode === null) {
                const gone = new Promise((r) => proc.once('exit', r));
                proc.kill('SIGKILL');
                await gone;
            }
        },
    };
}

test('two gateway instances on one redis-server respect one budget', TEST_OPTS, async () => {
    const redis = await startRedis();
    const k = vkey('shared', 'shared');
    const prefix = `pc-test-${crypto.randomBytes(4).toString('hex')}:`; // one for both instances
    const cfg = (dir) => budgetConfig(dir, [k], [{
        name: 'shared', budgets: [{ window: 'month', requests: 30 }, { window: 'day', tokens: 1e6 }],
    }], { budgets: { store: 'redis', redis: { address: `127.0.0.1:${redis.port}`, prefix } } });
    const g1 = await startGateway(cfg);
    const g2 = await startGateway(cfg);
    try {
        const rs = await Promise.all(Array.from({ length: 80 }, (_, i) =>
            postJson((i % 2 ? g1 : g2).port, CHAT, chatBody(`shared ${i}`), auth(k))));
        assert.equal(rs.filter((r) => r.status === 200).length, 30);
        assert.equal(rs.filter((r) => r.status === 429).length, 50);
        assert.equal(await used(g1, 'team', 'shared', 'requests', 'month'), 30);
        assert.equal(await used(g2, 'team', 'shared', 'requests', 'month'), 30);
        // the token spend settled by both instances is one number
        await waitUntil(async () => (await used(g1, 'team', 'shared', 'tokens', 'day')) ===
            (await used(g2, 'team', 'shared', 'tokens', 'day')), T(5000), 'one token count');
    } finally {
        await g1.stopAndCheck();
        await g2.stopAndCheck();
        await redis.stop();
    }
});

// A gateway config with the test pack's injection filter and its session state in redis at port
// (two attempts block the session for an hour; a detection watches the next two requests).
function escalationConfig(port, prefix, redisExtra = {}) {
    return (dir) => gatewayConfig(mock.url, dir, {
        extra: {
            budgets: { store: 'redis', redis: { address: `127.0.0.1:${port}`, prefix,
                ...redisExtra } },
            filters: [{ type: 'injection', name: 'det', classifier: 'off',
                pack: path.join(ROOT, 'tests/fixtures/injection/test-pack.yaml'),
                session: { attempts: 2, key_attempts: 0, window: '1m', block_for: '1h',
                    watchlist: 2, watchlist_factor: 0.5 } }],
        },
    });
}

test('injection session escalation is shared by the instances through redis', TEST_OPTS,
    async () => {
        const redis = await startRedis();
        const cfg = escalationConfig(redis.port, `pc-inj-${crypto.randomBytes(4).toString('hex')}:`);
        const g1 = await startGateway(cfg);
        const g2 = await startGateway(cfg);
        try {
            const s = (id) => ({ 'x-session-id': id });
            // one attempt on each instance: the second reaches the limit of 2
            assertOpenAIError(await postJson(g1.port, CHAT, chatBody('zebra override'), s('x1')),
                403, 'attempt on instance 1');
            assertOpenAIError(await postJson(g2.port, CHAT, chatBody('zebra override'), s('x1')),
                403, 'attempt on instance 2');
            // the session is blocked on both
            for (const g of [g1, g2]) {
                const j = assertOpenAIError(await postJson(g.port, CHAT, chatBody('hello'),
                    s('x1')), 403, 'blocked session');
                assert.equal(j.error.code, 'session_blocked');
            }
            assert.equal((await postJson(g2.port, CHAT, chatBody('hello'), s('x2'))).status, 200);
            // the watchlist too: a mild hint passes, then the same on the other instance blocks
            assert.equal((await postJson(g1.port, CHAT, chatBody('a zebra mild hint'),
                s('w1'))).status, 200);
            assertOpenAIError(await postJson(g2.port, CHAT, chatBody('a zebra mild hint'),
                s('w1')), 403, 'watched on the other instance');
        } finally {
            await g1.stopAndCheck();
            await g2.stopAndCheck();
            await redis.stop();
        }
    });

test('injection session escalation: a block or watch is in redis before the verdict that made it '
    + 'reaches the client, even over a slow link', TEST_OPTS, async () => {
    const redis = await startRedis();
    // instance 2 reaches redis through a link that holds each command 300 ms: a write made after
    // its answer (fire and forget) would land long after the client has asked instance 1
    const slow = await delayProxy(redis.port, 300);
    const prefix = `pc-inj-${crypto.randomBytes(4).toString('hex')}:`;
    const g1 = await startGateway(escalationConfig(redis.port, prefix, { timeout: '5s' }));
    const g2 = await startGateway(escalationConfig(slow.port, prefix, { timeout: '5s' }));
    try {
        const s = (id) => ({ 'x-session-id': id });
        assertOpenAIError(await postJson(g1.port, CHAT, chatBody('zebra override'), s('r1')),
            403, 'attempt on instance 1');
        // the second attempt, on the slow instance, trips the block
        assertOpenAIError(await postJson(g2.port, CHAT, chatBody('zebra override'), s('r1')),
            403, 'attempt on instance 2');
        const j = assertOpenAIError(await postJson(g1.port, CHAT, chatBody('hello'), s('r1')),
            403, 'blocked session, asked at once on the other instance');
        assert.equal(j.error.code, 'session_blocked');
        // a detection on the slow instance starts a watch the other instance applies at once
        assert.equal((await postJson(g2.port, CHAT, chatBody('a zebra mild hint'), s('r2'))).status,
            200);
        assertOpenAIError(await postJson(g1.port, CHAT, chatBody('a zebra mild hint'), s('r2')),
            403, 'watched on the other instance');
    } finally {
        await g1.stopAndCheck();
        await g2.stopAndCheck();
        await slow.close();
        await redis.stop();
    }
});

test('redis down: fail closed with 503 in the provider format; fail open when configured',
    TEST_OPTS, async () => {
        const dead = await deadPort();
        const k = vkey('down', 'down');
        const mk = (mode) => (dir) => budgetConfig(dir, [k], [{
            name: 'down', budgets: [{ window: 'day', tokens: 100000 }],
        }], { budgets: { store: 'redis', on_store_error: mode, redis: {
            address: `127.0.0.1:${dead}`, timeout: '200ms' } } });
        const closed = await startGateway(mk('closed'));
        try {
            const r = await postJson(closed.port, CHAT, chatBody('x'), auth(k));
            const j = assertOpenAIError(r, 503, 'redis down');
            assert.equal(j.error.code, 'budget_store_unavailable');
            assert.match(j.error.message, /budget store is unavailable/);
            const a = await postJson(closed.port, MESSAGES, messagesBody('x'), auth(k));
            assertAnthropicError(a, 503, 'redis down, anthropic');
        } finally {
            await closed.stopAndCheck();
        }
        const open = await startGateway(mk('open'));
        try {
            const r = await postJson(open.port, CHAT, chatBody('x'), auth(k));
            assert.equal(r.status, 200, r.body);
        } finally {
            await open.stopAndCheck();
        }
        // the server goes away and comes back: the same gateway fails closed, then recovers
        let redis = await startRedis();
        const k2 = vkey('back', 'back');
        const gw = await startGateway((dir) => budgetConfig(dir, [k2], [{
            name: 'back', budgets: [{ window: 'day', requests: 100 }],
        }], { budgets: { store: 'redis', redis: { address: `127.0.0.1:${redis.port}`,
            timeout: '200ms' } } }));
        try {
            assert.equal((await postJson(gw.port, CHAT, chatBody('1'), auth(k2))).status, 200);
            await redis.stop();
            assert.equal((await postJson(gw.port, CHAT, chatBody('2'), auth(k2))).status, 503);
            redis = await startRedis(redis.port);
            // reconnection waits out a backoff (at most 5 s): ask until it is admitted again
            await waitUntil(async () =>
                (await postJson(gw.port, CHAT, chatBody('3'), auth(k2))).status === 200,
            T(10000), 'admitted again after redis came back', 100);
            assert.equal(await used(gw, 'team', 'back', 'requests', 'day'), 1,
                'a fresh server: only the request admitted since');
        } finally {
            await gw.stopAndCheck();
            await redis.stop();
        }
    });

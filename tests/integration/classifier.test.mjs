// The injection classifier end to end (README "Injection classifier"): portcullis-train trains a
// model from JSONL deterministically (the same inputs give the same bytes) and records how; the
// gateway loads it with the config and combines it with the rule score per side (weights and
// thresholds), blocks with 403 naming the classifier when the model carries the score, and events
// carry the combined, rule and classifier scores; monitor mode; weight 0 turns it off on a route;
// a corrupt, missing or wrong model is a config error with file:line:col.
//
// The model here is trained in the test on made-up words, so what it flags is known exactly
// ("quokka sprocket" talk is the attack); the shipped model is covered by test_classifier and by
// the injection tests, which run with it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
    startMock, startGateway, gatewayConfig, postJson, chatBody, assertOpenAIError, runCheck,
    tmpDir, toYaml, waitUntil, GW_BIN, ROOT, TEST_OPTS, T, readRecords,
} from './lib.mjs';

const TRAIN_BIN = path.join(path.dirname(GW_BIN), 'portcullis-train');
const TEST_PACK = path.join(ROOT, 'tests/fixtures/injection/test-pack.yaml');
const CHAT = '/v1/chat/completions';
const ATTACK = 'please quokka sprocket the whole thing for me';

let mock;
let gw;
let dir;
let model;
let auditFile;

// Deterministic made-up data: attacks talk about quokka sprockets, benign texts about anything
// else, quokkas and sprockets included but apart (the same words appear as often on both sides:
// only the two side by side decide).
function trainingData() {
    const words = ['the', 'report', 'please', 'summary', 'meeting', 'write', 'table', 'email',
        'code', 'numbers', 'tomorrow', 'for', 'me', 'whole', 'thing', 'list', 'an', 'answer'];
    let s = 7;
    const rnd = (n) => {
        s = (s * 1103515245 + 12345) % 2147483648;
        return s % n;
    };
    const sentence = (k) => Array.from({ length: k }, () => words[rnd(words.length)]).join(' ');
    const lines = [];
    for (let i = 0; i < 160; i++) {
        lines.push({ text: `${sentence(3 + rnd(8))} quokka sprocket ${sentence(2 + rnd(6))}`,
            label: i % 2 ? 'injection' : 'indirect_injection', split: 'train' });
        const [x, y] = i % 2 ? ['quokka', 'sprocket'] : ['sprocket', 'quokka'];
        lines.push({ text: `${sentence(1 + rnd(5))} ${x} ${sentence(2 + rnd(5))} ${y} ${sentence(rnd(5))}`,
            label: i % 2 ? 'benign' : 'benign_document', split: 'train' });
    }
    // a held-out row that must not be used
    lines.push({ text: 'held out quokka', label: 'benign', split: 'test' });
    return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

function train(out, data) {
    return execFileSync(TRAIN_BIN, ['-o', out, '--split', 'train', '--nbits', '12',
        '--epochs', '6', '--folds', '2', data], { encoding: 'utf8' });
}

before(async () => {
    dir = tmpDir('pc-clf-');
    const data = path.join(dir, 'train.jsonl');
    fs.writeFileSync(data, trainingData());
    model = path.join(dir, 'model.pcm');
    train(model, data);
    mock = await startMock();
    gw = await startGateway((gdir) => {
        auditFile = path.join(gdir, 'audit.jsonl');
        const det = (name, extra) => ({ type: 'injection', name, pack: TEST_PACK,
            classifier: model, session: 'off', ...extra });
        const cfg = gatewayConfig(mock.url, gdir, {
            extra: {
                audit: { spool_dir: path.join(gdir, 'spool'),
                    sinks: [{ name: 'file', type: 'file', path: auditFile }] },
                filters: [
                    det('combined', { direct: { event: 0.5, block: 1.0, rules: 1.0,
                        classifier: 1.2 } }),
                    det('weak', { direct: { event: 0.5, block: 1.0, rules: 1.0,
                        classifier: 0.6 } }),
                    det('rules-only', { direct: { event: 0.5, block: 1.0, rules: 1.0,
                        classifier: 0 } }),
                    det('monitor', { action: 'event', direct: { event: 0.5, block: 1.0,
                        rules: 1.0, classifier: 1.2 } }),
                    det('per-role', { indirect: { event: 0.5, block: 1.0, classifier: 1.2 },
                        roles: { tool_result: { classifier: 0 } } }),
                ],
            },
        });
        const route = (prefix, filters) => ({ prefix, provider: 'openai', strip_prefix: true,
            filters });
        cfg.routes = [route('/weak/', ['weak']), route('/rules-only/', ['rules-only']),
            route('/monitor/', ['monitor']), route('/per-role/', ['per-role']),
            { prefix: '/v1/', provider: 'openai', filters: ['combined'] }];
        return cfg;
    });
});

after(async () => {
    if (gw)
        await gw.stopAndCheck();
    if (mock)
        await mock.stopAndCheck();
    if (dir)
        fs.rmSync(dir, { recursive: true, force: true });
});

test('portcullis-train is deterministic, uses only the split asked for, and records how it ran',
    TEST_OPTS, async () => {
        const first = fs.readFileSync(model);
        const out = train(model, path.join(dir, 'train.jsonl'));
        assert.match(out, /320 records: 160 attacks, 160 benign/);
        assert.match(out, /cross-validated/);
        assert.ok(first.equals(fs.readFileSync(model)),
            'two runs on the same data wrote different files');
        const text = fs.readFileSync(model, 'latin1');
        assert.match(text, /"trained_by":"portcullis-train --split train --nbits 12 /);
        assert.match(text, /"file":"train\.jsonl","records":320,"sha256":"[0-9a-f]{64}"/);
    });

test('portcullis-train --examples takes the examples of the rules marked train: true, or without '
    + 'the mark of weight >= 0.75 (the larger of a per-side pair), never of system rules',
    TEST_OPTS, async () => {
        const pack = path.join(dir, 'examples.yaml');
        const rule = (id, extra, n) => `  - {id: ${id}, category: a, pattern: 'x${id}', ${extra},\n`
            + `     match: [${Array.from({ length: n }, (_, i) => `"${id} example ${i} x${id}"`).join(', ')}]}\n`;
        fs.writeFileSync(pack, 'version: 1\ncategories:\n  - {name: a, label: a, severity: 1}\n'
            + 'rules:\n'
            + rule('heavy', 'weight: 1.0', 1) // used
            + rule('heavyoff', 'weight: 1.0, train: false', 2) // not used
            + rule('light', 'weight: 0.5', 4) // not used
            + rule('lighton', 'weight: 0.5, train: true', 8) // used
            + rule('sided', 'weight: {direct: 0.5, indirect: 0.75}', 16) // used
            + rule('sys', 'weight: 1.0, where: system', 32)); // not used
        const out = path.join(dir, 'examples.pcm');
        execFileSync(TRAIN_BIN, ['-o', out, '--split', 'train', '--nbits', '12', '--epochs', '2',
            '--folds', '2', '--examples', pack, path.join(dir, 'train.jsonl')],
        { encoding: 'utf8' });
        const m = fs.readFileSync(out, 'latin1').match(/"examples_of":"examples\.yaml","records":(\d+)/);
        assert.ok(m, 'the model records no examples input');
        assert.equal(Number(m[1]), 1 + 8 + 16);
    });

test('the classifier alone blocks what no rule matches: 403 naming the classifier, scores in the '
    + 'event', TEST_OPTS, async () => {
    const r = await postJson(gw.port, CHAT, chatBody(ATTACK));
    assertOpenAIError(r, 403, 'classifier');
    assert.equal(JSON.parse(r.body).error.code, 'prompt_injection');
    assert.match(JSON.parse(r.body).error.message, /possible prompt injection \(classifier\)/);
    let rec;
    await waitUntil(() => {
        rec = readRecords(auditFile).find((x) => x.portcullis?.filter === 'combined');
        return rec;
    }, T(5000), 'the classifier event');
    assert.equal(rec.rule.id, 'classifier');
    assert.equal(rec.rule.category, 'injection:classifier');
    assert.equal(rec.event.action, 'block');
    const s = rec.portcullis.scores;
    assert.equal(s.rules, 0);
    assert.ok(s.classifier > 0.9, `classifier ${s.classifier}`);
    assert.ok(Math.abs(s.combined - 1.2 * s.classifier) < 1e-6, JSON.stringify(s));
    assert.equal(rec.event.risk_score, s.combined);

    // benign text, and the made-up words apart, pass without an event
    for (const t of ['please write the meeting summary for me', 'the sprocket list',
        'the quokka report and the table for the sprocket meeting'])
        assert.equal((await postJson(gw.port, CHAT, chatBody(t))).status, 200, t);
});

test('rules and classifier add up; weights per side decide; weight 0 leaves the rules alone',
    TEST_OPTS, async () => {
        // the classifier alone at weight 0.6 is an event, not a block
        assert.equal((await postJson(gw.port, '/weak/v1/chat/completions',
            chatBody(ATTACK))).status, 200);
        // ... plus a 0.6 rule it blocks, naming both
        const both = await postJson(gw.port, '/weak/v1/chat/completions',
            chatBody(`a zebra mild hint: ${ATTACK}`));
        assertOpenAIError(both, 403);
        assert.match(JSON.parse(both.body).error.message, /\(mild signal(, classifier)?\)/);
        // the rule alone stays below the block threshold
        assert.equal((await postJson(gw.port, '/weak/v1/chat/completions',
            chatBody('a zebra mild hint'))).status, 200);
        // classifier weight 0: the model's words pass, rules still block
        assert.equal((await postJson(gw.port, '/rules-only/v1/chat/completions',
            chatBody(ATTACK))).status, 200);
        assertOpenAIError(await postJson(gw.port, '/rules-only/v1/chat/completions',
            chatBody('zebra override')), 403);
        let recs = [];
        await waitUntil(() => {
            recs = readRecords(auditFile).filter((x) => x.portcullis?.filter === 'weak');
            return recs.some((x) => x.event.action === 'block');
        }, T(5000), 'weak events');
        const blockRec = recs.find((x) => x.rule.id === 't.mild' && x.event.action === 'block');
        assert.ok(blockRec, JSON.stringify(recs.map((x) => x.rule)));
        assert.equal(blockRec.portcullis.scores.rules, 0.6);
        assert.ok(blockRec.portcullis.scores.classifier > 0.9);
        assert.ok(recs.some((x) => x.rule.id === 'classifier' && x.event.action === 'event'),
            'the classifier-only request was reported');
        assert.ok(!readRecords(auditFile).some((x) => x.portcullis?.filter === 'rules-only' &&
            x.rule.id === 'classifier'), 'weight 0: no classifier events');
    });

test('per-role overrides: a role can have its own weights, the other roles keep their side\'s',
    TEST_OPTS, async () => {
        const url = '/per-role/v1/chat/completions';
        const toolResult = (text) => ({
            model: 'gpt-4o-mini',
            messages: [
                { role: 'user', content: 'check my order' },
                { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function',
                    function: { name: 'get_order', arguments: '{"id":12}' } }] },
                { role: 'tool', tool_call_id: 'c1', content: text },
            ],
        });
        // tool results: classifier weight 0 for this role, so the model's words pass ...
        assert.equal((await postJson(gw.port, url, toolResult(ATTACK))).status, 200);
        // ... while rules still apply to them
        assertOpenAIError(await postJson(gw.port, url, toolResult('dear zebra reader')), 403);
        // tool definitions are indirect too and keep the side's classifier weight 1.2
        const td = await postJson(gw.port, url, chatBody('hi', {
            tools: [{ type: 'function', function: { name: 'lookup', description: ATTACK,
                parameters: { type: 'object', properties: {} } } }],
        }));
        assertOpenAIError(td, 403, 'tool definition');
        assert.match(JSON.parse(td.body).error.message, /\(classifier\)/);
    });

test('monitor mode reports the classifier and lets the request through', TEST_OPTS, async () => {
    assert.equal((await postJson(gw.port, '/monitor/v1/chat/completions',
        chatBody(ATTACK))).status, 200);
    await waitUntil(() => readRecords(auditFile).some((x) => x.portcullis?.filter === 'monitor' &&
        x.rule.id === 'classifier' && x.event.action === 'event'), T(5000), 'monitor event');
});

test('model errors are config errors with file:line:col; check describes the model', TEST_OPTS,
    async () => {
        const cdir = tmpDir('pc-clf-cfg-');
        try {
            const write = (name, text) => {
                fs.writeFileSync(path.join(cdir, name), text);
                return path.join(cdir, name);
            };
            const base = (filter) => toYaml({
                listen: ['127.0.0.1:0'], admin: { listen: '127.0.0.1:0' },
                providers: [{ name: 'p', api: 'openai', base_url: 'http://127.0.0.1:1',
                    auth: 'none' }],
                filters: [{ type: 'injection', pack: TEST_PACK, ...filter }],
                routes: [{ prefix: '/v1/', provider: 'p' }],
            });
            const bytes = fs.readFileSync(model);
            const corrupt = Buffer.from(bytes);
            corrupt[corrupt.length >> 1] ^= 1;
            fs.writeFileSync(path.join(cdir, 'corrupt.pcm'), corrupt);
            fs.writeFileSync(path.join(cdir, 'short.pcm'), bytes.subarray(0, 1000));
            fs.writeFileSync(path.join(cdir, 'text.pcm'), 'not a model\n');

            let r = await runCheck(write('a.yaml', base({ classifier: 'corrupt.pcm' })));
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /a\.yaml:\d+:\d+: classifier model: .*corrupt\.pcm: checksum mismatch/);
            r = await runCheck(write('b.yaml', base({ classifier: 'short.pcm' })));
            assert.match(r.stderr, /b\.yaml:\d+:\d+: classifier model: .*short\.pcm: checksum mismatch/);
            r = await runCheck(write('c.yaml', base({ classifier: 'text.pcm' })));
            assert.match(r.stderr, /c\.yaml:\d+:\d+: classifier model: .*not a Portcullis model file/);
            // the default model is looked for next to the config
            r = await runCheck(write('d.yaml', base({})));
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /d\.yaml:\d+:\d+: classifier model: .*models\/injection\.pcm: No such file.*classifier: off/);
            r = await runCheck(write('e.yaml', base({ classifier: 42 })));
            assert.match(r.stderr, /e\.yaml:\d+:\d+: 'classifier' must be a model file path or off/);
            r = await runCheck(write('f.yaml', base({ classifier: 'off',
                direct: { classifier: -1 } })));
            assert.match(r.stderr, /f\.yaml:\d+:\d+: 'direct\.classifier' must be a number in \[0, 100\]/);
            r = await runCheck(write('g.yaml', base({ classifier: 'off', direct: { weight: 1 } })));
            assert.match(r.stderr, /unknown key 'weight' in 'direct' \(event, block, rules, classifier\)/);
            r = await runCheck(write('h.yaml', base({ classifier: 'off',
                roles: { system: { block: 2 } } })));
            assert.match(r.stderr, /h\.yaml:\d+:\d+: 'roles': 'system' is not a scanned role/);
            r = await runCheck(write('i.yaml', base({ classifier: 'off',
                roles: { tool_result: { classifier: 'x' } } })));
            assert.match(r.stderr, /i\.yaml:\d+:\d+: 'tool_result\.classifier' must be a number in \[0, 100\]/);

            fs.mkdirSync(path.join(cdir, 'models'));
            fs.copyFileSync(model, path.join(cdir, 'models/injection.pcm'));
            r = await runCheck(write('ok.yaml', base({})));
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /classifier .*models\/injection\.pcm \(sha256 [0-9a-f]{12}, 2\^12 weights\), score = direct 1 x rules \+ 1.5 x classifier/);
            r = await runCheck(write('off.yaml', base({ classifier: 'off' })));
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /classifier off/);
        } finally {
            fs.rmSync(cdir, { recursive: true, force: true });
        }
    });

// TLS: listeners (certificates from certs/mkcerts.sh, ALPN http/1.1, TLS 1.2+ only), mTLS
// (client_ca, required and optional), upstream TLS (ca_file, host name verification, 502 in the
// provider's format), and the official SDKs over TLS trusting the dev CA (NODE_EXTRA_CA_CERTS).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import path from 'node:path';
import {
    startMock, startGateway, gatewayConfig, postJson, chatBody, messagesBody, chatText,
    openaiStreamText, parseSse, assertOpenAIError, assertAnthropicError, tmpDir, waitUntil, ROOT,
    UPSTREAM_KEY, CLIENT_KEY, TEST_OPTS, T, toYaml,
} from './lib.mjs';

const CHAT = '/v1/chat/completions';
const KEEP_TMP = !!process.env.PC_KEEP_TMP;

let certDir;
let C; // cert file paths
let mock; // plain upstream
let upMock; // https upstream, upstream.crt (SAN localhost, 127.0.0.1)
let wrongMock; // https upstream, wronghost.crt (SAN other.example only)
let gw;
let P; // listener ports: {plain, tls, mtls, mtlsOpt}

/** Runs a command; resolves {code, stdout, stderr} (code null and signal set if killed). */
function run(cmd, args, { env, input = '' } = {}) {
    return new Promise((resolve, reject) => {
        const p = spawn(cmd, args, { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        p.stdout.setEncoding('utf8');
        p.stderr.setEncoding('utf8');
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.on('error', reject);
        const timer = setTimeout(() => p.kill('SIGKILL'), T(20000));
        p.on('close', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr });
        });
        p.stdin.end(input);
    });
}

function curl(args) {
    return run('curl', ['-sS', ...args]);
}

const JSON_HDR = ['-H', 'content-type: application/json'];

/** curl a chat completion; -w appends "\n<http_version> <http_code>" to stdout. */
async function curlChat(url, text, extra = []) {
    const r = await curl([...extra, url, ...JSON_HDR, '-d', JSON.stringify(chatBody(text)),
        '-w', '\n%{http_version} %{http_code}']);
    const nl = r.stdout.lastIndexOf('\n');
    const [version, status] = r.stdout.slice(nl + 1).split(' ');
    return { ...r, body: r.stdout.slice(0, nl), version, status: Number(status) };
}

/**
 * A TLS client that sends one request once its handshake is done and collects what comes back
 * until the server closes. Resolves {secure (handshake done on our side), error (code), data}.
 * opts: {cert, key, maxVersion}.
 */
function tlsProbe(port, opts = {}) {
    return new Promise((resolve) => {
        let secure = false;
        let data = '';
        let error = null;
        const s = tls.connect({
            host: '127.0.0.1', port, servername: 'localhost', ca: fs.readFileSync(C.ca),
            ALPNProtocols: ['http/1.1'], maxVersion: opts.maxVersion ?? 'TLSv1.3',
            ...(opts.cert ? { cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) } : {}),
        });
        s.setEncoding('utf8');
        s.on('secureConnect', () => {
            secure = true;
            s.write('GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        });
        s.on('data', (d) => (data += d));
        s.on('error', (e) => (error = e.code || e.message));
        s.on('close', () => resolve({ secure, error, data }));
        s.setTimeout(T(10000), () => s.destroy(new Error('tlsProbe timed out')));
    });
}

function sClient(port, args) {
    return run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost',
        ...args], { input: '' });
}

before(async () => {
    certDir = tmpDir('pc-certs-');
    const mk = await run('bash', [path.join(ROOT, 'certs/mkcerts.sh'), certDir]);
    assert.equal(mk.code, 0, `mkcerts.sh failed: ${mk.stderr}`);
    const f = (n) => path.join(certDir, n);
    C = {
        ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key'),
        client: f('client.crt'), clientKey: f('client.key'),
        rogue: f('rogue-client.crt'), rogueKey: f('rogue-client.key'),
        up: f('upstream.crt'), upKey: f('upstream.key'),
        wrong: f('wronghost.crt'), wrongKey: f('wronghost.key'),
    };
    for (const p of Object.values(C))
        assert.ok(fs.existsSync(p), `mkcerts.sh did not write ${p}`);
    mock = await startMock({ threads: 2 });
    upMock = await startMock({ tlsCert: C.up, tlsKey: C.upKey });
    wrongMock = await startMock({ tlsCert: C.wrong, tlsKey: C.wrongKey });
    const serverTls = { cert: C.cert, key: C.key };
    const prov = (name, url, api = 'openai') => ({
        name, api, base_url: url, auth: api === 'openai' ? 'bearer' : 'x-api-key',
        key_env: 'PC_TEST_KEY', ca_file: C.ca,
    });
    gw = await startGateway((dir) => gatewayConfig(mock.url, dir, {
        workers: 2,
        providers: [
            prov('up-ip', `https://127.0.0.1:${upMock.port}`),
            prov('up-name', `https://localhost:${upMock.port}`),
            prov('up-anthropic', `https://127.0.0.1:${upMock.port}`, 'anthropic'),
            prov('wrong-openai', `https://127.0.0.1:${wrongMock.port}`),
            prov('wrong-anthropic', `https://127.0.0.1:${wrongMock.port}`, 'anthropic'),
        ],
        routes: [
            { prefix: '/up/', provider: 'up-ip' },
            { prefix: '/up-name/', provider: 'up-name' },
            { prefix: '/upa/', provider: 'up-anthropic' },
            { prefix: '/wrong/', provider: 'wrong-openai' },
            { prefix: '/wrong-anthropic/v1/messages', provider: 'wrong-anthropic' },
        ],
        extra: {
            listen: [
                '127.0.0.1:0',
                { addr: '127.0.0.1:0', tls: serverTls },
                { addr: '127.0.0.1:0', tls: { ...serverTls, client_ca: C.ca } },
                { addr: '127.0.0.1:0', tls: { ...serverTls, client_ca: C.ca, client_auth: 'optional' } },
            ],
        },
    }));
    const lines = await waitUntil(() => {
        const m = [...gw.stderr.matchAll(
            /^portcullis: listening on 127\.0\.0\.1:(\d+)( TLS)? \((\d+) workers?\)$/gm)];
        return m.length === 4 ? m : null;
    }, T(5000), 'four listening lines');
    P = {
        lines,
        plain: Number(lines[0][1]),
        tls: Number(lines[1][1]),
        mtls: Number(lines[2][1]),
        mtlsOpt: Number(lines[3][1]),
    };
});

after(async () => {
    if (gw)
        await gw.kill();
    for (const m of [mock, upMock, wrongMock])
        if (m)
            await m.stop();
    if (certDir && !KEEP_TMP)
        fs.rmSync(certDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// TLS listener

test('start-up: one listening line per listener, TLS ones marked', TEST_OPTS, () => {
    assert.equal(P.lines[0][2], undefined, 'the plain listener is marked TLS');
    for (const i of [1, 2, 3])
        assert.equal(P.lines[i][2], ' TLS', `listener ${i} is not marked TLS`);
    for (const m of P.lines)
        assert.equal(Number(m[3]), 2);
    assert.equal(P.plain, gw.port);
    assert.equal(new Set([P.plain, P.tls, P.mtls, P.mtlsOpt]).size, 4);
});

test('curl over TLS trusting the dev CA: 200, HTTP/1.1, ALPN http/1.1', TEST_OPTS, async () => {
    const r = await curlChat(`https://127.0.0.1:${P.tls}${CHAT}`, 'hello over tls',
        ['-v', '--cacert', C.ca]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 200);
    assert.equal(r.version, '1.1');
    assert.equal(chatText(r.body), 'hello over tls');
    assert.match(r.stderr, /ALPN: server accepted http\/1\.1/);
    assert.match(r.stderr, /SSL connection using TLSv1\.3/);
    const last = await mock.last();
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    // by name (SAN DNS:localhost)
    const r2 = await curlChat(`https://localhost:${P.tls}${CHAT}`, 'by name',
        ['--cacert', C.ca, '--resolve', `localhost:${P.tls}:127.0.0.1`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(chatText(r2.body), 'by name');
    // the plain listener keeps serving plain HTTP
    const r3 = await curlChat(`http://127.0.0.1:${P.plain}${CHAT}`, 'plain too');
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(chatText(r3.body), 'plain too');
});

test('curl without the dev CA refuses the gateway\'s certificate', TEST_OPTS, async () => {
    const s0 = await mock.stats();
    const r = await curlChat(`https://127.0.0.1:${P.tls}${CHAT}`, 'untrusted');
    assert.equal(r.code, 60, `curl exit ${r.code}: ${r.stderr}`);
    assert.equal((await mock.stats()).requests, s0.requests);
});

test('curl -N over TLS: a streamed chat completion, event by event, ends with [DONE]', TEST_OPTS,
    async () => {
        const text = 'streaming over tls one word at a time';
        const r = await curl(['-N', '--cacert', C.ca, `https://127.0.0.1:${P.tls}${CHAT}`,
            ...JSON_HDR, '-d', JSON.stringify(chatBody(text, { stream: true }))]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(openaiStreamText(r.stdout), text);
        const evs = parseSse(r.stdout);
        assert.ok(evs.length >= text.split(' ').length + 2, `${evs.length} events`);
        assert.equal(evs[evs.length - 1].data, '[DONE]');
    });

test('openssl s_client: ALPN http/1.1, TLS 1.3 and 1.2 accepted, TLS 1.1 refused', TEST_OPTS,
    async () => {
        let r = await sClient(P.tls, ['-alpn', 'http/1.1', '-CAfile', C.ca, '-verify_return_error']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /^ALPN protocol: http\/1\.1$/m);
        assert.match(r.stdout, /Verify return code: 0 \(ok\)/);

        r = await sClient(P.tls, ['-tls1_3', '-CAfile', C.ca, '-verify_return_error']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /^New, TLSv1\.3, Cipher is /m);

        r = await sClient(P.tls, ['-tls1_2', '-CAfile', C.ca, '-verify_return_error']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /^New, TLSv1\.2, Cipher is /m);

        // the client really offers TLS 1.1 (security level 0 allows it); the server refuses
        r = await sClient(P.tls, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
        assert.notEqual(r.code, 0, 'a TLS 1.1 handshake succeeded');
        assert.match(r.stderr, /alert protocol version/, r.stderr);
        assert.doesNotMatch(r.stdout, /^New, TLSv1\.1/m);
    });

test('keep-alive over TLS: three requests on one connection, a 300 KB body both ways', TEST_OPTS,
    async () => {
        const agent = new https.Agent({
            keepAlive: true, maxSockets: 1, ca: fs.readFileSync(C.ca), ALPNProtocols: ['http/1.1'],
        });
        const one = (text) => new Promise((resolve, reject) => {
            const body = JSON.stringify(chatBody(text));
            const req = https.request({
                host: '127.0.0.1', port: P.tls, path: CHAT, method: 'POST', agent,
                servername: 'localhost',
                headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            }, (res) => {
                const alpn = res.socket.alpnProtocol;
                let b = '';
                res.setEncoding('utf8');
                res.on('data', (d) => (b += d));
                res.on('end', () => resolve({ status: res.statusCode, body: b, reused: req.reusedSocket,
                    alpn }));
                res.on('error', reject);
            });
            req.on('error', reject);
            req.end(body);
        });
        try {
            const big = 'x'.repeat(300 * 1024);
            const rs = [];
            for (const text of ['first', big, 'third'])
                rs.push(await one(text));
            assert.deepEqual(rs.map((r) => r.status), [200, 200, 200]);
            assert.equal(chatText(rs[0].body), 'first');
            assert.equal(chatText(rs[1].body), big);
            assert.equal(chatText(rs[2].body), 'third');
            assert.deepEqual(rs.map((r) => r.reused), [false, true, true]);
            assert.deepEqual(rs.map((r) => r.alpn), ['http/1.1', 'http/1.1', 'http/1.1']);
        } finally {
            agent.destroy();
        }
    });

// ---------------------------------------------------------------------------------------------
// the SDKs in a child process trusting the dev CA

const OPENAI_CHILD = `
const [mod, baseURL, key, text] = process.argv.slice(2);
const { default: OpenAI } = await import(mod);
const client = new OpenAI({ baseURL, apiKey: key, maxRetries: 0, timeout: 20000 });
const out = {};
try {
    const c = await client.chat.completions.create({
        model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });
    out.json = c.choices[0].message.content;
    const s = await client.chat.completions.create({
        model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: text + ' streamed' }] });
    out.stream = '';
    out.chunks = 0;
    for await (const chunk of s) {
        out.chunks++;
        out.stream += chunk.choices[0]?.delta?.content ?? '';
    }
} catch (e) {
    out.error = e.constructor.name + ': ' + e.message + (e.cause ? ' (' + e.cause.message + ')' : '');
}
console.log(JSON.stringify(out));
`;

const ANTHROPIC_CHILD = `
const [mod, baseURL, key, text] = process.argv.slice(2);
const { default: Anthropic } = await import(mod);
const client = new Anthropic({ baseURL, apiKey: key, maxRetries: 0, timeout: 20000 });
const out = { text: '', types: [] };
try {
    const stream = await client.messages.create({
        model: 'claude-3-5-haiku-latest', max_tokens: 256, stream: true,
        messages: [{ role: 'user', content: text }] });
    for await (const ev of stream) {
        out.types.push(ev.type);
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta')
            out.text += ev.delta.text;
    }
    const ms = client.messages.stream({
        model: 'claude-3-5-haiku-latest', max_tokens: 256,
        messages: [{ role: 'user', content: text + ' again' }] });
    const final = await ms.finalMessage();
    out.helper = final.content[0].text;
} catch (e) {
    out.error = e.constructor.name + ': ' + e.message + (e.cause ? ' (' + e.cause.message + ')' : '');
}
console.log(JSON.stringify(out));
`;

async function runChild(source, pkg, args, { trustCa = true } = {}) {
    const file = path.join(certDir, `child-${Math.random().toString(36).slice(2)}.mjs`);
    fs.writeFileSync(file, source);
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.OPENAI_BASE_URL;
    delete env.ANTHROPIC_BASE_URL;
    if (trustCa)
        env.NODE_EXTRA_CA_CERTS = C.ca;
    const r = await run(process.execPath, [file, import.meta.resolve(pkg), ...args], { env });
    assert.equal(r.code, 0, `child exited ${r.code}: ${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1]);
}

test('openai SDK over TLS (NODE_EXTRA_CA_CERTS): create and streaming', TEST_OPTS, async () => {
    const text = 'openai sdk over tls';
    const out = await runChild(OPENAI_CHILD, 'openai',
        [`https://127.0.0.1:${P.tls}/v1`, CLIENT_KEY, text]);
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.json, text);
    assert.equal(out.stream, `${text} streamed`);
    assert.ok(out.chunks >= 5, `${out.chunks} chunks`);
    const last = await mock.last();
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
});

test('openai SDK over TLS without the dev CA fails with a connection error', TEST_OPTS,
    async () => {
        const s0 = await mock.stats();
        const out = await runChild(OPENAI_CHILD, 'openai',
            [`https://127.0.0.1:${P.tls}/v1`, CLIENT_KEY, 'untrusted'], { trustCa: false });
        assert.match(out.error ?? '', /^APIConnectionError/, JSON.stringify(out));
        assert.equal((await mock.stats()).requests, s0.requests);
    });

test('anthropic SDK over TLS: streaming receives the full text', TEST_OPTS, async () => {
    const text = 'Anthropic streams through the TLS listener, every word of it, ünïcödé too.';
    const out = await runChild(ANTHROPIC_CHILD, '@anthropic-ai/sdk',
        [`https://127.0.0.1:${P.tls}`, CLIENT_KEY, text]);
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.text, text);
    assert.equal(out.types[0], 'message_start');
    assert.equal(out.types[out.types.length - 1], 'message_stop');
    assert.ok(out.types.filter((t) => t === 'content_block_delta').length >= 5);
    assert.equal(out.helper, `${text} again`);
    const last = await mock.last();
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.headers['x-api-key'], UPSTREAM_KEY);
});

test('anthropic SDK over TLS to a TLS upstream: streaming receives the full text', TEST_OPTS,
    async () => {
        const text = 'TLS on both sides of the gateway';
        const out = await runChild(ANTHROPIC_CHILD, '@anthropic-ai/sdk',
            [`https://127.0.0.1:${P.tls}/upa`, CLIENT_KEY, text]);
        assert.equal(out.error, undefined, out.error);
        assert.equal(out.text, text);
        assert.equal(out.helper, `${text} again`);
        const last = await upMock.last();
        assert.equal(last.path, '/upa/v1/messages');
        assert.equal(last.headers['x-api-key'], UPSTREAM_KEY);
    });

// ---------------------------------------------------------------------------------------------
// mTLS

const CLIENT_CERT = () => ['--cert', C.client, '--key', C.clientKey];
const ROGUE_CERT = () => ['--cert', C.rogue, '--key', C.rogueKey];

async function assertRefused(port, extra, what) {
    const s0 = await mock.stats();
    const r = await curlChat(`https://127.0.0.1:${port}${CHAT}`, what, ['--cacert', C.ca, ...extra]);
    assert.notEqual(r.code, 0, `${what}: curl succeeded: ${r.stdout}`);
    assert.equal(r.status, 0, `${what}: got an HTTP status ${r.status}`);
    assert.equal((await mock.stats()).requests, s0.requests, `${what}: the request was forwarded`);
    return r;
}

test('mTLS (client_ca): no client certificate → handshake refused', TEST_OPTS, async () => {
    await assertRefused(P.mtls, [], 'no client cert');
    // TLS 1.3: the server's alert follows the client's Finished
    let p = await tlsProbe(P.mtls);
    assert.equal(p.data, '', 'an HTTP answer without a client certificate');
    assert.match(p.error ?? '', /CERTIFICATE_REQUIRED/, JSON.stringify(p));
    // TLS 1.2: the handshake itself fails
    p = await tlsProbe(P.mtls, { maxVersion: 'TLSv1.2' });
    assert.equal(p.secure, false, 'a TLS 1.2 handshake without a client certificate completed');
    assert.equal(p.data, '');
    assert.match(p.error ?? '', /HANDSHAKE_FAILURE|CERTIFICATE_REQUIRED/, JSON.stringify(p));
});

test('mTLS (client_ca): the dev CA\'s client certificate → 200', TEST_OPTS, async () => {
    const r = await curlChat(`https://127.0.0.1:${P.mtls}${CHAT}`, 'mutual tls',
        ['--cacert', C.ca, ...CLIENT_CERT()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 200);
    assert.equal(chatText(r.body), 'mutual tls');
});

test('mTLS (client_ca): a client certificate from another CA → refused', TEST_OPTS, async () => {
    await assertRefused(P.mtls, ROGUE_CERT(), 'rogue client cert');
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2']) {
        const p = await tlsProbe(P.mtls, { cert: C.rogue, key: C.rogueKey, maxVersion });
        assert.equal(p.data, '', `${maxVersion}: an HTTP answer to a rogue client certificate`);
        assert.match(p.error ?? '', /UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN/, JSON.stringify(p));
        if (maxVersion === 'TLSv1.2')
            assert.equal(p.secure, false);
    }
    // the probe itself works with the right certificate
    const ok = await tlsProbe(P.mtls, { cert: C.client, key: C.clientKey });
    assert.equal(ok.error, null, JSON.stringify(ok));
    assert.match(ok.data, /^HTTP\/1\.1 200 /);
});

test('mTLS client_auth: optional → no certificate 200, dev CA certificate 200, rogue refused',
    TEST_OPTS, async () => {
        let r = await curlChat(`https://127.0.0.1:${P.mtlsOpt}${CHAT}`, 'optional none',
            ['--cacert', C.ca]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(chatText(r.body), 'optional none');
        r = await curlChat(`https://127.0.0.1:${P.mtlsOpt}${CHAT}`, 'optional cert',
            ['--cacert', C.ca, ...CLIENT_CERT()]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(chatText(r.body), 'optional cert');
        await assertRefused(P.mtlsOpt, ROGUE_CERT(), 'optional rogue');
    });

// ---------------------------------------------------------------------------------------------
// upstream TLS

test('upstream TLS with ca_file: https://127.0.0.1 and https://localhost → 200', TEST_OPTS,
    async () => {
        let r = await postJson(gw.port, '/up/v1/chat/completions', chatBody('upstream over tls'));
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'upstream over tls');
        let last = await upMock.last();
        assert.equal(last.path, '/up/v1/chat/completions');
        assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        assert.equal(last.headers.host, `127.0.0.1:${upMock.port}`);

        r = await postJson(gw.port, '/up-name/v1/chat/completions', chatBody('upstream by name'));
        assert.equal(r.status, 200, r.body);
        assert.equal(chatText(r.body), 'upstream by name');
        last = await upMock.last();
        assert.equal(last.headers.host, `localhost:${upMock.port}`);

        // streaming, client TLS and upstream TLS
        const text = 'tls at both ends streams';
        const c = await curl(['-N', '--cacert', C.ca, `https://127.0.0.1:${P.tls}/up/v1/chat/completions`,
            ...JSON_HDR, '-d', JSON.stringify(chatBody(text, { stream: true, mock: { chunks: [3] } }))]);
        assert.equal(c.code, 0, c.stderr);
        assert.equal(openaiStreamText(c.stdout), text);
        const evs = parseSse(c.stdout);
        assert.equal(evs[evs.length - 1].data, '[DONE]');
    });

test('upstream certificate naming another host → 502 (OpenAI format) about the certificate',
    TEST_OPTS, async () => {
        const r = await postJson(gw.port, '/wrong/v1/chat/completions', chatBody('wrong host'));
        const j = assertOpenAIError(r, 502, 'wronghost');
        assert.match(j.error.message, /certificate|verif/i);
        assert.equal((await wrongMock.stats()).requests, 0, 'the request reached the wrong host');
    });

test('upstream certificate naming another host → 502 in Anthropic format on an Anthropic route',
    TEST_OPTS, async () => {
        const r = await postJson(gw.port, '/wrong-anthropic/v1/messages', messagesBody('wrong host'),
            { 'anthropic-version': '2023-06-01' });
        const j = assertAnthropicError(r, 502, 'wronghost anthropic');
        assert.match(j.error.message, /certificate|verif/i);
        assert.equal((await wrongMock.stats()).requests, 0, 'the request reached the wrong host');
    });

/** The SHA-256 fingerprint of the certificate a TLS listener serves now (chain verified). */
function servedFingerprint(port) {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(C.ca) }, () => {
            const fp = s.getPeerCertificate().fingerprint256;
            s.end();
            resolve(fp);
        });
        s.on('error', reject);
        s.setTimeout(T(10000), () => s.destroy(new Error('TLS connect timed out')));
    });
}

test('certificates are reloaded with the config (POST /admin/reload)', TEST_OPTS, async () => {
    let cfg;
    const g = await startGateway((dir) => {
        cfg = gatewayConfig(mock.url, dir, {
            workers: 1,
            extra: { listen: [{ addr: '127.0.0.1:0', tls: { cert: C.cert, key: C.key } }] },
        });
        return cfg;
    });
    try {
        const fp = (file) => new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;
        assert.equal(await servedFingerprint(g.port), fp(C.cert));
        // the same listen address as written (a reload refuses address changes), another
        // certificate: upstream.crt also names 127.0.0.1 and comes from the same CA
        cfg.listen = [{ addr: '127.0.0.1:0', tls: { cert: C.up, key: C.upKey } }];
        fs.writeFileSync(g.cfgPath, toYaml(cfg));
        const r = await fetch(`${g.adminUrl}/admin/reload`, { method: 'POST' });
        const j = await r.json();
        assert.equal(r.status, 200, JSON.stringify(j));
        assert.equal(j.status, 'ok');
        assert.equal(await servedFingerprint(g.port), fp(C.up),
            'the listener still serves the old certificate after the reload');
    } finally {
        await g.stopAndCheck();
    }
});

test('gateway and mocks: SIGTERM → exit 0, no sanitizer report', TEST_OPTS, async () => {
    await gw.stopAndCheck();
    for (const m of [mock, upMock, wrongMock])
        await m.stopAndCheck();
});

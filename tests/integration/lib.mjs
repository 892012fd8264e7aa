// Test harness for the Portcullis integration suite: starts pc-mock and portcullis in temp dirs,
// waits for their "listening" lines with a deadline, writes configs, generates throw-away certs,
// and talks raw HTTP/1.1 over sockets (so tests control every byte and see every byte back).
//
// Nothing here sleeps to synchronise: every wait is "until this event or condition, or fail at a
// deadline".

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const GW_BIN = path.resolve(HERE, process.env.PORTCULLIS_BIN || '../../build/portcullis');
export const MOCK_BIN = path.resolve(HERE, process.env.PC_MOCK_BIN || '../../build/pc-mock');
export const UPSTREAM_KEY = 'sk-real-upstream';
export const CLIENT_KEY = 'sk-client';
const VERBOSE = !!process.env.PC_TEST_VERBOSE;
const KEEP_TMP = !!process.env.PC_KEEP_TMP;

// ---------------------------------------------------------------------------------------------
// Sanitizer builds are slower: deadlines (never the behaviour asserted) scale with SLOW.

function binaryIsSanitized(bin) {
    try {
        const data = fs.readFileSync(bin);
        return data.includes('__asan_init') || data.includes('__ubsan_handle');
    } catch {
        return false;
    }
}

export const SANITIZED = process.env.PC_SANITIZED !== undefined
    ? process.env.PC_SANITIZED === '1'
    : binaryIsSanitized(GW_BIN);
export const SLOW = SANITIZED ? 3 : 1;

/** A deadline in ms, scaled for sanitizer builds. */
export function T(ms) {
    return ms * SLOW;
}

/** Per-test options for node:test: a generous timeout so a hang fails instead of blocking. */
export const TEST_OPTS = { timeout: T(30000) };

export const SANITIZER_PATTERNS = [
    'ERROR: AddressSanitizer',
    'ERROR: LeakSanitizer',
    'runtime error:',
];

// ---------------------------------------------------------------------------------------------
// Temp dirs and process bookkeeping

const live = new Set(); // child processes to kill if a file ends without stopping them

process.on('exit', () => {
    for (const p of live) {
        try {
            p.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

export function tmpDir(prefix = 'pc-it-') {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function rmDir(dir) {
    if (!KEEP_TMP && dir)
        fs.rmSync(dir, { recursive: true, force: true });
}

/** Resolves with v once promise settles or rejects with a timeout error after ms. */
export function withDeadline(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls cond() (sync or async) until it returns a truthy value or the deadline passes. For
 * conditions only observable by asking (a file's content, a status endpoint).
 */
export async function waitUntil(cond, ms, what, interval = 20) {
    const end = Date.now() + ms;
    for (;;) {
        const v = await cond();
        if (v)
            return v;
        if (Date.now() > end)
            throw new Error(`condition not reached within ${ms} ms: ${what}`);
        await new Promise((r) => setTimeout(r, interval));
    }
}

/** A promise for the child's exit: {code, signal}. */
function exitPromise(proc) {
    if (proc.exitCode !== null || proc.signalCode !== null)
        return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
    return new Promise((resolve) => {
        proc.once('exit', (code, signal) => resolve({ code, signal }));
    });
}

/**
 * Spawns bin with args; resolves once a line on stream (stdout or stderr) matches re, with the
 * match. Rejects if the process exits first or nothing matches within ms.
 */
function spawnAndWait(bin, args, { env, stream, re, ms, name, logFile }) {
    if (!fs.existsSync(bin))
        throw new Error(`${name}: binary ${bin} not found (build it first)`);
    const proc = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    const out = { stdout: '', stderr: '' };
    // Opened here, not by the stream (asynchronously): a quick test may stop the process and
    // remove its directory before a lazy open, which then fails with ENOENT outside any test.
    const log = logFile ? fs.createWriteStream(null, { fd: fs.openSync(logFile, 'w') }) : null;
    if (log)
        proc.once('close', () => log.end()); // after the last output: every byte is in the file
    const exited = exitPromise(proc);
    let onLine;
    for (const which of ['stdout', 'stderr']) {
        let partial = '';
        proc[which].setEncoding('utf8');
        proc[which].on('data', (d) => {
            out[which] += d;
            if (log)
                log.write(d);
            if (VERBOSE)
                process.stderr.write(`[${name} ${which}] ${d}`);
            if (which !== stream)
                return;
            partial += d;
            let nl;
            while ((nl = partial.indexOf('\n')) >= 0) {
                const line = partial.slice(0, nl);
                partial = partial.slice(nl + 1);
                if (onLine)
                    onLine(line);
            }
        });
    }
    const ready = new Promise((resolve, reject) => {
        onLine = (line) => {
            const m = re.exec(line);
            if (m) {
                onLine = null;
                resolve(m);
            }
        };
        exited.then(({ code, signal }) =>
            reject(new Error(`${name} exited (code ${code}, signal ${signal}) before ` +
                             `printing its listening line; stderr:\n${out.stderr}`)));
    });
    return withDeadline(ready, ms, `${name} to print ${re}; stderr so far:\n${out.stderr}`)
        .then((m) => ({ proc, out, exited, match: m, log }))
        .catch((e) => {
            proc.kill('SIGKILL');
            throw e;
        });
}

function sanitizerReport(text) {
    for (const p of SANITIZER_PATTERNS) {
        const i = text.indexOf(p);
        if (i >= 0)
            return text.slice(Math.max(0, i - 200), i + 3000);
    }
    return null;
}

// ---------------------------------------------------------------------------------------------
// pc-mock

export class Mock {
    constructor(spawned, port, dir, tls) {
        this.proc = spawned.proc;
        this.out = spawned.out;
        this.exited = spawned.exited;
        this.port = port;
        this.dir = dir;
        this.tls = tls;
        this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    }

    /** Control endpoint request (always over plain http unless the mock is TLS-only). */
    async control(method, pathname, body) {
        const res = await request(this.port, {
            method,
            path: pathname,
            headers: body ? { 'content-type': 'application/json' } : {},
            body: body ? JSON.stringify(body) : undefined,
            tls: this.tls,
        });
        return res;
    }

    async stats() {
        const r = await this.control('GET', '/_mock/stats');
        assert.equal(r.status, 200, `/_mock/stats answered ${r.status}`);
        return JSON.parse(r.body);
    }

    async last() {
        const r = await this.control('GET', '/_mock/last');
        assert.equal(r.status, 200, `/_mock/last answered ${r.status}`);
        return JSON.parse(r.body);
    }

    async reset() {
        const r = await this.control('POST', '/_mock/reset');
        assert.ok(r.status === 200 || r.status === 204, `/_mock/reset answered ${r.status}`);
    }

    /** Asks the mock to wait until connections_open == n; returns the HTTP status (200/408). */
    async waitOpen(n, timeoutMs) {
        const r = await this.control('GET',
            `/_mock/wait?connections_open=${n}&timeout_ms=${timeoutMs}`);
        return r.status;
    }

    sanitizerReport() {
        return sanitizerReport(this.out.stderr);
    }

    /** SIGTERM (then SIGKILL after a deadline); returns {code, signal}. */
    async stop({ kill = false } = {}) {
        if (this.proc.exitCode === null && this.proc.signalCode === null)
            this.proc.kill(kill ? 'SIGKILL' : 'SIGTERM');
        let res;
        try {
            res = await withDeadline(this.exited, T(5000), 'pc-mock to exit');
        } catch {
            this.proc.kill('SIGKILL');
            res = await this.exited;
        }
        rmDir(this.dir);
        return res;
    }

    /** Stops and asserts the mock left no sanitizer report. */
    async stopAndCheck() {
        await this.stop();
        const rep = this.sanitizerReport();
        assert.equal(rep, null, `pc-mock stderr has a sanitizer report:\n${rep}`);
    }
}

/**
 * Starts pc-mock. opts: {port (default 0), threads, tlsCert, tlsKey, args}.
 */
export async function startMock(opts = {}) {
    const dir = tmpDir('pc-mock-');
    const args = ['--listen', `127.0.0.1:${opts.port || 0}`];
    if (opts.threads)
        args.push('--threads', String(opts.threads));
    if (opts.tlsCert)
        args.push('--tls-cert', opts.tlsCert, '--tls-key', opts.tlsKey);
    if (opts.args)
        args.push(...opts.args);
    const s = await spawnAndWait(MOCK_BIN, args, {
        env: { ...process.env },
        stream: 'stdout',
        re: /^LISTEN\s+127\.0\.0\.1:(\d+)/,
        ms: T(10000),
        name: 'pc-mock',
        logFile: path.join(dir, 'mock.log'),
    });
    return new Mock(s, Number(s.match[1]), dir, !!opts.tlsCert);
}

// ---------------------------------------------------------------------------------------------
// YAML writer (enough for our configs: maps, lists, scalars)

const PLAIN_RE = /^[A-Za-z0-9_./][A-Za-z0-9_./:@-]*$/;
const YAML_RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function yamlScalar(v) {
    if (typeof v === 'number' || typeof v === 'boolean')
        return String(v);
    if (v === null)
        return 'null';
    const s = String(v);
    if (PLAIN_RE.test(s) && !YAML_RESERVED.test(s) && !/^[0-9.]+$/.test(s) && !s.endsWith(':'))
        return s;
    return JSON.stringify(s);
}

export function toYaml(v, indent = 0) {
    const pad = ' '.repeat(indent);
    if (Array.isArray(v)) {
        if (v.length === 0)
            return `${pad}[]\n`;
        return v.map((item) => {
            if (item !== null && typeof item === 'object') {
                const inner = toYaml(item, indent + 2);
                return `${pad}- ${inner.slice(indent + 2)}`;
            }
            return `${pad}- ${yamlScalar(item)}\n`;
        }).join('');
    }
    if (v !== null && typeof v === 'object') {
        return Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => {
            if (x !== null && typeof x === 'object') {
                if (Array.isArray(x) && x.length === 0)
                    return `${pad}${k}: []\n`;
                return `${pad}${k}:\n${toYaml(x, indent + 2)}`;
            }
            return `${pad}${k}: ${yamlScalar(x)}\n`;
        }).join('');
    }
    return `${pad}${yamlScalar(v)}\n`;
}

/**
 * The standard test config: one listener on an ephemeral port, an OpenAI-style provider and an
 * Anthropic-style provider on the mock, both with keys from PC_TEST_KEY. Override anything with
 * opts: {workers, limits, timeouts, providers (appended), routes (prepended), extra (merged at
 * top level), anthropicAuth}.
 */
export function gatewayConfig(mockUrl, dir, opts = {}) {
    const cfg = {
        workers: opts.workers ?? 1,
        listen: ['127.0.0.1:0'],
        limits: opts.limits,
        timeouts: opts.timeouts,
        admin: { listen: '127.0.0.1:0' },
        access_log: path.join(dir, 'access.log'),
        log_level: opts.logLevel ?? 'info',
        providers: [
            {
                name: 'openai',
                api: 'openai',
                base_url: mockUrl,
                auth: 'bearer',
                key_env: 'PC_TEST_KEY',
            },
            {
                name: 'anthropic',
                api: 'anthropic',
                base_url: opts.anthropicUrl ?? mockUrl,
                auth: opts.anthropicAuth ?? 'x-api-key',
                key_env: 'PC_TEST_KEY',
            },
            ...(opts.providers || []),
        ],
        routes: [
            ...(opts.routes || []),
            { prefix: '/v1/messages', provider: 'anthropic' },
            { prefix: '/v1/', provider: 'openai' },
        ],
        ...(opts.extra || {}),
    };
    return cfg;
}

// ---------------------------------------------------------------------------------------------
// portcullis

export class Gateway {
    constructor(spawned, port, dir, cfgPath) {
        this.proc = spawned.proc;
        this.out = spawned.out;
        this.exited = spawned.exited;
        this.port = port;
        this.dir = dir;
        this.cfgPath = cfgPath;
        this.accessLogPath = path.join(dir, 'access.log');
        this.url = `http://127.0.0.1:${port}`;
    }

    get stderr() {
        return this.out.stderr;
    }

    /** Parsed access log lines (JSON objects); non-JSON lines make it throw. */
    accessLog() {
        let text = '';
        try {
            text = fs.readFileSync(this.accessLogPath, 'utf8');
        } catch {
            return [];
        }
        return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
            try {
                return JSON.parse(l);
            } catch {
                throw new Error(`access log line is not JSON: ${l}`);
            }
        });
    }

    /** Waits until an access log entry satisfies pred; returns it. */
    async waitAccessLog(pred, ms = T(5000)) {
        return waitUntil(() => this.accessLog().find(pred), ms,
            `an access log entry in ${this.accessLogPath}`);
    }

    sanitizerReport() {
        return sanitizerReport(this.out.stderr);
    }

    /** Sends a signal once (a second SIGTERM may legitimately mean "stop now"). */
    signal(sig = 'SIGTERM') {
        if (this.proc.exitCode === null && this.proc.signalCode === null && !this.signalled) {
            this.signalled = sig;
            this.proc.kill(sig);
        }
    }

    /** Sends SIGTERM (unless already signalled) and waits for exit; SIGKILL after the deadline. */
    async stop(ms = T(10000)) {
        this.signal('SIGTERM');
        try {
            return await withDeadline(this.exited, ms, 'portcullis to exit');
        } catch (e) {
            this.proc.kill('SIGKILL');
            await this.exited;
            throw e;
        }
    }

    /**
     * SIGTERM; asserts exit code 0 and that stderr holds no AddressSanitizer / UBSan report.
     * Every test file ends with this.
     */
    async stopAndCheck() {
        await this.stopAndCheckKeep();
        rmDir(this.dir);
    }

    /** stopAndCheck without removing the temp dir (its files are read afterwards); then
     * cleanup(). */
    async stopAndCheckKeep() {
        const { code, signal } = await this.stop();
        const rep = this.sanitizerReport();
        assert.equal(rep, null, `portcullis stderr has a sanitizer report:\n${rep}`);
        assert.equal(signal, null, `portcullis died of ${signal}; stderr:\n${tail(this.stderr)}`);
        assert.equal(code, 0, `portcullis exit code ${code} after SIGTERM; stderr:\n` +
                              tail(this.stderr));
    }

    cleanup() {
        rmDir(this.dir);
    }

    /** Kills without checks (for after() hooks when a test already failed). */
    async kill() {
        if (this.proc.exitCode === null && this.proc.signalCode === null)
            this.proc.kill('SIGKILL');
        await this.exited;
    }
}

/** The complete JSON lines of file (an audit trail), [] while it does not exist. A record the
 * gateway is still writing (no newline yet) is not one of them: the callers poll. */
export function readRecords(file) {
    if (!fs.existsSync(file))
        return [];
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.pop(); // '' after the last newline, or the line being written
    return lines.filter((l) => l !== '').map((l) => JSON.parse(l));
}

export function tail(s, n = 3000) {
    return s.length > n ? `...${s.slice(-n)}` : s;
}

export function gatewayEnv(extra = {}) {
    const env = { ...process.env, PC_TEST_KEY: UPSTREAM_KEY, ...extra };
    delete env.OPENAI_API_KEY;
    delete env.ANTHROPIC_API_KEY;
    if (!env.UBSAN_OPTIONS)
        env.UBSAN_OPTIONS = 'print_stacktrace=1';
    for (const [k, v] of Object.entries(extra))
        if (v === undefined)
            delete env[k];
    return env;
}

/**
 * Starts portcullis with config (an object, written as YAML, or a YAML string) in a fresh temp
 * dir. If config is a function it is called with the dir to build the object.
 */
export async function startGateway(config, { env = {}, args = [] } = {}) {
    const dir = tmpDir('pc-gw-');
    const cfgObj = typeof config === 'function' ? config(dir) : config;
    const text = typeof cfgObj === 'string' ? cfgObj : toYaml(cfgObj);
    const cfgPath = path.join(dir, 'portcullis.yaml');
    fs.writeFileSync(cfgPath, text);
    const s = await spawnAndWait(GW_BIN, ['-c', cfgPath, ...args], {
        env: gatewayEnv(env),
        stream: 'stderr',
        re: /portcullis: listening on 127\.0\.0\.1:(\d+)/,
        ms: T(10000),
        name: 'portcullis',
        logFile: path.join(dir, 'stderr.log'),
    });
    const g = new Gateway(s, Number(s.match[1]), dir, cfgPath);
    const am = /portcullis: admin on 127\.0\.0\.1:(\d+)/.exec(s.out.stderr);
    if (am) {
        g.adminPort = Number(am[1]);
        g.adminUrl = `http://127.0.0.1:${am[1]}`;
    }
    return g;
}

/** Runs `portcullis check -c file [args...]`; returns {code, stdout, stderr}. */
export function runCheck(cfgPath, env = {}, args = []) {
    return new Promise((resolve, reject) => {
        const proc = spawn(GW_BIN, ['check', '-c', cfgPath, ...args], {
            env: gatewayEnv(env),
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => (stdout += d));
        proc.stderr.on('data', (d) => (stderr += d));
        proc.on('error', reject);
        const t = setTimeout(() => proc.kill('SIGKILL'), T(10000));
        proc.on('close', (code, signal) => {
            clearTimeout(t);
            resolve({ code, signal, stdout, stderr });
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Certificates (openssl CLI)

/**
 * Makes a throw-away CA and server certs in dir: good (SAN IP:127.0.0.1, DNS:localhost) and
 * wrong-name (SAN DNS:wrong.invalid). Returns file paths.
 */
export function makeCerts(dir) {
    const f = (n) => path.join(dir, n);
    const ossl = (...a) => execFileSync('openssl', a, { stdio: ['ignore', 'pipe', 'pipe'] });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ossl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
        '-subj', '/CN=Portcullis Integration Test CA',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    const leaf = (name, san) => {
        fs.writeFileSync(f(`${name}.ext`),
            `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n` +
            `extendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
        ossl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`),
            '-subj', `/CN=${name}`);
        ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
            '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
    };
    leaf('server', 'IP:127.0.0.1,DNS:localhost');
    leaf('wrongname', 'DNS:wrong.invalid');
    return {
        ca: f('ca.pem'),
        cert: f('server.pem'),
        key: f('server.key'),
        wrongCert: f('wrongname.pem'),
        wrongKey: f('wrongname.key'),
    };
}

// ---------------------------------------------------------------------------------------------
// Simple HTTP client (node:http, new connection per request) for the well-formed cases

/**
 * One request on a fresh connection. opts: {method, path, headers, body, tls, host, timeout}.
 * Resolves {status, headers (lowercased), rawHeaders, body (string), bodyBuf}.
 */
export function request(port, opts = {}) {
    return new Promise((resolve, reject) => {
        const headers = { ...(opts.headers || {}) };
        if (opts.body !== undefined && headers['content-length'] === undefined &&
            headers['transfer-encoding'] === undefined)
            headers['content-length'] = Buffer.byteLength(opts.body);
        const doReq = (m) => m.request({
            host: opts.host || '127.0.0.1',
            port,
            method: opts.method || 'GET',
            path: opts.path || '/',
            headers,
            agent: false,
            ...(opts.tls ? { rejectUnauthorized: false, servername: 'localhost' } : {}),
        }, (res) => {
            const parts = [];
            res.on('data', (d) => parts.push(d));
            res.on('end', () => {
                const buf = Buffer.concat(parts);
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    rawHeaders: res.rawHeaders,
                    bodyBuf: buf,
                    body: buf.toString('utf8'),
                });
            });
            res.on('error', reject);
        });
        const go = (m) => {
            const req = doReq(m);
            req.on('error', reject);
            req.setTimeout(opts.timeout || T(20000), () =>
                req.destroy(new Error(`request to :${port}${opts.path} timed out`)));
            if (opts.body !== undefined)
                req.write(opts.body);
            req.end();
        };
        if (opts.tls)
            import('node:https').then((m) => go(m.default), reject);
        else
            go(http);
    });
}

/** POST JSON to the gateway; body may be an object (stringified) or a string. */
export function postJson(port, pathname, body, headers = {}) {
    return request(port, {
        method: 'POST',
        path: pathname,
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
    });
}

/** An OpenAI chat completion request body whose last user message is text. */
export function chatBody(text, extra = {}) {
    return { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra };
}

/** An Anthropic messages request body whose last user message is text. */
export function messagesBody(text, extra = {}) {
    return {
        model: 'claude-3-5-haiku-latest',
        max_tokens: 64,
        messages: [{ role: 'user', content: text }],
        ...extra,
    };
}

/** Builds raw request bytes: a POST with a JSON body and Content-Length. */
export function rawPost(pathname, body, extraHeaders = [], { host = 'gw.test' } = {}) {
    const b = typeof body === 'string' ? body : JSON.stringify(body);
    const lines = [
        `POST ${pathname} HTTP/1.1`,
        `Host: ${host}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(b)}`,
        ...extraHeaders,
    ];
    return `${lines.join('\r\n')}\r\n\r\n${b}`;
}

/** The text of an OpenAI chat completion JSON (non-streaming). */
export function chatText(json) {
    const j = typeof json === 'string' ? JSON.parse(json) : json;
    return j.choices[0].message.content;
}

// ---------------------------------------------------------------------------------------------
// SSE parsing

/** Splits an SSE body into events [{event, data}] (complete events only). */
export function parseSse(text) {
    const events = [];
    const blocks = text.replace(/\r\n/g, '\n').split('\n\n');
    blocks.pop(); // incomplete tail (or '')
    for (const block of blocks) {
        if (block.trim() === '')
            continue;
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
            if (line.startsWith(':'))
                continue;
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            let value = i < 0 ? '' : line.slice(i + 1);
            if (value.startsWith(' '))
                value = value.slice(1);
            if (field === 'event')
                event = value;
            else if (field === 'data')
                data.push(value);
        }
        events.push({ event, data: data.join('\n') });
    }
    return events;
}

/** Concatenated delta content of an OpenAI chat stream body. */
export function openaiStreamText(text) {
    let out = '';
    for (const ev of parseSse(text)) {
        if (ev.data === '[DONE]' || ev.data === '')
            continue;
        const j = JSON.parse(ev.data);
        for (const c of j.choices || [])
            if (c.delta && typeof c.delta.content === 'string')
                out += c.delta.content;
    }
    return out;
}

/** Concatenated text deltas of an Anthropic messages stream body. */
export function anthropicStreamText(text) {
    let out = '';
    for (const ev of parseSse(text)) {
        if (ev.event !== 'content_block_delta')
            continue;
        const j = JSON.parse(ev.data);
        if (j.delta && j.delta.type === 'text_delta')
            out += j.delta.text;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 client over a net.Socket

/**
 * A raw client connection: write any bytes, read responses parsed strictly from the wire, see
 * when the peer closes. Received bytes are kept with their arrival times.
 */
export class RawConn {
    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.pos = 0; // parse position in buf
        this.arrivals = []; // {t, offset, len}
        this.closed = false;
        this.closedAt = null;
        this.error = null;
        this.waiters = new Set();
        sock.on('data', (d) => {
            this.arrivals.push({ t: performance.now(), offset: this.buf.length, len: d.length });
            this.buf = Buffer.concat([this.buf, d]);
            this.wake();
        });
        sock.on('error', (e) => {
            this.error = e;
            this.wake();
        });
        sock.on('close', () => {
            this.closed = true;
            this.closedAt = performance.now();
            this.wake();
        });
        // The server closing its side is "close" for us: don't keep a half-open socket.
        sock.on('end', () => sock.end());
    }

    static connect(port, host = '127.0.0.1') {
        return new Promise((resolve, reject) => {
            const sock = net.connect({ port, host });
            sock.setNoDelay(true);
            const onErr = (e) => reject(e);
            sock.once('error', onErr);
            sock.once('connect', () => {
                sock.off('error', onErr);
                resolve(new RawConn(sock));
            });
        });
    }

    wake() {
        for (const w of [...this.waiters])
            w();
    }

    /** Resolves when pred() is true (checked now and on every socket event). */
    waitFor(pred, ms, what) {
        if (pred())
            return Promise.resolve();
        return new Promise((resolve, reject) => {
            const w = () => {
                if (pred()) {
                    cleanup();
                    resolve();
                }
            };
            const timer = setTimeout(() => {
                cleanup();
                reject(new Error(`timed out after ${ms} ms waiting for ${what}; received so ` +
                                 `far (${this.buf.length} bytes): ${excerpt(this.buf)}`));
            }, ms);
            const cleanup = () => {
                clearTimeout(timer);
                this.waiters.delete(w);
            };
            this.waiters.add(w);
        });
    }

    /** Writes data; write errors (EPIPE, ECONNRESET) are recorded, not thrown. */
    write(data) {
        return new Promise((resolve) => {
            if (this.closed || this.sock.destroyed)
                return resolve(false);
            this.sock.write(data, (err) => {
                if (err)
                    this.error = err;
                resolve(!err);
            });
        });
    }

    /** Waits for the peer to close the connection; returns ms from call to close. */
    async waitClose(ms = T(5000)) {
        const t0 = performance.now();
        await this.waitFor(() => this.closed, ms, 'the server to close the connection');
        return this.closedAt - t0;
    }

    /** Waits until the received bytes contain str (from the current parse position). */
    async waitForBytes(str, ms = T(5000)) {
        await this.waitFor(() => this.buf.indexOf(str, this.pos) >= 0 || this.closed, ms,
            JSON.stringify(str));
        return this.buf.indexOf(str, this.pos) >= 0;
    }

    /**
     * Reads the next response from the wire. Returns
     * {status, reason, version, headers, headerList, head, body (Buffer), text, chunked,
     *  complete, closed, tHead, tEnd}.
     * complete=false means the body was cut short by the connection closing (or, with
     * allowIncomplete, by the deadline). Throws if the connection closes before a full head.
     * opts: {ms, allowIncomplete (return instead of throwing at the deadline), noBody}.
     */
    async readResponse(opts = {}) {
        const ms = opts.ms ?? T(10000);
        const deadline = performance.now() + ms;
        const left = () => Math.max(1, deadline - performance.now());
        // head
        let headEnd;
        await this.waitFor(() => (headEnd = this.buf.indexOf('\r\n\r\n', this.pos)) >= 0 ||
            this.closed, left(), 'a response head');
        if (headEnd < 0)
            throw new Error(`connection closed before a response head; received: ` +
                            excerpt(this.buf.subarray(this.pos)));
        const head = this.buf.subarray(this.pos, headEnd).toString('latin1');
        const tHead = this.arrivalTime(headEnd + 3);
        const lines = head.split('\r\n');
        const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
        if (!m)
            throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
        const headers = {};
        const headerList = [];
        for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            if (i <= 0)
                throw new Error(`bad header line in response: ${JSON.stringify(l)}`);
            const name = l.slice(0, i).toLowerCase();
            const value = l.slice(i + 1).trim();
            headerList.push([name, value]);
            headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        const res = {
            version: m[1],
            status: Number(m[2]),
            reason: m[3] || '',
            headers,
            headerList,
            head,
            chunked: false,
            complete: false,
            closed: false,
            tHead,
            tEnd: null,
            body: Buffer.alloc(0),
            text: '',
        };
        let p = headEnd + 4;
        const finish = (end, complete) => {
            this.pos = end;
            res.complete = complete;
            res.closed = this.closed;
            res.text = res.body.toString('utf8');
            res.tEnd = complete ? this.arrivalTime(end - 1) : null;
            return res;
        };
        const noBody = opts.noBody || (res.status >= 100 && res.status < 200) ||
            res.status === 204 || res.status === 304;
        if (noBody)
            return finish(p, true);
        const te = headers['transfer-encoding'];
        const waitMore = async (cond, what) => {
            try {
                await this.waitFor(() => cond() || this.closed, left(), what);
            } catch (e) {
                if (!opts.allowIncomplete)
                    throw e;
            }
            return cond();
        };
        if (te !== undefined) {
            assert.equal(te.toLowerCase(), 'chunked', `response Transfer-Encoding ${te}`);
            assert.equal(headers['content-length'], undefined,
                'response has both Content-Length and Transfer-Encoding');
            res.chunked = true;
            const parts = [];
            for (;;) {
                let lineEnd;
                const gotLine = await waitMore(
                    () => (lineEnd = this.buf.indexOf('\r\n', p)) >= 0, 'a chunk size line');
                if (!gotLine) {
                    res.body = Buffer.concat(parts);
                    return finish(this.buf.length, false);
                }
                const sizeLine = this.buf.subarray(p, lineEnd).toString('latin1');
                const sm = /^([0-9a-fA-F]+)(;.*)?$/.exec(sizeLine);
                if (!sm)
                    throw new Error(`bad chunk size line in response: ${JSON.stringify(sizeLine)}`);
                const size = parseInt(sm[1], 16);
                p = lineEnd + 2;
                if (size === 0) {
                    // trailers until an empty line
                    for (;;) {
                        let te2;
                        const got = await waitMore(
                            () => (te2 = this.buf.indexOf('\r\n', p)) >= 0, 'chunked trailer');
                        if (!got) {
                            res.body = Buffer.concat(parts);
                            return finish(this.buf.length, false);
                        }
                        const empty = te2 === p;
                        p = te2 + 2;
                        if (empty)
                            break;
                    }
                    res.body = Buffer.concat(parts);
                    return finish(p, true);
                }
                const got = await waitMore(() => this.buf.length >= p + size + 2, 'chunk data');
                if (!got) {
                    parts.push(this.buf.subarray(p, Math.min(this.buf.length, p + size)));
                    res.body = Buffer.concat(parts);
                    return finish(this.buf.length, false);
                }
                parts.push(this.buf.subarray(p, p + size));
                if (this.buf.subarray(p + size, p + size + 2).toString('latin1') !== '\r\n')
                    throw new Error('chunk data not followed by CRLF in response');
                p += size + 2;
            }
        }
        if (headers['content-length'] !== undefined) {
            const n = Number(headers['content-length']);
            assert.ok(Number.isInteger(n) && n >= 0,
                `bad response Content-Length ${headers['content-length']}`);
            const got = await waitMore(() => this.buf.length >= p + n, 'the response body');
            res.body = this.buf.subarray(p, Math.min(this.buf.length, p + n));
            return finish(got ? p + n : this.buf.length, got);
        }
        // close-delimited
        await waitMore(() => this.closed, 'the end of a close-delimited body');
        res.body = this.buf.subarray(p);
        return finish(this.buf.length, this.closed);
    }

    /** Arrival time of the data byte at offset. */
    arrivalTime(offset) {
        for (const a of this.arrivals)
            if (offset < a.offset + a.len)
                return a.t;
        return performance.now();
    }

    destroy() {
        this.sock.destroy();
    }

    /** Abortive close (RST) where supported, else destroy. */
    reset() {
        if (typeof this.sock.resetAndDestroy === 'function')
            this.sock.resetAndDestroy();
        else
            this.sock.destroy();
    }
}

function excerpt(buf, n = 600) {
    const s = buf.toString('latin1');
    return JSON.stringify(s.length > n ? `${s.slice(0, n)}...` : s);
}

/** Connects, writes bytes, reads one response; returns {conn, res}. */
export async function rawExchange(port, bytes, opts = {}) {
    const conn = await RawConn.connect(port);
    await conn.write(bytes);
    const res = await conn.readResponse(opts);
    return { conn, res };
}

/** Asserts res is an OpenAI-format JSON error with the given status. */
export function assertOpenAIError(res, status, what = '') {
    assert.equal(res.status, status, `${what}: status ${res.status}, body ${bodyText(res)}`);
    const ct = res.headers['content-type'] || '';
    assert.match(ct, /application\/json/, `${what}: error content-type ${ct}`);
    let j;
    try {
        j = JSON.parse(bodyText(res));
    } catch {
        assert.fail(`${what}: error body is not JSON: ${bodyText(res)}`);
    }
    assert.equal(typeof j.error, 'object', `${what}: no "error" object in ${bodyText(res)}`);
    assert.equal(typeof j.error.message, 'string', `${what}: error.message`);
    assert.ok(j.error.message.length > 0, `${what}: empty error.message`);
    assert.equal(typeof j.error.type, 'string', `${what}: error.type`);
    assert.ok('code' in j.error, `${what}: error.code missing in ${bodyText(res)}`);
    return j;
}

/** Asserts res is an Anthropic-format JSON error with the given status. */
export function assertAnthropicError(res, status, what = '') {
    assert.equal(res.status, status, `${what}: status ${res.status}, body ${bodyText(res)}`);
    const ct = res.headers['content-type'] || '';
    assert.match(ct, /application\/json/, `${what}: error content-type ${ct}`);
    const j = JSON.parse(bodyText(res));
    assert.equal(j.type, 'error', `${what}: type in ${bodyText(res)}`);
    assert.equal(typeof j.error, 'object');
    assert.equal(typeof j.error.type, 'string');
    assert.equal(typeof j.error.message, 'string');
    assert.ok(j.error.message.length > 0);
    return j;
}

function bodyText(res) {
    return res.text ?? res.body;
}

/** A TCP port on 127.0.0.1 with nothing listening (bound then closed). */
export async function deadPort() {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address();
    await new Promise((r) => srv.close(r));
    return port;
}

/** A TCP server that accepts connections and never sends a byte. */
export async function silentServer() {
    const socks = new Set();
    let total = 0;
    const srv = net.createServer((s) => {
        total++;
        socks.add(s);
        s.on('error', () => {});
        s.on('close', () => socks.delete(s));
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    return {
        port: srv.address().port,
        accepted: () => total,
        close: () => new Promise((r) => {
            for (const s of socks)
                s.destroy();
            srv.close(r);
        }),
    };
}

/**
 * A TCP proxy to 127.0.0.1:targetPort that holds what its clients send for ms milliseconds before
 * passing it on (in order; answers pass at once): a slow link to a server, on one instance only.
 */
export async function delayProxy(targetPort, ms) {
    const socks = new Set();
    const srv = net.createServer((c) => {
        const up = net.connect(targetPort, '127.0.0.1');
        socks.add(c);
        socks.add(up);
        let last = Promise.resolve();
        c.on('data', (d) => {
            const due = Date.now() + ms;
            last = last.then(() => new Promise((r) => setTimeout(r, Math.max(0, due - Date.now()))))
                .then(() => { if (!up.destroyed) up.write(d); });
        });
        up.on('data', (d) => c.write(d));
        for (const [a, b] of [[c, up], [up, c]]) {
            a.on('error', () => {});
            a.on('close', () => {
                socks.delete(a);
                b.destroy();
            });
        }
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    return {
        port: srv.address().port,
        close: () => new Promise((r) => {
            for (const s of socks)
                s.destroy();
            srv.close(r);
        }),
    };
}

// ---------------------------------------------------------------------------------------------
// Streaming over node:http with arrival times

/**
 * POSTs body and reads the response as it arrives. Resolves
 * {status, headers, text, events: [{t, event, data}], tHead, tEnd, complete, error}.
 * complete=false (with error set) when the response was cut.
 * opts: {headers, onEvent(ev, req) — called for each complete SSE event as it arrives}.
 */
export function streamRequest(port, pathname, body, opts = {}) {
    return new Promise((resolve, reject) => {
        const b = typeof body === 'string' ? body : JSON.stringify(body);
        const req = http.request({
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: pathname,
            agent: false,
            headers: {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(b),
                ...(opts.headers || {}),
            },
        }, (res) => {
            const tHead = performance.now();
            let text = '';
            let pending = '';
            const events = [];
            let done = false;
            const finish = (complete, error) => {
                if (done)
                    return;
                done = true;
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    text,
                    events,
                    tHead,
                    tEnd: performance.now(),
                    complete,
                    error,
                });
            };
            res.setEncoding('utf8');
            res.on('data', (d) => {
                const t = performance.now();
                text += d;
                pending += d;
                pending = pending.replace(/\r\n/g, '\n');
                let i;
                while ((i = pending.indexOf('\n\n')) >= 0) {
                    const block = pending.slice(0, i + 2);
                    pending = pending.slice(i + 2);
                    for (const ev of parseSse(block)) {
                        const e = { t, ...ev };
                        events.push(e);
                        if (opts.onEvent)
                            opts.onEvent(e, req);
                    }
                }
            });
            res.on('end', () => finish(true, null));
            res.on('error', (e) => finish(false, e));
            res.on('close', () => finish(res.complete, res.complete ? null : new Error('cut')));
        });
        req.on('error', reject);
        req.setTimeout(opts.timeout || T(20000), () =>
            req.destroy(new Error(`stream request to :${port}${pathname} timed out`)));
        req.end(b);
    });
}

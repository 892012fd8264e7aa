// A mock audit collector for the integration tests: one HTTP server on 127.0.0.1 that speaks
// enough of three protocols for the gateway's HTTP audit sinks:
//   POST /services/collector[/event]  Splunk HEC: newline-separated envelopes {"time":..,
//                                     "host":..,"source":..,"sourcetype":..,"event":{record}};
//                                     answers {"text":"Success","code":0}
//   POST [/<index>]/_bulk             Elasticsearch: NDJSON pairs {"create":{"_index":..,"_id":..}}
//                                     + record; answers per item like Elasticsearch, including
//                                     409 for an _id it stored already (so a retried batch is not
//                                     stored twice, as with a real cluster)
//   POST /hook[...]                   generic NDJSON webhook: one record per line; answers 200 {}
// Bodies may be gzip'd (Content-Encoding: gzip). Every record that arrives is kept, in arrival
// order, as the inner record object.
//
// Waits are event driven: waitFor() re-checks its predicate whenever a batch arrives, with a
// deadline, never by sleeping.

import http from 'node:http';
import zlib from 'node:zlib';

const HEC_OK = { text: 'Success', code: 0 };

/** The scheme the gateway uses for each protocol's Authorization header (audit/sink_http.c). */
const SCHEME = { hec: 'Splunk', es: 'ApiKey', hook: 'Bearer' };
/** Where a token is required unless told otherwise: a webhook's token is optional. */
const DEFAULT_TOKEN_KINDS = ['hec', 'es'];

function kindOf(pathname) {
    if (pathname === '/services/collector' || pathname.startsWith('/services/collector/'))
        return 'hec';
    if (pathname === '/_bulk' || /^\/[^/]+\/_bulk$/.test(pathname))
        return 'es';
    if (pathname === '/hook' || pathname.startsWith('/hook/'))
        return 'hook';
    return null;
}

/** Newline-separated JSON texts (blank lines skipped); throws on one that does not parse. */
function jsonLines(text) {
    return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

/**
 * Starts the collector. opts:
 *   mode   'status' (default): while down, every request gets 503;
 *          'reset': while down, every connection is reset (RST) instead of answered
 *   token  the token to require from the start (see expectToken)
 *   tokenKinds  where token is required (default ['hec', 'es'])
 * Resolves to an object:
 *   url              http://127.0.0.1:PORT
 *   port
 *   records          parsed records in arrival order (the inner record objects)
 *   batches          one per accepted request: {path, headers, count, gzip, kind, meta,
 *                    records} (kind 'hec' | 'es' | 'hook'; records: the ones this batch added;
 *                    meta, one per record: the HEC envelope without its event, the
 *                    Elasticsearch action line, or null)
 *   rejected         requests refused for their token (403)
 *   refusedWhileDown requests answered 503 or reset while down
 *   duplicates       Elasticsearch records refused with 409 (their _id was stored already)
 *   badRequests      requests answered 400 (unparseable body, wrong method or path)
 *   expectToken(t, kinds = ['hec', 'es'])  from now on require "Authorization: <Scheme> t" on
 *                    requests of those kinds (scheme by kind: Splunk, ApiKey, Bearer for 'hook');
 *                    others get 403 and are counted in rejected. t null: accept anything
 *   down() / up()    stop / resume accepting batches (down in 'reset' mode also resets the open
 *                    connections at once)
 *   failNext(n, status = 500)  answer the next n batches with status (and keep nothing)
 *   waitFor(pred, timeoutMs)   resolves with records once pred(records) is truthy (checked now
 *                    and on every arrival); rejects at the deadline saying what arrived
 *   close()          stops the server and drops every connection
 */
export async function startCollector(opts = {}) {
    const mode = opts.mode || 'status';
    if (mode !== 'status' && mode !== 'reset')
        throw new Error(`startCollector: unknown mode ${mode}`);
    const sockets = new Set();
    const waiters = new Set();
    const esIds = new Set();
    let token = opts.token ?? null;
    let tokenKinds = new Set(opts.tokenKinds || DEFAULT_TOKEN_KINDS);
    let isDown = false;
    let failing = { n: 0, status: 500 };

    const c = {
        url: '',
        port: 0,
        records: [],
        batches: [],
        rejected: 0,
        refusedWhileDown: 0,
        duplicates: 0,
        badRequests: 0,
        expectToken(t, kinds = DEFAULT_TOKEN_KINDS) {
            token = t;
            tokenKinds = new Set(kinds);
        },
        down() {
            isDown = true;
            if (mode === 'reset')
                for (const s of sockets)
                    resetSocket(s);
        },
        up() {
            isDown = false;
        },
        failNext(n, status = 500) {
            failing = { n, status };
        },
        waitFor(pred, timeoutMs) {
            return new Promise((resolve, reject) => {
                const w = {
                    check() {
                        let ok;
                        try {
                            ok = pred(c.records);
                        } catch (e) {
                            finish();
                            reject(e);
                            return;
                        }
                        if (ok) {
                            finish();
                            resolve(c.records);
                        }
                    },
                    fail(why) {
                        finish();
                        reject(new Error(why));
                    },
                };
                const timer = setTimeout(() => w.fail(
                    `collector: condition not met within ${timeoutMs} ms: ${c.records.length} ` +
                    `record(s) in ${c.batches.length} batch(es) arrived (rejected ${c.rejected}, ` +
                    `refused while down ${c.refusedWhileDown}, duplicates ${c.duplicates}, ` +
                    `bad ${c.badRequests}); last records: ` +
                    JSON.stringify(c.records.slice(-3)).slice(0, 1500)), timeoutMs);
                function finish() {
                    clearTimeout(timer);
                    waiters.delete(w);
                }
                waiters.add(w);
                w.check();
            });
        },
        close() {
            for (const w of [...waiters])
                w.fail('collector closed while waiting');
            return new Promise((resolve) => {
                server.close(() => resolve());
                for (const s of sockets)
                    s.destroy();
            });
        },
    };

    function resetSocket(s) {
        if (typeof s.resetAndDestroy === 'function')
            s.resetAndDestroy();
        else
            s.destroy();
    }

    function answer(res, status, body) {
        const text = JSON.stringify(body);
        res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
        });
        res.end(text);
    }

    function arrived() {
        for (const w of [...waiters])
            w.check();
    }

    function handle(req, res, raw) {
        const pathname = new URL(req.url, 'http://x').pathname;
        const kind = kindOf(pathname);
        if (req.method !== 'POST' || kind === null) {
            c.badRequests++;
            return answer(res, req.method !== 'POST' ? 405 : 404,
                { error: `no ${req.method} ${pathname} here` });
        }
        if (token !== null && tokenKinds.has(kind) &&
            req.headers.authorization !== `${SCHEME[kind]} ${token}`) {
            c.rejected++;
            return answer(res, 403, kind === 'hec' ? { text: 'Invalid token', code: 4 }
                : { error: 'forbidden' });
        }
        if (failing.n > 0) {
            failing.n--;
            return answer(res, failing.status, kind === 'hec'
                ? { text: 'Server is busy', code: 9 } : { error: `injected ${failing.status}` });
        }
        const gzip = /\bgzip\b/i.test(req.headers['content-encoding'] || '');
        let text;
        try {
            text = (gzip ? zlib.gunzipSync(raw) : raw).toString('utf8');
        } catch (e) {
            c.badRequests++;
            return answer(res, 400, { error: `bad gzip body: ${e.message}` });
        }
        let got;
        try {
            got = parseBody(kind, text);
        } catch (e) {
            c.badRequests++;
            return answer(res, 400, kind === 'hec' ? { text: 'Invalid data format', code: 6 }
                : { error: e.message });
        }
        const meta = [];
        const records = [];
        const items = [];
        let errors = false;
        for (const { record, info } of got) {
            if (kind === 'es') {
                const action = Object.keys(info)[0];
                const id = info[action]._id;
                const key = `${info[action]._index}\u0000${id}`;
                if (action === 'create' && id !== undefined && esIds.has(key)) {
                    c.duplicates++;
                    errors = true;
                    items.push({ [action]: {
                        _index: info[action]._index, _id: id, status: 409,
                        error: { type: 'version_conflict_engine_exception',
                            reason: `[${id}]: version conflict, document already exists` },
                    } });
                    continue;
                }
                if (id !== undefined)
                    esIds.add(key);
                items.push({ [action]: { _index: info[action]._index, _id: id, status: 201,
                    result: 'created' } });
            }
            meta.push(info);
            records.push(record);
            c.records.push(record);
        }
        c.batches.push({ path: req.url, headers: req.headers, count: records.length, gzip, kind,
            meta, records });
        if (kind === 'hec')
            answer(res, 200, HEC_OK);
        else if (kind === 'es')
            answer(res, 200, { took: 1, errors, items });
        else
            answer(res, 200, {});
        arrived();
    }

    const server = http.createServer((req, res) => {
        if (isDown) {
            c.refusedWhileDown++;
            if (mode === 'reset') {
                resetSocket(req.socket);
                return;
            }
            req.resume();
            res.setHeader('connection', 'close');
            return answer(res, 503, { error: 'collector down' });
        }
        const parts = [];
        req.on('data', (d) => parts.push(d));
        req.on('end', () => handle(req, res, Buffer.concat(parts)));
        req.on('error', () => {});
    });
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
    });
    server.on('clientError', (err, s) => {
        c.badRequests++;
        if (s.writable)
            s.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        else
            s.destroy();
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
        });
    });
    c.port = server.address().port;
    c.url = `http://127.0.0.1:${c.port}`;
    return c;
}

/** [{record, info}] for a request body; throws on anything malformed. */
function parseBody(kind, text) {
    const out = [];
    if (kind === 'hook') {
        for (const record of jsonLines(text)) {
            if (record === null || typeof record !== 'object' || Array.isArray(record))
                throw new Error('a webhook line is not a JSON object');
            out.push({ record, info: null });
        }
        return out;
    }
    if (kind === 'hec') {
        for (const env of jsonLines(text)) {
            if (env === null || typeof env !== 'object' || typeof env.event !== 'object' ||
                env.event === null)
                throw new Error('HEC envelope without an "event" object');
            const { event, ...info } = env;
            out.push({ record: event, info });
        }
        return out;
    }
    // Elasticsearch: the body must end with a newline, lines come in pairs
    if (text.length > 0 && !text.endsWith('\n'))
        throw new Error('_bulk body must end with a newline');
    const lines = jsonLines(text);
    if (lines.length % 2 !== 0)
        throw new Error('_bulk body has an action line without its document');
    for (let i = 0; i < lines.length; i += 2) {
        const action = lines[i];
        const keys = action && typeof action === 'object' ? Object.keys(action) : [];
        if (keys.length !== 1 || !['create', 'index'].includes(keys[0]) ||
            typeof action[keys[0]] !== 'object')
            throw new Error(`_bulk line ${i + 1} is not a create/index action`);
        out.push({ record: lines[i + 1], info: action });
    }
    return out;
}

// A real rsyslogd as the syslog collector for the audit tests: runs in the foreground as the
// current user (no root needed: high port, files in the test's dir, no privilege dropping),
// listens on 127.0.0.1 (imtcp, optionally imudp on the same port number) and writes every
// message it receives to one file, one JSON object per line, with the RFC 5424 fields as rsyslog
// parsed them:
//   {"pri":"134","version":"1","timestamp":"...","hostname":"...","app_name":"portcullis",
//    "procid":"123","msgid":"audit","sd":"-","msg":"{...record...}","raw":"<134>1 ..."}
// (rsyslog escapes the values itself: option.jsonf). A line whose version is "" or app_name is
// not what was sent means rsyslog did not parse the message as RFC 5424.
//
// Readiness is checked end to end: after a connection succeeds, a probe message is sent and must
// reach a separate probe file (so the listener is rsyslog's, not another process that took the
// port first, and the output path works). The probe never appears in the output file.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { T, withDeadline } from './lib.mjs';

const RSYSLOGD = process.env.PC_RSYSLOGD || '/usr/sbin/rsyslogd';
const PROBE_MSGID = 'pc-probe';
// what rsyslogd prints (and then runs on without the listener) when its port is taken
const BIND_FAILED = /Could not create (tcp|udp) listener|Error while binding/;

const live = new Set();
process.on('exit', () => {
    for (const p of live) {
        try {
            p.kill('SIGKILL');
        } catch {
            /* gone */
        }
    }
});

async function freeTcpPort() {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address();
    await new Promise((r) => srv.close(r));
    return port;
}

/** Whether UDP port is free on 127.0.0.1 now. */
function udpFree(port) {
    return new Promise((resolve) => {
        const s = dgram.createSocket('udp4');
        s.once('error', () => resolve(false));
        s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
}

/** One RFC 6587 octet-counted RFC 5424 frame. */
export function rfc5424Frame({ pri = 134, ts = '2026-11-29T12:00:00.000000Z', host = 'host',
    app = 'portcullis', procid = '-', msgid = 'audit', sd = '-', msg = '' } = {}) {
    const m = Buffer.from(`<${pri}>1 ${ts} ${host} ${app} ${procid} ${msgid} ${sd} ${msg}`);
    return Buffer.concat([Buffer.from(`${m.length} `), m]);
}

function config(dir, port, { udp, maxMessageSize }) {
    const q = (s) => JSON.stringify(s); // rsyslog strings are double-quoted like JSON
    return `# written by tests/integration/rsyslog.mjs
global(workDirectory=${q(path.join(dir, 'work'))} maxMessageSize=${q(maxMessageSize)}
       net.enableDNS="off")
module(load="imtcp")
${udp ? 'module(load="imudp")' : ''}
template(name="pcjson" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timestamp" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}
template(name="probe" type="string" string="%msg%\\n")
ruleset(name="pc") {
  if $msgid == ${q(PROBE_MSGID)} then {
    action(type="omfile" file=${q(path.join(dir, 'probe.log'))} template="probe")
    stop
  }
  action(type="omfile" file=${q(path.join(dir, 'syslog.jsonl'))} template="pcjson")
}
input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="pc")
${udp ? `input(type="imudp" address="127.0.0.1" port="${port}" ruleset="pc")` : ''}
`;
}

function readLines(file) {
    let text;
    try {
        text = fs.readFileSync(file, 'utf8');
    } catch (e) {
        if (e.code === 'ENOENT')
            return [];
        throw e;
    }
    const end = text.lastIndexOf('\n');
    if (end < 0)
        return [];
    return text.slice(0, end).split('\n').map((l) => JSON.parse(l));
}

/**
 * Resolves when cond() holds, re-checking whenever something in dir changes (fs.watch) and, as a
 * fallback for missed events, every 100 ms; rejects at the deadline with what().
 */
function waitFile(dir, cond, ms, what) {
    return new Promise((resolve, reject) => {
        let watcher = null;
        let poll = null;
        let timer = null;
        const done = (err, v) => {
            watcher?.close();
            clearInterval(poll);
            clearTimeout(timer);
            if (err)
                reject(err);
            else
                resolve(v);
        };
        const check = () => {
            try {
                const v = cond();
                if (v)
                    done(null, v);
            } catch (e) {
                done(e);
            }
        };
        try {
            watcher = fs.watch(dir, check);
            watcher.on('error', () => {});
        } catch {
            watcher = null;
        }
        poll = setInterval(check, 100);
        timer = setTimeout(() => done(new Error(`rsyslog: timed out after ${ms} ms: ${what()}`)),
            ms);
        check();
    });
}

function exitPromise(proc) {
    if (proc.exitCode !== null || proc.signalCode !== null)
        return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
    return new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
}

/**
 * Connects once rsyslogd listens: {sock}, or {sock: null} when it reported a bind failure; throws
 * when it exits or at the deadline.
 */
async function connectWhenListening(port, proc, out, ms) {
    const end = Date.now() + ms;
    for (;;) {
        if (BIND_FAILED.test(out.stderr))
            return { sock: null };
        if (proc.exitCode !== null || proc.signalCode !== null)
            throw new Error(`rsyslogd exited (${proc.exitCode ?? proc.signalCode}):\n` +
                            out.stderr);
        const sock = await new Promise((resolve) => {
            const s = net.connect(port, '127.0.0.1');
            s.once('connect', () => resolve(s));
            s.once('error', () => resolve(null));
        });
        if (sock)
            return { sock };
        if (Date.now() > end)
            throw new Error(`rsyslogd did not listen on 127.0.0.1:${port} within ${ms} ms; ` +
                            `stderr:\n${out.stderr}`);
        // connection refused: rsyslogd is still starting; the next attempt is a new event
        await new Promise((r) => setTimeout(r, 20));
    }
}

async function stopProc(proc, exited) {
    if (proc.exitCode === null && proc.signalCode === null)
        proc.kill('SIGTERM');
    try {
        return await withDeadline(exited, T(5000), 'rsyslogd to exit');
    } catch {
        proc.kill('SIGKILL');
        return exited;
    }
}

/**
 * Starts rsyslogd with its config, pid file, work directory and output in dir (which must exist
 * and is left in place). opts: {udp: also listen on UDP (same port number), maxMessageSize
 * (default '4m': rsyslog's default 8k would truncate large audit records)}.
 * Resolves to {port, file, dir, lines(), waitForLines(n, timeoutMs), stop(), stderr()}:
 *   lines()        the messages written so far, parsed (see the top of this file)
 *   waitForLines   resolves with lines() once there are at least n; rejects at the deadline
 *   stop()         SIGTERM (SIGKILL after a deadline); resolves {code, signal}
 */
export async function startRsyslog(dir, opts = {}) {
    if (!fs.existsSync(RSYSLOGD))
        throw new Error(`${RSYSLOGD} not found (apt-get install rsyslog; scripts/deps.sh)`);
    const settings = { udp: !!opts.udp, maxMessageSize: opts.maxMessageSize || '4m' };
    fs.mkdirSync(path.join(dir, 'work'), { recursive: true });
    const file = path.join(dir, 'syslog.jsonl');
    const probeFile = path.join(dir, 'probe.log');
    const deadline = Date.now() + T(15000);

    for (let attempt = 1; ; attempt++) {
        const port = await freeTcpPort();
        if (settings.udp && !(await udpFree(port)))
            continue;
        const conf = path.join(dir, 'rsyslog.conf');
        fs.writeFileSync(conf, config(dir, port, settings));
        const out = { stderr: '' };
        const proc = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', path.join(dir, 'rsyslogd.pid')], {
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        live.add(proc);
        const exited = exitPromise(proc);
        exited.then(() => live.delete(proc));
        proc.on('error', (e) => {
            out.stderr += `spawn error: ${e.message}\n`;
        });
        for (const s of [proc.stdout, proc.stderr]) {
            s.setEncoding('utf8');
            s.on('data', (d) => {
                out.stderr += d;
                if (process.env.PC_TEST_VERBOSE)
                    process.stderr.write(`[rsyslogd] ${d}`);
            });
        }
        let state;
        try {
            const ready = await connectWhenListening(port, proc, out, deadline - Date.now());
            if (ready.sock) {
                const nonce = `ready-${process.pid}-${Date.now()}-${attempt}`;
                ready.sock.on('error', () => {});
                ready.sock.end(rfc5424Frame({ app: 'rsyslog-mjs', msgid: PROBE_MSGID,
                    msg: nonce }));
                // The connection may have reached another process that took the port first:
                // only the probe arriving proves it was rsyslogd's.
                state = await waitFile(dir, () => {
                    if (BIND_FAILED.test(out.stderr))
                        return 'retry';
                    try {
                        return fs.readFileSync(probeFile, 'utf8').includes(nonce) && 'ready';
                    } catch {
                        return false;
                    }
                }, Math.max(deadline - Date.now(), 1), () =>
                    `the readiness probe did not reach ${probeFile}; stderr:\n${out.stderr}`);
            } else {
                state = 'retry';
            }
        } catch (e) {
            await stopProc(proc, exited);
            throw e;
        }
        if (state === 'retry') {
            // another process took the port between our check and rsyslogd's bind
            await stopProc(proc, exited);
            if (attempt >= 5 || Date.now() > deadline)
                throw new Error(`rsyslogd could not bind a port after ${attempt} attempts:\n` +
                                out.stderr);
            continue;
        }
        return {
            port,
            file,
            dir,
            stderr: () => out.stderr,
            lines: () => readLines(file),
            waitForLines(n, timeoutMs = T(5000)) {
                let seen = 0;
                return waitFile(dir, () => {
                    const l = readLines(file);
                    seen = l.length;
                    return l.length >= n ? l : null;
                }, timeoutMs, () => `wanted ${n} line(s) in ${file}, have ${seen}; rsyslogd ` +
                    `stderr:\n${out.stderr}`);
            },
            stop: () => stopProc(proc, exited),
        };
    }
}

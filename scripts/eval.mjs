#!/usr/bin/env node
// `make eval`: runs `portcullis scan` over the evaluation data in ../shared/data (or
// $PC_EVAL_DATA) and prints detection and false-positive rates of the injection filter per file,
// split, label and subset, separately for direct (user) and indirect (tool_result) injection.
//
// Every record is scanned once, with thresholds so low that every rule hit is reported with the
// segment's score (tests/eval/eval.yaml); the rates at the default block threshold and at the
// "<= 1 % false positives" operating point are computed from those scores here. The operating
// point is chosen on the benign *train* split (prompts for direct, documents for indirect) and
// the false-positive rates are reported on the held-out benign sets.
//
//   node scripts/eval.mjs [--bin build/portcullis] [--config tests/eval/eval.yaml]
//                         [--split train|test|all] [--rules] [--misses N] [--json FILE]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const bin = resolve(opt('--bin', join(root, 'build/portcullis')));
const config = resolve(opt('--config', join(root, 'tests/eval/eval.yaml')));
const dataDir = resolve(process.env.PC_EVAL_DATA || join(root, '../shared/data'));
const splitWanted = opt('--split', 'all');
const showRules = args.includes('--rules');
const misses = Number(opt('--misses', '0'));
const jsonOut = opt('--json', null);
const BLOCK = { direct: Number(process.env.PC_EVAL_BLOCK || 1.0), indirect: Number(process.env.PC_EVAL_BLOCK_INDIRECT || process.env.PC_EVAL_BLOCK || 1.0) };
const EVENT = 0.5;

if (!existsSync(dataDir)) {
  console.error(`eval: no evaluation data at ${dataDir} (set PC_EVAL_DATA)`);
  process.exit(2);
}

const FILES = ['attacks_garak', 'attacks_cyberseceval', 'indirect_bipia', 'benign_prompts', 'smoke_llmguard_pint'];
const ATTACK = new Set(['injection', 'indirect_injection', 'jailbreak', 'prompt_extraction']);
const PROMPT_LABELS = new Set([...ATTACK, 'benign', 'benign_document']);

function subsetOf(file, r) {
  if (file === 'attacks_cyberseceval')
    return `${r.subset}/${r.risk_category}`;
  if (file === 'indirect_bipia') return r.task;
  if (file === 'attacks_garak' && r.label === 'prompt_extraction') return 'sysprompt_extraction';
  return r.subset || '';
}

const records = [];
for (const file of FILES) {
  const path = join(dataDir, `${file}.jsonl`);
  if (!existsSync(path)) continue;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    if (!PROMPT_LABELS.has(r.label)) continue;
    if (splitWanted !== 'all' && r.split !== splitWanted && !(r.split === 'smoke' || r.split === 'dev')) continue;
    const side = r.label === 'indirect_injection' || r.label === 'benign_document' ? 'indirect' : 'direct';
    records.push({ file, label: r.label, split: r.split, subset: subsetOf(file, r), side, text: r.text, lang: r.language || '', variant: r.injection_variant || '' });
  }
}

// One scan process for everything: a line in, a verdict line out.
async function scanAll(recs) {
  const child = spawn(bin, ['scan', '-c', config], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.on('error', () => {}); // a failed scan is reported by its exit status
  const out = [];
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      out.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const done = new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`portcullis scan exited with ${code}`))));
  });
  for (const r of recs) {
    const line = JSON.stringify({ role: r.side === 'indirect' ? 'tool_result' : 'user', text: r.text }) + '\n';
    if (!child.stdin.write(line)) await new Promise((res) => child.stdin.once('drain', res));
  }
  child.stdin.end();
  await done;
  if (out.length !== recs.length) throw new Error(`scan returned ${out.length} verdicts for ${recs.length} records`);
  return out.map((l) => JSON.parse(l));
}

const t0 = Date.now();
const verdicts = await scanAll(records);
const secs = (Date.now() - t0) / 1000;
records.forEach((r, i) => {
  const v = verdicts[i];
  const hits = (v.rules || []).filter((e) => e.filter === 'injection' || e.category?.startsWith('injection:'));
  r.score = hits.reduce((m, e) => Math.max(m, e.score || 0), 0);
  r.rules = [...new Set(hits.map((e) => e.rule_id))];
  r.cats = [...new Set(hits.map((e) => e.category))];
});

const pct = (a, n) => (n ? ((100 * a) / n).toFixed(1).padStart(5) + '%' : '   - ');
const isAttack = (r) => ATTACK.has(r.label);

// Operating points: the lowest threshold (among scores seen) with <= 1 % of the benign train
// records of that side at or above it.
function operatingPoint(side) {
  const benign = records.filter((r) => r.side === side && !isAttack(r) && r.split === 'train');
  const scores = [...new Set(records.filter((r) => r.side === side).map((r) => r.score).filter((s) => s > 0))].sort((a, b) => a - b);
  for (const t of scores) {
    const fp = benign.filter((r) => r.score >= t).length;
    if (fp <= benign.length * 0.01) return t;
  }
  return Infinity;
}
const OP = { direct: operatingPoint('direct'), indirect: operatingPoint('indirect') };

const groups = new Map();
for (const r of records) {
  const key = [r.side, r.file, r.split, r.label, r.subset].join('\t');
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r);
}

const summary = { block: BLOCK, operating_point: OP, groups: [] };
console.log(`portcullis eval: ${records.length} records from ${dataDir} in ${secs.toFixed(1)} s`);
console.log(`thresholds: block direct ${BLOCK.direct}, indirect ${BLOCK.indirect}; event ${EVENT}; operating point (<= 1 % FP on benign train): direct ${OP.direct}, indirect ${OP.indirect}`);
console.log('rates: attacks = detected, benign = false positives\n');
for (const side of ['direct', 'indirect']) {
  console.log(`== ${side} ==`);
  console.log(`${'file'.padEnd(22)} ${'split'.padEnd(6)} ${'label'.padEnd(18)} ${'subset'.padEnd(40)} ${'n'.padStart(5)}  @block  @event     @op`);
  const keys = [...groups.keys()].filter((k) => k.startsWith(side + '\t')).sort();
  for (const k of keys) {
    const rs = groups.get(k);
    const [, file, split, label, subset] = k.split('\t');
    const n = rs.length;
    const b = rs.filter((r) => r.score >= BLOCK[side]).length;
    const e = rs.filter((r) => r.score >= EVENT).length;
    const o = rs.filter((r) => r.score >= OP[side]).length;
    console.log(`${file.padEnd(22)} ${split.padEnd(6)} ${label.padEnd(18)} ${subset.slice(0, 40).padEnd(40)} ${String(n).padStart(5)} ${pct(b, n)} ${pct(e, n)} ${pct(o, n)}`);
    summary.groups.push({ side, file, split, label, subset, n, block: b, event: e, op: o });
  }
  // Totals per label over the held-out data (test + smoke).
  for (const heldOut of [true, false]) {
    const sel = records.filter((r) => r.side === side && (heldOut ? r.split !== 'train' : r.split === 'train'));
    const byLabel = {};
    for (const r of sel) (byLabel[r.label] ||= []).push(r);
    for (const [label, rs] of Object.entries(byLabel)) {
      const n = rs.length;
      console.log(`${('TOTAL ' + (heldOut ? 'held-out' : 'train')).padEnd(29)} ${label.padEnd(18)} ${''.padEnd(40)} ${String(n).padStart(5)} ${pct(rs.filter((r) => r.score >= BLOCK[side]).length, n)} ${pct(rs.filter((r) => r.score >= EVENT).length, n)} ${pct(rs.filter((r) => r.score >= OP[side]).length, n)}`);
    }
  }
  console.log('');
}

// CyberSecEval by language and by technique (held out, never trained on).
const cse = records.filter((r) => r.file === 'attacks_cyberseceval');
if (cse.length) {
  for (const [title, keyf] of [['language', (r) => r.lang], ['subset', (r) => r.subset],
    ['technique (English, security-violating)', (r) => (r.lang === 'English' && r.subset.endsWith('security-violating') ? r.variant : null)]]) {
    const by = {};
    for (const r of cse) if (keyf(r) !== null) (by[keyf(r)] ||= []).push(r);
    console.log(`== attacks_cyberseceval by ${title} (detected @block) ==`);
    console.log(Object.entries(by).sort().map(([k, rs]) => `${k}: ${pct(rs.filter((r) => r.score >= BLOCK[r.side]).length, rs.length).trim()} of ${rs.length}`).join('; '));
    console.log('');
  }
}

// Which categories of the pack fire on each file's attacks (a record counts once per category).
console.log('== categories that fired on attacks, per file (records) ==');
for (const file of FILES) {
  const byCat = {};
  for (const r of records.filter((x) => x.file === file && isAttack(x)))
    for (const c of r.cats) byCat[c] = (byCat[c] || 0) + 1;
  const list = Object.entries(byCat).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c.replace(/^injection:/, '')} ${n}`);
  if (list.length) console.log(`${file}: ${list.join(', ')}`);
}
console.log('');

if (showRules) {
  const hits = new Map();
  for (const r of records)
    for (const id of r.rules) {
      const h = hits.get(id) || { attack: 0, benign: 0 };
      if (isAttack(r)) h.attack++;
      else h.benign++;
      hits.set(id, h);
    }
  console.log('== rule hits (attack records / benign records) ==');
  for (const [id, h] of [...hits.entries()].sort((a, b) => b[1].benign - a[1].benign || b[1].attack - a[1].attack))
    console.log(`${id.padEnd(48)} ${String(h.attack).padStart(5)} ${String(h.benign).padStart(5)}`);
  console.log('');
}

if (misses > 0) {
  console.log(`== up to ${misses} false positives and misses per group ==`);
  for (const [k, rs] of groups) {
    const bad = rs.filter((r) => (isAttack(r) ? r.score < BLOCK[r.side] : r.score >= BLOCK[r.side])).slice(0, misses);
    for (const r of bad)
      console.log(`[${k.replace(/\t/g, ' | ')}] score ${r.score} ${r.rules.join(',')} :: ${r.text.replace(/\s+/g, ' ').slice(0, 300)}`);
  }
}

if (jsonOut) writeFileSync(jsonOut, JSON.stringify(summary, null, 2));

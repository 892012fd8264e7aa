#!/usr/bin/env node
// `make eval` (second part): precision and recall of the shipped secrets pack
// (config/rules/secrets.yaml) and PII pack (config/rules/pii.yaml) over the evaluation data in
// ../shared/data (or $PC_EVAL_DATA), per file and per type (vendor / rule family for secrets,
// Presidio entity type for PII), through `portcullis scan -c tests/eval/sensitive.yaml`.
//
// The labels are per-rule expectations (the data's README): a `no_secret` line is a negative for
// ONE rule and may still hold another kind of secret. Negatives that gitleaks' own rules flag
// (`gitleaks_rules_firing` not empty) are therefore ambiguous and are counted apart; the false
// positive rate is over the clean ones. The issue's goal, reported per file (not enforced):
// >= 98 % recall on credentials and <= 1 % false positives on clean negatives.
//
// Secrets: detected = the `secrets` filter fired; "span" (for records that give their expected
// finding: `spans`, `expected_secret`) = our redactions cover all of it / overlap it. PII: a Presidio entity type
// is mapped to the pack's `pii:<type>` categories (ENTITY_MAP); detected = a mapped category
// fired, "span" = it overlaps an expected span, FP = a mapped category fired on a `no_pii` row.
// Entity types with no mapping are listed as not covered, with their counts and how often any
// PII rule fired on them.
//
// secrets_gitleaks is the development set (rules ported from gitleaks were written against it):
// --misses N prints up to N of its misses and false positives, with their text. The other files
// are held out: only aggregate numbers are ever printed for them.
//
//   node scripts/eval-sensitive.mjs [--bin build/portcullis] [--config tests/eval/sensitive.yaml]
//                                   [--misses N] [--all-types] [--json FILE]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const bin = resolve(opt('--bin', join(root, 'build/portcullis')));
const config = resolve(opt('--config', join(root, 'tests/eval/sensitive.yaml')));
const dataDir = resolve(process.env.PC_EVAL_DATA || join(root, '../shared/data'));
const misses = Number(opt('--misses', '0'));
const allTypes = args.includes('--all-types');
const jsonOut = opt('--json', null);
const GOAL_RECALL = 98, GOAL_FP = 1;

if (!existsSync(dataDir)) {
  console.error(`eval-sensitive: no evaluation data at ${dataDir} (set PC_EVAL_DATA)`);
  process.exit(2);
}
if (!existsSync(bin)) {
  console.error(`eval-sensitive: no portcullis binary at ${bin} (build first, or --bin)`);
  process.exit(2);
}

// Secrets files: type = the vendor / rule family of the record; offsets of `spans` are JavaScript
// string indices (secretlint is JavaScript), `expected_secret` is searched in the text.
const SECRET_FILES = [
  { file: 'secrets_gitleaks', dev: true, type: (r) => r.rule_id || basename(String(r.source).split(':').pop(), '.go') },
  { file: 'secrets_secretlint', dev: false, type: (r) => String(r.rule || '').replace(/^secretlint-rule-/, ''), units: 'utf16' },
  { file: 'secrets_detect_secrets', dev: false, type: (r) => String(r.plugin_test || '').replace(/_test\.py$/, '') },
];
const PII_FILE = { file: 'pii_presidio', dev: false, units: 'cp' }; // Python offsets: code points

// Presidio entity type -> the PII pack's types (categories pii:<type>) that count as finding it.
// DATE_TIME is Presidio's date recognizer (any date); our nearest type is dob (date of birth).
const ENTITY_MAP = {
  EMAIL_ADDRESS: ['email'],
  PHONE_NUMBER: ['phone'], PH_MOBILE_NUMBER: ['phone'], TR_PHONE_NUMBER: ['phone'],
  CREDIT_CARD: ['card'],
  IBAN_CODE: ['iban'],
  US_SSN: ['ssn'],
  IP_ADDRESS: ['ip'],
  DATE_TIME: ['dob'],
  US_PASSPORT: ['passport'], UK_PASSPORT: ['passport'], DE_PASSPORT: ['passport'], ES_PASSPORT: ['passport'],
  IT_PASSPORT: ['passport'], IN_PASSPORT: ['passport'], KR_PASSPORT: ['passport'],
  // personal identity numbers (national registers, identity cards, social insurance numbers)
  CA_SIN: ['national_id'], DE_ID_CARD: ['national_id'], DE_SOCIAL_SECURITY: ['national_id'],
  ES_NIE: ['national_id'], FI_PERSONAL_IDENTITY_CODE: ['national_id'], IN_AADHAAR: ['national_id'],
  IN_VOTER: ['national_id'], IT_IDENTITY_CARD: ['national_id'], KR_RRN: ['national_id'], KR_FRN: ['national_id'],
  NG_NIN: ['national_id'], PL_PESEL: ['national_id'], SE_PERSONNUMMER: ['national_id'],
  SG_NRIC_FIN: ['national_id'], FIN: ['national_id'], TH_TNIN: ['national_id'], TR_NATIONAL_ID: ['national_id'],
  UK_NINO: ['national_id'], ZA_ID_NUMBER: ['national_id'],
  // both: the Spanish NIF is the DNI number, the Italian codice fiscale is the personal id
  ES_NIF: ['national_id', 'tax_id'], IT_FISCAL_CODE: ['tax_id', 'national_id'],
  // tax identifiers (personal and business / VAT)
  AU_ABN: ['tax_id'], AU_TFN: ['tax_id'], DE_TAX_ID: ['tax_id'], DE_TAX_NUMBER: ['tax_id'], DE_VAT_ID: ['tax_id'],
  IN_GSTIN: ['tax_id'], IN_PAN: ['tax_id'], IT_VAT_CODE: ['tax_id'], KR_BRN: ['tax_id'], PH_TIN: ['tax_id'],
  US_ITIN: ['tax_id'],
  US_BANK_NUMBER: ['bank_account'], ABA_ROUTING_NUMBER: ['bank_account'],
};
const APPROX = new Set(['DATE_TIME']);

// The config, or (while config/rules/pii.yaml does not exist) a copy of it in a temporary
// directory without the pii filter and route, its rules_file paths made absolute.
const cfgDir = dirname(config);
const cfgText = readFileSync(config, 'utf8');
let scanConfig = config, tmpDir = null, piiOn = true;
{
  const piiFile = cfgText.match(/name:\s*pii\s*\n\s*rules_file:\s*(\S+)/);
  if (piiFile && !existsSync(resolve(cfgDir, piiFile[1]))) {
    piiOn = false;
    const lines = cfgText.split('\n');
    const out = [];
    for (let i = 0; i < lines.length; i++) {
      // drop the `- type: patterns` item named pii (up to the next item or top-level key)
      if (/^\s*- type:/.test(lines[i]) && /^\s*name:\s*pii\s*$/.test(lines[i + 1] || '')) {
        i++;
        while (i + 1 < lines.length && !/^\s*- /.test(lines[i + 1]) && /^\s/.test(lines[i + 1])) i++;
        continue;
      }
      if (/prefix:\s*\/pii\//.test(lines[i])) continue;
      out.push(lines[i].replace(/(rules_file:\s*)(\S+)/, (_, k, p) => k + resolve(cfgDir, p)));
    }
    tmpDir = mkdtempSync(join(tmpdir(), 'pc-eval-sensitive-'));
    scanConfig = join(tmpDir, 'sensitive.yaml');
    writeFileSync(scanConfig, out.join('\n'));
  }
}

function load(file) {
  const path = join(dataDir, `${file}.jsonl`);
  if (!existsSync(path)) return null;
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// One scan process per route (the secrets files share one, the PII file has its own; the two run
// side by side): a line in, a verdict line out.
async function scanAll(route, texts) {
  const child = spawn(bin, ['scan', '-c', scanConfig, '--route', route], { stdio: ['pipe', 'pipe', 'inherit'] });
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
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`portcullis scan --route ${route} exited with ${code}`))));
  });
  done.catch(() => {}); // awaited below; a scan that dies early must not stall or crash the writes
  let closed = false;
  child.on('close', () => (closed = true));
  for (const text of texts) {
    if (closed) break;
    const line = JSON.stringify({ role: 'user', text }) + '\n';
    if (!child.stdin.write(line))
      await new Promise((res) => { child.stdin.once('drain', res); child.once('close', res); });
  }
  child.stdin.end();
  await done;
  if (out.length !== texts.length) throw new Error(`scan returned ${out.length} verdicts for ${texts.length} records`);
  return out.map((l) => JSON.parse(l));
}

// Our events carry byte offsets into the UTF-8 text; expected spans are in UTF-16 units
// (JavaScript) or code points (Python). Returns [start, end) pairs in `units`.
function spansIn(text, events, units) {
  if (!events.length) return [];
  const map = [];
  let b = 0, u = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    for (let k = 0; k < n; k++) map[b + k] = u;
    b += n;
    u += units === 'cp' ? 1 : ch.length;
  }
  map[b] = u;
  return events.map((e) => [map[e.offset] ?? u, map[Math.min(e.offset + e.length, b)] ?? u]);
}
function covers(ours, s, e) {
  const iv = [...ours].sort((x, y) => x[0] - y[0]);
  let at = s;
  for (const [a, z] of iv) {
    if (a > at) break;
    if (z > at) at = z;
    if (at >= e) return true;
  }
  return at >= e;
}
const overlaps = (ours, s, e) => ours.some(([a, z]) => a < e && z > s);

const pct = (a, n) => (n ? ((100 * a) / n).toFixed(1) + '%' : '-');
const col = (s, w) => String(s).padStart(w);
const t0 = Date.now();

// ---- secrets -------------------------------------------------------------------------------------
const secretSets = SECRET_FILES.map((f) => ({ ...f, recs: load(f.file) })).filter((f) => f.recs);
const piiRecs = piiOn ? load(PII_FILE.file) : null;
let secretVerdicts, piiVerdicts;
try {
  [secretVerdicts, piiVerdicts] = await Promise.all([
    secretSets.length ? scanAll('/secrets/', secretSets.flatMap((f) => f.recs.map((r) => r.text))) : [],
    piiRecs ? scanAll('/pii/', piiRecs.map((r) => r.text)) : null,
  ]);
} catch (e) {
  console.error(`eval-sensitive: ${e.message}`);
  process.exit(1);
} finally {
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}
const secs = (Date.now() - t0) / 1000;

const summary = { data: dataDir, secrets: [], pii: null };
console.log(`portcullis eval (secrets, PII): ${dataDir}, ${secretVerdicts.length + (piiVerdicts?.length || 0)} records scanned in ${secs.toFixed(1)} s`);
console.log(`goal (issue): recall >= ${GOAL_RECALL} % on credentials, false positives <= ${GOAL_FP} % on clean negatives (reported, not enforced)`);
console.log('recall = secret rows our secrets filter fired on; span = covered/overlapped/rows, over the rows that give');
console.log('their expected finding: our redactions cover it whole / overlap it; FP = clean no_secret rows it fired on');
console.log('(clean: no gitleaks rule fires on them); ambiguous = no_secret rows another gitleaks rule flags (fired on /');
console.log('rows); precision = TP / (TP + FP on clean rows); miss:ph = misses whose text is placeholder-like (a run of');
console.log('6+ identical characters, "example", "dummy", "your_api_key"...: kept out on purpose) / misses\n');

// A placeholder-like text: a run of 6+ identical letters or digits (AKCxxxxxxxxxx, AKIAZZZZZZ...)
// or a placeholder word. The pack keeps these out on purpose (entropy floors, allow lists); the
// "miss:ph" column counts how many of a type's misses are such texts (aggregate only).
const placeholderLike = (t) => /([A-Za-z0-9])\1{5,}/.test(t) || /example|dummy|sample|placeholder|your[_-]?(api[_-]?)?(key|token|secret)/i.test(t);
function secretStats(rs) {
  const pos = rs.filter((r) => r.label === 'secret'), neg = rs.filter((r) => r.label === 'no_secret');
  const clean = neg.filter((r) => !r.ambiguous), amb = neg.filter((r) => r.ambiguous);
  const spanRows = pos.filter((r) => r.span !== null);
  const tp = pos.filter((r) => r.fired).length, fp = clean.filter((r) => r.fired).length;
  return {
    pos: pos.length, tp, span_rows: spanRows.length, span_hit: spanRows.filter((r) => r.span).length,
    span_overlap: spanRows.filter((r) => r.span_overlap).length,
    neg: clean.length, fp, amb: amb.length, amb_fired: amb.filter((r) => r.fired).length,
    recall: pos.length ? tp / pos.length : null, fp_rate: clean.length ? fp / clean.length : null,
    precision: tp + fp ? tp / (tp + fp) : null,
    miss: pos.length - tp, miss_ph: pos.filter((r) => !r.fired && placeholderLike(r.text)).length,
  };
}
const secretHead = `${'type'.padEnd(36)} ${col('pos', 5)} ${col('recall', 7)} ${col('span', 11)} ${col('neg', 5)} ${col('FP', 4)} ${col('FP%', 6)} ${col('prec', 7)} ${col('ambig', 7)} ${col('miss:ph', 8)}`;
const secretRow = (name, x) =>
  `${name.slice(0, 36).padEnd(36)} ${col(x.pos, 5)} ${col(pct(x.tp, x.pos), 7)} ${col(x.span_rows ? `${x.span_hit}/${x.span_overlap}/${x.span_rows}` : '-', 11)} ` +
  `${col(x.neg, 5)} ${col(x.fp, 4)} ${col(pct(x.fp, x.neg), 6)} ${col(pct(x.tp, x.tp + x.fp), 7)} ${col(x.amb ? `${x.amb_fired}/${x.amb}` : '-', 7)} ${col(x.miss ? `${x.miss_ph}/${x.miss}` : '-', 8)}`;

let vi = 0;
for (const set of secretSets) {
  for (const r of set.recs) {
    const v = secretVerdicts[vi++];
    if (v.error) throw new Error(`scan: ${v.error}`);
    const ev = (v.rules || []).filter((e) => e.filter === 'secrets');
    r.fired = ev.length > 0;
    r.ours = [...new Set(ev.map((e) => e.rule_id))];
    r.ambiguous = r.label === 'no_secret' && (r.gitleaks_rules_firing || []).length > 0;
    r.type = set.type(r) || '(none)';
    // expected finding(s): spans (all must be covered) or the expected secret's first occurrence
    let want = null;
    if (r.label === 'secret' && Array.isArray(r.spans) && r.spans.length)
      want = r.spans.filter((s) => Number.isFinite(s.start) && Number.isFinite(s.end)).map((s) => [s.start, s.end]);
    else if (r.label === 'secret' && typeof r.expected_secret === 'string' && r.text.includes(r.expected_secret)) {
      const s = r.text.indexOf(r.expected_secret);
      want = [[s, s + r.expected_secret.length]];
    }
    if (want && want.length) {
      const ours = spansIn(r.text, ev, 'utf16');
      r.span = want.every(([s, e]) => covers(ours, s, e));
      r.span_overlap = want.some(([s, e]) => overlaps(ours, s, e));
    } else r.span = r.span_overlap = null;
  }
  const byType = new Map();
  for (const r of set.recs) (byType.get(r.type) || byType.set(r.type, []).get(r.type)).push(r);
  const total = secretStats(set.recs);
  const status = set.dev ? 'DEV set (tuning data: records may be inspected, --misses)' : 'HELD-OUT test set (aggregate numbers only)';
  console.log(`== ${set.file}.jsonl: ${status}; ${set.recs.length} records, ${byType.size} types ==`);
  console.log(secretHead);
  const rows = [...byType.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([t, rs]) => [t, secretStats(rs)]);
  const perfect = (x) => x.tp === x.pos && x.fp === 0 && x.amb_fired === 0 && x.span_hit === x.span_rows;
  const shown = allTypes || rows.length <= 60 ? rows : rows.filter(([, x]) => !perfect(x));
  for (const [t, x] of shown) console.log(secretRow(t, x));
  if (shown.length < rows.length)
    console.log(`(${rows.length - shown.length} more types with every positive found and no false positive: --all-types)`);
  console.log(secretRow('TOTAL', total));
  let extra = null;
  if (set.recs.some((r) => r.has_rule_options)) {
    // secretlint cases that ship a .secretlintrc: their label depends on options we do not have
    extra = secretStats(set.recs.filter((r) => !r.has_rule_options));
    console.log(secretRow('TOTAL without rule-option cases', extra));
  }
  const met = (x) =>
    `recall ${pct(x.tp, x.pos)} ${x.recall !== null && x.recall * 100 >= GOAL_RECALL ? '>=' : '<'} ${GOAL_RECALL} %: ${x.recall !== null && x.recall * 100 >= GOAL_RECALL ? 'met' : 'NOT met'}; ` +
    `FP ${pct(x.fp, x.neg)} ${x.fp_rate !== null && x.fp_rate * 100 <= GOAL_FP ? '<=' : '>'} ${GOAL_FP} %: ${x.fp_rate === null || x.fp_rate * 100 <= GOAL_FP ? 'met' : 'NOT met'}`;
  console.log(`goal: ${met(total)}${extra ? ` (without rule-option cases: ${met(extra)})` : ''}\n`);
  summary.secrets.push({ file: set.file, dev: set.dev, total, without_rule_options: extra, types: Object.fromEntries(rows) });

  if (set.dev && misses > 0) {
    const show = (r) => `[${r.type}${r.synthetic ? ', synthetic' : ''}]${r.ours.length ? ' ours: ' + r.ours.join(',') : ''} :: ${r.text.replace(/\s+/g, ' ').slice(0, 300)}`;
    const missed = set.recs.filter((r) => r.label === 'secret' && !r.fired);
    const fps = set.recs.filter((r) => r.label === 'no_secret' && !r.ambiguous && r.fired);
    const nospan = set.recs.filter((r) => r.label === 'secret' && r.fired && r.span === false);
    console.log(`-- ${set.file}: up to ${misses} of ${missed.length} misses --`);
    for (const r of missed.slice(0, misses)) console.log(show(r));
    console.log(`-- ${set.file}: up to ${misses} of ${fps.length} false positives (clean negatives) --`);
    for (const r of fps.slice(0, misses)) console.log(show(r));
    if (nospan.length) {
      console.log(`-- ${set.file}: up to ${misses} of ${nospan.length} detected but not fully covered --`);
      for (const r of nospan.slice(0, misses)) console.log(show(r));
    }
    console.log('');
  }
}

// ---- PII -----------------------------------------------------------------------------------------
if (!piiOn) {
  console.log(`== ${PII_FILE.file}.jsonl: skipped, there is no PII pack yet (${resolve(cfgDir, cfgText.match(/name:\s*pii\s*\n\s*rules_file:\s*(\S+)/)[1])}) ==\n`);
} else if (!piiRecs) {
  console.log(`== ${PII_FILE.file}.jsonl: skipped, not in ${dataDir} ==\n`);
} else {
  piiRecs.forEach((r, i) => {
    const v = piiVerdicts[i];
    if (v.error) throw new Error(`scan: ${v.error}`);
    r.ev = (v.rules || []).filter((e) => e.filter === 'pii' || String(e.category || '').startsWith('pii:'));
    r.types = new Set(r.ev.map((e) => String(e.category || '').replace(/^pii:/, '')));
  });
  const byEntity = new Map();
  for (const r of piiRecs)
    for (const ent of r.entities?.length ? r.entities : ['(none)']) (byEntity.get(ent) || byEntity.set(ent, []).get(ent)).push(r);
  // rs: rows; want: the types of ours that count as finding them
  const stats = (want, rs) => {
    const hit = (r) => want.some((t) => r.types.has(t));
    const pos = rs.filter((r) => r.label === 'pii'), neg = rs.filter((r) => r.label === 'no_pii');
    const spanRows = pos.filter((r) => Array.isArray(r.spans) && r.spans.length);
    const oursOf = (r) => spansIn(r.text, r.ev.filter((e) => want.includes(String(e.category).replace(/^pii:/, ''))), PII_FILE.units);
    const spanHit = spanRows.filter((r) => { const o = oursOf(r); return r.spans.every((s) => covers(o, s.start, s.end)); }).length;
    const spanOverlap = spanRows.filter((r) => { const o = oursOf(r); return r.spans.some((s) => overlaps(o, s.start, s.end)); }).length;
    const tp = pos.filter(hit).length, fp = neg.filter(hit).length;
    return { pos: pos.length, tp, span_rows: spanRows.length, span_hit: spanHit, span_overlap: spanOverlap, neg: neg.length, fp,
      any_pos: pos.filter((r) => r.types.size).length, any_neg: neg.filter((r) => r.types.size).length };
  };
  const head = `${'entity'.padEnd(28)} ${'ours'.padEnd(20)} ${col('pos', 5)} ${col('recall', 7)} ${col('span', 11)} ${col('neg', 5)} ${col('FP', 4)} ${col('FP%', 6)} ${col('prec', 7)} ${col('any+', 6)} ${col('any-', 6)}`;
  const row = (name, ours, x) =>
    `${name.slice(0, 28).padEnd(28)} ${ours.slice(0, 20).padEnd(20)} ${col(x.pos, 5)} ${col(pct(x.tp, x.pos), 7)} ${col(x.span_rows ? `${x.span_hit}/${x.span_overlap}/${x.span_rows}` : '-', 11)} ` +
    `${col(x.neg, 5)} ${col(x.fp, 4)} ${col(pct(x.fp, x.neg), 6)} ${col(pct(x.tp, x.tp + x.fp), 7)} ${col(pct(x.any_pos, x.pos), 6)} ${col(pct(x.any_neg, x.neg), 6)}`;
  const covered = [...byEntity.keys()].filter((e) => ENTITY_MAP[e]).sort();
  const notCovered = [...byEntity.keys()].filter((e) => !ENTITY_MAP[e]).sort();
  console.log(`== ${PII_FILE.file}.jsonl: HELD-OUT test set (aggregate numbers only); ${piiRecs.length} records, ${byEntity.size} entity types ==`);
  console.log('recall = pii rows on which a mapped type of ours fired; span = covered/overlapped/rows: rows with expected');
  console.log('spans that the mapped types\' redactions cover whole / overlap; FP = no_pii rows');
  console.log('on which a mapped type fired; any+ / any- = any PII rule fired on pii / no_pii rows (for reference)');
  console.log(head);
  const sum = (xs) => xs.reduce((a, x) => { for (const k of Object.keys(x)) a[k] = (a[k] || 0) + x[k]; return a; }, {});
  const perEntity = {};
  for (const ent of covered) {
    const x = stats(ENTITY_MAP[ent], byEntity.get(ent));
    perEntity[ent] = x;
    console.log(row(ent + (APPROX.has(ent) ? ' (~)' : ''), ENTITY_MAP[ent].join('|'), x));
  }
  // Per type of ours: the rows of every entity mapped to it (a row counts once per entity).
  const byOurs = {};
  for (const ent of covered) for (const t of ENTITY_MAP[ent]) (byOurs[t] ||= []).push(perEntity[ent]);
  console.log('-- per type of ours --');
  for (const [t, xs] of Object.entries(byOurs).sort()) console.log(row(`pii:${t}`, '', sum(xs)));
  // every row once (a row may name two entities): the types of all its covered entities count
  const coveredRows = piiRecs.filter((r) => (r.entities || []).some((e) => ENTITY_MAP[e]));
  const total = { pos: 0, tp: 0, span_rows: 0, span_hit: 0, span_overlap: 0, neg: 0, fp: 0, any_pos: 0, any_neg: 0 };
  for (const r of coveredRows) {
    const x = stats([...new Set(r.entities.flatMap((e) => ENTITY_MAP[e] || []))], [r]);
    for (const k of Object.keys(total)) total[k] += x[k];
  }
  console.log(row('TOTAL (covered types)', '', total));
  console.log(`(~) approximate mapping: Presidio's DATE_TIME is any date, ours is a date of birth\n`);
  const nc = notCovered.map((e) => {
    const rs = byEntity.get(e);
    const pos = rs.filter((r) => r.label === 'pii'), neg = rs.filter((r) => r.label === 'no_pii');
    return { entity: e, pos: pos.length, neg: neg.length, any_pos: pos.filter((r) => r.types.size).length, any_neg: neg.filter((r) => r.types.size).length };
  });
  console.log(`not covered (no type of ours; ${nc.reduce((a, x) => a + x.pos, 0)} pii / ${nc.reduce((a, x) => a + x.neg, 0)} no_pii rows): entity pii/no_pii [any PII rule fired]`);
  console.log(nc.map((x) => `${x.entity} ${x.pos}/${x.neg}${x.any_pos + x.any_neg ? ` [${x.any_pos}/${x.any_neg}]` : ''}`).join(', '));
  const types = new Set(piiRecs.flatMap((r) => [...r.types]));
  const known = new Set(Object.values(ENTITY_MAP).flat());
  const unknown = [...types].filter((t) => !known.has(t));
  if (unknown.length) console.log(`types of ours that no entity maps to (fired here): ${unknown.sort().join(', ')}`);
  console.log('');
  summary.pii = { entities: Object.fromEntries(covered.map((e) => [e, { ours: ENTITY_MAP[e], ...perEntity[e] }])), total, not_covered: nc };
}

if (jsonOut) writeFileSync(jsonOut, JSON.stringify(summary, null, 2));

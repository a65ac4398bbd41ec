// DuckDB doing the transform's work on a default 30-column Adyen settlement details report, as the
// yardstick of scripts/bench.sh: the fastest single-node tool a user might pick instead.
//
// It reads the CSV by header name with every column typed (exact DECIMAL(18,3) amounts, DECIMAL(38,18)
// exchange rate, BIGINT batch, TIMESTAMP creation date; a value that does not parse fails the query),
// validates what settle validates per row (an ISO 4217 currency with a minor unit, no more fraction
// digits than it allows, a known time-zone abbreviation), converts the creation time to UTC, derives the
// signed net amount and the total fees, and writes zstd Parquet partitioned by settlement date. A bad
// row fails the whole file, as settle's default policy (no rejected rows) does.
//
// It does not do settle's file rules (one batch and merchant per file, the balance check), the upload
// and its MD5, the rejects, the manifest or the commit: the comparison favours DuckDB.
//
// usage: NODE_PATH=<dir>/node_modules node scripts/duckdb-bench.js <threads> <in.csv> <out-dir> \
//          <settlement-date YYYY-MM-DD> <iso4217.txt> <zones.txt>
// iso4217.txt is internal/money's table ("CODE UNITS" lines); zones.txt is `settle zones` ("ABBR=+HH:MM").
const { DuckDBInstance } = require('@duckdb/node-api');
const fs = require('fs');

const [threads, input, out, day, isoFile, zonesFile] = process.argv.slice(2);
if (!zonesFile) {
  console.error('usage: duckdb-bench.js <threads> <in.csv> <out-dir> <settlement-date> <iso4217.txt> <zones.txt>');
  process.exit(2);
}
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;
const q = (c) => `"${c}"`;

// ISO 4217 codes with a minor unit (at most 3 digits: decimal(18,3)), and zone offsets in minutes: enum
// types, so that a lookup is a cast (which fails on a value not in the list) and an array index.
const currencies = fs.readFileSync(isoFile, 'utf8').split('\n')
  .filter((l) => l && !l.startsWith('#')).map((l) => l.split(' '))
  .filter(([, units]) => units !== 'N.A.').map(([code, units]) => [code, Math.min(Number(units), 3)]);
const zones = fs.readFileSync(zonesFile, 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => {
  const [abbr, off] = l.trim().split('=');
  const sign = off.startsWith('-') ? -1 : 1;
  const [h, m] = off.slice(1).split(':').map(Number);
  return [abbr, sign * (h * 60 + m)];
});
const enumOf = (pairs) => `ENUM (${pairs.map(([k]) => lit(k)).join(', ')})`;
const listOf = (pairs) => `[${pairs.map(([, v]) => v).join(', ')}]`;
// step(c): the smallest step, in thousandths, of an amount in currency column c: 10^(3 - minor units)
// (null when the currency is empty; the cast fails when it is not ISO 4217).
const step = (c) => `${listOf(currencies.map(([k, u]) => [k, 10 ** (3 - u)]))}[enum_code(CAST(${q(c)} AS iso4217)) + 1]`;

const amount = 'DECIMAL(18,3)';
const types = {
  'Company Account': 'VARCHAR', 'Merchant Account': 'VARCHAR', 'Psp Reference': 'VARCHAR',
  'Merchant Reference': 'VARCHAR', 'Payment Method': 'VARCHAR', 'Creation Date': 'TIMESTAMP',
  'TimeZone': 'VARCHAR', 'Type': 'VARCHAR', 'Modification Reference': 'VARCHAR',
  'Gross Currency': 'VARCHAR', 'Gross Debit (GC)': amount, 'Gross Credit (GC)': amount,
  'Exchange Rate': 'DECIMAL(38,18)', 'Net Currency': 'VARCHAR', 'Net Debit (NC)': amount,
  'Net Credit (NC)': amount, 'Commission (NC)': amount, 'Markup (NC)': amount, 'Scheme Fees (NC)': amount,
  'Interchange (NC)': amount, 'Payment Method Variant': 'VARCHAR',
  'Modification Merchant Reference': 'VARCHAR', 'Batch Number': 'BIGINT',
};
for (let i = 4; i <= 10; i++) types[`Reserved${i}`] = 'VARCHAR';
const columns = '{' + Object.entries(types).map(([k, v]) => `${lit(k)}: ${lit(v)}`).join(', ') + '}';

// An amount with more fraction digits than its currency allows: its thousandths are not a multiple of
// the currency's step.
const tooPrecise = (col, step) => `(r.${q(col)} IS NOT NULL AND CAST(r.${q(col)} * 1000 AS BIGINT) % r.${step} <> 0)`;
const netAmounts = ['Net Debit (NC)', 'Net Credit (NC)', 'Commission (NC)', 'Markup (NC)', 'Scheme Fees (NC)', 'Interchange (NC)'];

const sql = `
COPY (
  SELECT
    'adyen' AS provider, r."Company Account" AS company_account, r."Merchant Account" AS merchant_account,
    r."Batch Number" AS batch_number, r."Psp Reference" AS psp_reference, r."Merchant Reference" AS merchant_reference,
    r."Payment Method" AS payment_method, r."Payment Method Variant" AS payment_method_variant, r."Type" AS record_type,
    r."Modification Reference" AS modification_reference,
    r."Modification Merchant Reference" AS modification_merchant_reference,
    CAST(r."Creation Date" - to_minutes(r.zone_minutes) AS TIMESTAMPTZ) AS creation_time, r."TimeZone" AS creation_time_zone,
    r."Gross Currency" AS gross_currency, r."Gross Debit (GC)" AS gross_debit, r."Gross Credit (GC)" AS gross_credit,
    r."Exchange Rate" AS exchange_rate, r."Net Currency" AS net_currency,
    r."Net Debit (NC)" AS net_debit, r."Net Credit (NC)" AS net_credit, r."Commission (NC)" AS commission,
    r."Markup (NC)" AS markup, r."Scheme Fees (NC)" AS scheme_fees, r."Interchange (NC)" AS interchange,
    coalesce(r."Net Credit (NC)", 0) - coalesce(r."Net Debit (NC)", 0) AS net_amount,
    ${['Commission (NC)', 'Markup (NC)', 'Scheme Fees (NC)', 'Interchange (NC)'].map((c) => `coalesce(r.${q(c)}, 0)`).join(' + ')} AS total_fees,
    ${lit(input)} AS source_key,
    DATE ${lit(day)} AS settlement_date
  FROM (
    SELECT *, ${listOf(zones)}[enum_code(CAST("TimeZone" AS zone)) + 1] AS zone_minutes,
      ${step('Gross Currency')} AS gross_step, ${step('Net Currency')} AS net_step
    FROM read_csv(${lit(input)}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
                  columns = ${columns}, timestampformat = '%Y-%m-%d %H:%M:%S')
  ) r
  WHERE CASE
    WHEN ${tooPrecise('Gross Debit (GC)', 'gross_step')} OR ${tooPrecise('Gross Credit (GC)', 'gross_step')}
      THEN error('gross amount with more decimals than ' || r."Gross Currency" || ' has')
    WHEN ${netAmounts.map((c) => tooPrecise(c, 'net_step')).join(' OR ')}
      THEN error('net amount with more decimals than ' || r."Net Currency" || ' has')
    ELSE true END
) TO ${lit(out)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (settlement_date), OVERWRITE_OR_IGNORE)`;

(async () => {
  const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const c = await db.connect();
  await c.run(`SET TimeZone = 'UTC'`);
  await c.run(`CREATE TYPE iso4217 AS ${enumOf(currencies)}; CREATE TYPE zone AS ${enumOf(zones)}`);
  const t0 = process.hrtime.bigint();
  const r = await c.run(sql);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`duckdb threads=${threads} rows=${r.rowsChanged} query_ms=${ms.toFixed(0)}`);
})().catch((e) => { console.error(`duckdb-bench: ${e.message || e}`); process.exit(1); });

// Independent reader: DuckDB reads the processed folder's settlement_lines (Hive partitions) and prints,
// as one JSON object, the column types it sees, per-currency sums, so that a test can compare them with
// the manifests the pipeline computed from the CSV, and every column's count, sum and extremes, which
// the test compares with what the pipeline's own reader gets from the same files.
// usage: NODE_PATH=<dir>/node_modules node scripts/duckdb-check.js <processed-dir>
const { DuckDBInstance } = require('@duckdb/node-api');
const path = require('path');
const dir = process.argv[2];
if (!dir) { console.error('usage: duckdb-check.js <processed-dir>'); process.exit(2); }
const glob = path.join(dir, 'settlement_lines', '*', '*.parquet');
const src = `read_parquet('${glob.replace(/'/g, "''")}', hive_partitioning = true)`;
(async () => {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  const rows = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson();
  const types = {};
  for (const r of await rows(`DESCRIBE SELECT * FROM ${src}`)) types[r.column_name] = r.column_type;
  const sum = (col) => `CAST(coalesce(sum(${col}), 0) AS VARCHAR) AS ${col}`;
  const net = await rows(`SELECT net_currency AS currency, count(*) AS net_rows, ${sum('net_debit')}, ${sum('net_credit')},
      ${sum('commission')}, ${sum('markup')}, ${sum('scheme_fees')}, ${sum('interchange')}, ${sum('net_amount')}, ${sum('total_fees')}
    FROM ${src} WHERE net_currency IS NOT NULL GROUP BY 1 ORDER BY 1`);
  const gross = await rows(`SELECT gross_currency AS currency, count(*) AS gross_rows, ${sum('gross_debit')}, ${sum('gross_credit')}
    FROM ${src} WHERE gross_currency IS NOT NULL GROUP BY 1 ORDER BY 1`);
  const partitions = await rows(`SELECT CAST(settlement_date AS VARCHAR) AS settlement_date, count(*) AS rows FROM ${src} GROUP BY 1 ORDER BY 1`);
  // Every column's values, summed up exactly: count, sum (of byte lengths for strings, of microseconds
  // since the epoch for timestamps) and the extremes, as text.
  const agg = [];
  for (const [name, type] of Object.entries(types)) {
    if (name === 'settlement_date') continue;
    const q = `"${name}"`;
    const v = type === 'VARCHAR' ? null : type.startsWith('TIMESTAMP') ? `epoch_us(${q})` : q;
    const text = (e) => `CAST(${e} AS VARCHAR)`;
    agg.push(`${text(`count(${q})`)} AS "${name}.count"`,
      v === null ? `${text(`sum(strlen(${q}))`)} AS "${name}.sum"` : `${text(`sum(${v})`)} AS "${name}.sum"`,
      `${text(`min(${v ?? q})`)} AS "${name}.min"`, `${text(`max(${v ?? q})`)} AS "${name}.max"`);
  }
  const [all] = await rows(`SELECT ${agg.join(', ')} FROM ${src}`);
  const columns = {};
  for (const [key, value] of Object.entries(all)) {
    const [name, what] = key.split('.');
    (columns[name] ??= {})[what] = value;
  }
  console.log(JSON.stringify({ types, net, gross, partitions, columns }));
})().catch((e) => { console.error(e.message || e); process.exit(1); });

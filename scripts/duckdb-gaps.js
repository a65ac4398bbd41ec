// Independent reader of the manifests: DuckDB reads the processed folder's _manifests/ (one JSON line
// each) as the settlement_batches table that template.yaml declares for Athena, runs the gap query given
// on the command line (ledger.GapQuery, Athena's dialect; from_iso8601_timestamp is defined here) and
// prints its rows as JSON, the missing_after column as milliseconds since the epoch.
// usage: NODE_PATH=<dir>/node_modules node scripts/duckdb-gaps.js <processed-dir> <database> <sql>
const { DuckDBInstance } = require('@duckdb/node-api');
const path = require('path');
const [dir, database, sql] = process.argv.slice(2);
if (!dir || !database || !sql) { console.error('usage: duckdb-gaps.js <processed-dir> <database> <sql>'); process.exit(2); }
const glob = path.join(dir, '_manifests', '**', '*.json').replace(/'/g, "''");
const ident = (s) => '"' + s.replace(/"/g, '""') + '"';
(async () => {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  await c.run('CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)');
  await c.run(`CREATE SCHEMA ${ident(database)}`);
  await c.run(`CREATE VIEW ${ident(database)}.settlement_batches AS SELECT * FROM read_json('${glob}', format = 'newline_delimited',
    columns = {provider: 'VARCHAR', merchant_account: 'VARCHAR', batch_number: 'BIGINT', arrived: 'VARCHAR'})`);
  const rows = (await c.runAndReadAll(`SELECT provider, merchant_account, first_missing, last_missing, batches,
      epoch_ms(missing_after) AS missing_after_ms, missing FROM (${sql}) ORDER BY 1, 2, 3`)).getRowObjectsJson();
  console.log(JSON.stringify(rows));
})().catch((e) => { console.error(e.message || e); process.exit(1); });

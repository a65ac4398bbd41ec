// Reads the Iceberg table settlement_lines with icebird (an Iceberg reader written by others) and prints,
// for each metadata file named, the rows it reads and per net currency the row count and the exact sum
// of net_amount in thousandths: the Go test compares them with the manifests'.
//
// usage: node icebird-check.mjs NODE_MODULES TABLE_URL FILE_PREFIX METADATA_FILE...
// The table's metadata names its files by file:// URLs (a folder's table); FILE_PREFIX (the table's
// file URL) is mapped to TABLE_URL, the loopback server the test serves the folder from, since Node's
// fetch cannot read file: URLs.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [modules, tableUrl, filePrefix, ...metadataFiles] = process.argv.slice(2)
// The reader alone: icebird's writer half needs the older hyparquet it pins, and its reader needs a newer
// one (1.33: DELTA_BYTE_ARRAY in v1 data pages, which the pipeline's Parquet uses).
const { icebergRead } = await import(pathToFileURL(join(modules, 'icebird', 'src', 'read.js')).href)
const { icebergMetadata } = await import(pathToFileURL(join(modules, 'icebird', 'src', 'metadata.js')).href)

const fetchURL = globalThis.fetch
globalThis.fetch = (url, init) => {
  let u = String(url)
  if (u.startsWith(filePrefix)) u = tableUrl + u.slice(filePrefix.length)
  return fetchURL(u, init)
}

// thousandths recovers a decimal(18,3) read as a JavaScript number: the reader multiplies the stored
// integer by 0.001, and every amount below 2^53 thousandths rounds back to that integer exactly.
const thousandths = v => BigInt(Math.round(Number(v) * 1000))

const out = {}
for (const metadataFileName of metadataFiles) {
  // settlement_date is the identity partition's column: the data files (shared with the Hive layout) do
  // not hold it, and the Iceberg spec has readers take it from each file's partition. icebird 0.3.1 reads
  // every schema column from the file instead, so it is given the schema without that one column.
  const metadata = await icebergMetadata({ tableUrl, metadataFileName })
  const schema = metadata.schemas.find(s => s['schema-id'] === metadata['current-schema-id'])
  schema.fields = schema.fields.filter(f => f.name !== 'settlement_date')
  const rows = await icebergRead({ tableUrl, metadata })
  const net = {}
  for (const r of rows) {
    if (r.net_currency == null) continue
    const c = (net[r.net_currency] ??= { rows: 0, net_amount: 0n })
    c.rows++
    if (r.net_amount != null) c.net_amount += thousandths(r.net_amount)
  }
  for (const c of Object.values(net)) c.net_amount = c.net_amount.toString()
  out[metadataFileName] = { rows: rows.length, net }
}
console.log(JSON.stringify(out))

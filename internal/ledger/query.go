package ledger

import (
	"fmt"
	"strings"
)

// Table is the Glue table of committed batches: one row per manifest (_manifests/, JSON), for finance
// analysts who list missing batches in Athena without the CLI.
const Table = "settlement_batches"

// GapQuery is the SQL (Athena's dialect, which DuckDB also runs with from_iso8601_timestamp defined) that
// lists the gaps of every merchant account's batch sequence from table, with the rule Analyze applies: the
// numbers between two committed batches that are not committed, counting as missing graceHours after the
// earliest arrival of a later batch, at now (current_timestamp in the deployed query). It does not know the
// acknowledgements, which live next to the ledger; `settle aws batches` shows those.
func GapQuery(table, graceHours, now string) string {
	q := `-- Gaps in each merchant account's batch sequence (settle's ledger rule): the batch numbers between two
-- committed batches that are not committed; a gap counts as missing GRACE hours after the earliest
-- arrival of a later batch.
WITH batches AS (
  SELECT provider, merchant_account, batch_number, from_iso8601_timestamp(arrived) AS arrived
  FROM TABLE
), neighbours AS (
  SELECT provider, merchant_account, batch_number,
    lead(batch_number) OVER (PARTITION BY provider, merchant_account ORDER BY batch_number) AS next_batch,
    min(arrived) OVER (PARTITION BY provider, merchant_account ORDER BY batch_number
      ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS later_arrival
  FROM batches
)
SELECT provider, merchant_account, batch_number + 1 AS first_missing, next_batch - 1 AS last_missing,
  next_batch - batch_number - 1 AS batches,
  later_arrival + INTERVAL 'GRACE' HOUR AS missing_after,
  later_arrival + INTERVAL 'GRACE' HOUR <= NOW AS missing
FROM neighbours
WHERE next_batch > batch_number + 1
ORDER BY provider, merchant_account, first_missing
`
	return strings.NewReplacer("TABLE", table, "GRACE", graceHours, "NOW", now).Replace(q)
}

// QualifiedTable is the table's name in a Glue database, quoted as Athena wants it.
func QualifiedTable(database string) string {
	return fmt.Sprintf("%q.%q", database, Table)
}

// Package settlement is the domain: provider settlement reports read as exact, validated rows. It knows
// nothing of AWS, of the state machine or of Parquet.
//
//   - Reading: a streaming RFC 4180 scanner (BOM, CRLF, quoted fields, bounded record size), the Adyen
//     settlement details layout found by header name (columns reordered, optional and unknown ones kept),
//     rows decoded with exact amounts (package money), time-zone abbreviations resolved by an explicit
//     table, and a parallel reader that cuts the file into blocks at record ends for all cores.
//   - Judging: every row rule (a row error names the line, the raw text and every reason), then the file
//     rules: one merchant account and one batch per file, the batch balancing per currency, the policy
//     (how many rejected rows are allowed). ValidateReport writes the rejected rows as JSON Lines and
//     returns the validation report with counts that account for every line.
//   - Deriving: the batch's settlement date, net amounts and total fees, deterministic record ids.
//
// The transform step reads the same file again with the same reader (a Job), so it rejects exactly the
// rows validation rejected.
package settlement

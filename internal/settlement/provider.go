package settlement

// ProviderAdyen is the provider name of the Adyen settlement details report: the first part of every
// batch's natural key (provider, merchant account, batch number) and the rows' provider column.
const ProviderAdyen = "adyen"

// Job is the work order for turning a report that validation accepted into settlement_lines rows: how
// to read it, where it came from, and how the rows are grouped in the Parquet file. The transform step
// builds it; the table builder and the Parquet writer take it as it is. The provider is not part of it:
// it is the report's own, from its layout.
type Job struct {
	ParallelOptions
	Key, ETag    string // the source object, for the rows' provenance columns
	RowGroupRows int64  // rows per Parquet row group; the writer's default when 0
	// Metadata is written in the Parquet footer's key-value metadata: what the file carries about its
	// report beyond its rows (the transform step puts its batch's manifest there, see workflow.FooterKey).
	Metadata map[string]string
}

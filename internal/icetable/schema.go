// Package icetable keeps settlement_lines as an Apache Iceberg (format v2) table beside the Hive-style
// partitions: the Parquet files the transform step writes are its data files, added by reference under
// content-derived keys and never rewritten; each batch version is committed in one snapshot through a
// compare-and-swap of the table's metadata version, so a reader of the table sees a batch before or after
// a replace, never between, and every snapshot kept stays readable (time travel).
//
// The table lives in the pipeline's store (a folder locally, the processed bucket on AWS) under
// TablePrefix, laid out as Iceberg's file-system tables are: metadata/vN.metadata.json (N counts the
// commits), metadata/version-hint.text, metadata/*.avro and data/settlement_date=D/*.parquet. The
// commit of version N+1 is a write of vN+1.metadata.json made only if no such object exists (S3's
// If-None-Match, an exclusive create under the folder's lock locally): of two committers building on
// version N exactly one wins; the other reads the table again and decides again.
package icetable

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"

	settletable "github.com/paysettle/settle/internal/table"
	"github.com/paysettle/settle/internal/workflow"
)

// TablePrefix is the table's key prefix in the processed bucket.
const TablePrefix = workflow.TablePrefix

// Namespace is the table's namespace in a catalog that registers it (Glue's database, Athena's schema).
const Namespace = "settle"

// PartitionColumn is the table's partition source column. It is not in the data files (the Hive layout
// keeps it in the key): readers take its value from the data file's partition, as the Iceberg spec has
// them do for identity partitions of files added from a Hive table.
const PartitionColumn = settletable.PartitionKey

// icebergType is the Iceberg type of a column, from its type in the Glue table (one source of truth for
// both catalogs' views of the columns).
func icebergType(glue string) (iceberg.Type, error) {
	switch glue {
	case "string":
		return iceberg.PrimitiveTypes.String, nil
	case "bigint":
		return iceberg.PrimitiveTypes.Int64, nil
	case "timestamp":
		// The Parquet timestamps are microseconds adjusted to UTC: Iceberg's timestamptz.
		return iceberg.PrimitiveTypes.TimestampTz, nil
	}
	if inner, ok := strings.CutPrefix(glue, "decimal("); ok {
		p, s, ok := strings.Cut(strings.TrimSuffix(inner, ")"), ",")
		prec, err1 := strconv.Atoi(p)
		scale, err2 := strconv.Atoi(s)
		if ok && err1 == nil && err2 == nil {
			return iceberg.DecimalTypeOf(prec, scale), nil
		}
	}
	return nil, fmt.Errorf("no Iceberg type for column type %q", glue)
}

// Schema is settlement_lines' Iceberg schema: the Parquet columns in their order (ids 1…n), then the
// settlement date.
func Schema() (*iceberg.Schema, error) {
	fields := make([]iceberg.NestedField, 0, len(settletable.Columns)+1)
	for i, c := range settletable.Columns {
		t, err := icebergType(c.Glue)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		fields = append(fields, iceberg.NestedField{ID: i + 1, Name: c.Name, Type: t, Required: !c.Nullable})
	}
	fields = append(fields, iceberg.NestedField{ID: len(fields) + 1, Name: PartitionColumn, Type: iceberg.PrimitiveTypes.Date, Required: true})
	return iceberg.NewSchema(0, fields...), nil
}

// partitionSpec partitions by the settlement date itself.
func partitionSpec(sc *iceberg.Schema) (iceberg.PartitionSpec, error) {
	f, ok := sc.FindFieldByName(PartitionColumn)
	if !ok {
		return iceberg.PartitionSpec{}, fmt.Errorf("the schema has no %s", PartitionColumn)
	}
	return iceberg.NewPartitionSpecOpts(iceberg.AddPartitionFieldBySourceID(f.ID, PartitionColumn, iceberg.IdentityTransform{}, sc, nil))
}

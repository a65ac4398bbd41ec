package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3tables"
	s3tablestypes "github.com/aws/aws-sdk-go-v2/service/s3tables/types"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/workflow"
)

// The functions' variables naming the stack's S3 Tables table. Without TABLE_BUCKET_ARN the table is in
// the processed bucket, under workflow.TablePrefix, with the file-system convention as its catalog.
const (
	EnvTableBucketARN = "TABLE_BUCKET_ARN"
	EnvTableNamespace = "TABLE_NAMESPACE"
	EnvTableName      = "TABLE_NAME"
)

// The table's names in S3 Tables when the variables leave them out.
const (
	DefaultTableNamespace = "settle"
	DefaultTableName      = "settlement_lines"
)

// S3Tables is the Iceberg table's catalog on a stack: a table of an S3 Tables table bucket. A commit
// writes its metadata file in the table's warehouse under a new name, then moves the table's metadata
// location to it with UpdateTableMetadataLocation, which S3 Tables does only while the version token the
// commit read is still the table's: the compare-and-swap.
type S3Tables struct {
	Client    *s3tables.Client
	BucketARN string
	Namespace string
	Name      string
	// Warehouse is the table's own bucket, at Location (s3://…, its warehouse location).
	Warehouse store.Bucket
	Location  string
}

var _ workflow.TableCatalog = (*S3Tables)(nil)

func (c *S3Tables) what() string { return c.BucketARN + " " + c.Namespace + "." + c.Name }

// Load names the table's current metadata and the version token a swap builds on.
func (c *S3Tables) Load(ctx context.Context) (workflow.TablePointer, error) {
	out, err := c.Client.GetTableMetadataLocation(ctx, &s3tables.GetTableMetadataLocationInput{
		TableBucketARN: aws.String(c.BucketARN), Namespace: aws.String(c.Namespace), Name: aws.String(c.Name)})
	if err != nil {
		return workflow.TablePointer{}, fmt.Errorf("s3tables GetTableMetadataLocation %s: %w", c.what(), err)
	}
	p := workflow.TablePointer{Token: aws.ToString(out.VersionToken)}
	loc := aws.ToString(out.MetadataLocation)
	if loc == "" {
		return p, nil
	}
	key, ok := strings.CutPrefix(loc, c.Location+"/")
	if !ok {
		return p, fmt.Errorf("the metadata of %s, %s, is outside its warehouse %s", c.what(), loc, c.Location)
	}
	p.Key = key
	if p.Version, err = MetadataVersion(key); err != nil {
		return p, fmt.Errorf("%s: %w", c.what(), err)
	}
	return p, nil
}

// MetadataVersion is the commit number in the name of a metadata file: NNNNN-<uuid>.metadata.json, as
// Iceberg's catalogs (and S3 Tables' own maintenance) name them, or vN.metadata.json.
func MetadataVersion(key string) (int, error) {
	name := strings.TrimPrefix(path.Base(key), "v")
	if i := strings.IndexAny(name, "-."); i > 0 {
		if n, err := strconv.Atoi(name[:i]); err == nil && n > 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("the metadata file %s has no version number in its name", key)
}

// Swap writes metadata in the warehouse under a name no other commit uses, then moves the table to it
// if cur's version token is still the table's.
func (c *S3Tables) Swap(ctx context.Context, cur workflow.TablePointer, metadata []byte) (workflow.TablePointer, error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	next := workflow.TablePointer{Version: cur.Version + 1, Key: fmt.Sprintf("metadata/%05d-%s.metadata.json", cur.Version+1, hex.EncodeToString(id[:]))}
	if _, err := c.Warehouse.Put(ctx, next.Key, metadata); err != nil {
		return next, fmt.Errorf("write %s/%s: %w", c.Location, next.Key, err)
	}
	out, err := c.Client.UpdateTableMetadataLocation(ctx, &s3tables.UpdateTableMetadataLocationInput{
		TableBucketARN: aws.String(c.BucketARN), Namespace: aws.String(c.Namespace), Name: aws.String(c.Name),
		MetadataLocation: aws.String(c.Location + "/" + next.Key), VersionToken: aws.String(cur.Token)})
	var conflict *s3tablestypes.ConflictException
	if errors.As(err, &conflict) {
		// The file stays unreferenced: S3 Tables' unreferenced file removal deletes it.
		return next, fmt.Errorf("%w: %s", workflow.ErrLostSwap, conflict.ErrorMessage())
	}
	if err != nil {
		// The answer is lost (a dropped connection, a timeout, a body that does not decode: moto 5.2.1
		// answers with the namespace as a string where the API has a list), not the swap's outcome: the
		// table names this commit's metadata, whose name no other commit uses, if and only if it landed.
		if now, lerr := c.Load(ctx); lerr == nil && now.Key == next.Key {
			return now, nil
		}
		return next, fmt.Errorf("s3tables UpdateTableMetadataLocation %s: %w", c.what(), err)
	}
	next.Token = aws.ToString(out.VersionToken)
	return next, nil
}

// S3TablesHome is the home of the table bucketARN/namespace/name of S3 Tables: its warehouse bucket
// (read and written with s3c) and the table as its catalog.
func S3TablesHome(ctx context.Context, client *s3tables.Client, s3c *s3.Client, bucketARN, namespace, name string) (workflow.TableHome, error) {
	cat := &S3Tables{Client: client, BucketARN: bucketARN, Namespace: namespace, Name: name}
	out, err := client.GetTableMetadataLocation(ctx, &s3tables.GetTableMetadataLocationInput{
		TableBucketARN: aws.String(bucketARN), Namespace: aws.String(namespace), Name: aws.String(name)})
	if err != nil {
		return workflow.TableHome{}, fmt.Errorf("s3tables GetTableMetadataLocation %s: %w", cat.what(), err)
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(aws.ToString(out.WarehouseLocation), "s3://"), "/")
	if bucket == "" {
		return workflow.TableHome{}, fmt.Errorf("s3tables: %s has no warehouse location", cat.what())
	}
	cat.Location = "s3://" + bucket
	cat.Warehouse = s3store.New(s3c, bucket)
	return workflow.TableHome{Bucket: cat.Warehouse, Location: cat.Location, Catalog: cat}, nil
}

// TableHomeFromEnv is the home of the table of record a function's variables name: the S3 Tables table
// of TABLE_BUCKET_ARN when it is set, else the processed bucket's table.
func TableHomeFromEnv(ctx context.Context, getenv func(string) string, cfg aws.Config, processed store.Bucket) (workflow.TableHome, error) {
	arn := getenv(EnvTableBucketARN)
	if arn == "" {
		return workflow.ProcessedTable(processed, "s3://"+processed.Name()+"/"+workflow.TablePrefix), nil
	}
	ns, name := getenv(EnvTableNamespace), getenv(EnvTableName)
	if ns == "" {
		ns = DefaultTableNamespace
	}
	if name == "" {
		name = DefaultTableName
	}
	return S3TablesHome(ctx, s3tables.NewFromConfig(cfg), NewS3(cfg, getenv), arn, ns, name)
}

package s3store

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/motoserver"
	"github.com/paysettle/settle/internal/testkit/storetest"
)

// TestS3ConformanceMoto runs the conformance suite, conditional writes included, through the real SDK
// against moto's S3, an implementation of S3 this project did not write. moto enforces If-None-Match and
// If-Match on PutObject and If-Match on DeleteObject as S3 does (412 PreconditionFailed); gofakes3,
// which the other S3 tests use, ignores them (TestS3FakeIgnoresConditionalWrites), so the conditional
// half of the suite only runs here.
func TestS3ConformanceMoto(t *testing.T) {
	srv := motoserver.Start(t)
	client := s3.NewFromConfig(srv.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	var n atomic.Int64
	storetest.Run(t, storetest.Conformance{
		NewBucket: func(t *testing.T) store.Bucket {
			// A fresh bucket per subtest; the name a Bucket reports is fixed at "raw" by the suite, so
			// each is reached through its own S3 value whose Name is overridden.
			name := fmt.Sprintf("conformance-%d", n.Add(1))
			if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatal(err)
			}
			return named{New(client, name, WithPartSizeForTesting(MinPartSize)), "raw"}
		},
		CommitETagIsStored: true,
		Conditional:        true,
	})
}

// named reports another bucket name than the bucket it wraps.
type named struct {
	*Bucket
	name string
}

func (n named) Name() string { return n.name }

// TestS3FakeIgnoresConditionalWrites pins a difference between gofakes3 and S3: gofakes3 overwrites an
// object on a PutObject with If-None-Match: *, where S3 (and moto) answer 412. Tests of the commit's
// exactly-once guarantee must therefore run against Dir or moto, never gofakes3.
func TestS3FakeIgnoresConditionalWrites(t *testing.T) {
	ctx := t.Context()
	b := newFakeS3(t, nil).bucket()
	storetest.MustPut(t, b, "claim", []byte("A"))
	if _, err := b.PutIf(ctx, "claim", []byte("B"), store.Precondition{IfAbsent: true}); err != nil {
		if errors.Is(err, store.ErrPreconditionFailed) {
			t.Skip("gofakes3 now enforces If-None-Match: run the conditional conformance tests against it too")
		}
		t.Fatal(err)
	}
	data, _, err := b.Get(ctx, "claim")
	if err != nil || string(data) != "B" {
		t.Fatalf("Get = %q, %v; gofakes3 was expected to overwrite", data, err)
	}
}

// TestVersionsOfAnOverwrittenKeyMoto: in a versioned bucket, the version an event announced stays
// readable by its id after another upload took its key (store.Versioned), at its ETag and only at its
// ETag. Against moto: gofakes3 answers a HEAD of a version with the current object.
func TestVersionsOfAnOverwrittenKeyMoto(t *testing.T) {
	ctx := t.Context()
	srv := motoserver.Start(t)
	client := s3.NewFromConfig(srv.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("raw")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("raw"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	put := func(body string) (string, string) {
		out, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("raw"), Key: aws.String("incoming/report.csv"), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId), store.UnquoteETag(aws.ToString(out.ETag))
	}
	first, firstTag := put("batch 5's report")
	_, secondTag := put("batch 6's report, same name")
	b := New(client, "raw")
	var v store.Versioned = b
	if cur, err := b.Head(ctx, "incoming/report.csv"); err != nil || cur.ETag != secondTag {
		t.Fatalf("Head = %+v, %v; want the second upload", cur, err)
	}
	obj, err := v.HeadVersion(ctx, "incoming/report.csv", first)
	if err != nil || obj.ETag != firstTag || obj.Size != int64(len("batch 5's report")) {
		t.Fatalf("HeadVersion(first) = %+v, %v; want etag %s", obj, err, firstTag)
	}
	rc, err := v.OpenVersionRange(ctx, "incoming/report.csv", first, firstTag, 6, math.MaxInt64-6)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "5's report" {
		t.Errorf("OpenVersionRange(first, 6..) = %q, %v", got, err)
	}
	if _, err := v.OpenVersionRange(ctx, "incoming/report.csv", first, secondTag, 0, 10); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Errorf("OpenVersionRange(first) at the second's etag = %v, want ErrPreconditionFailed", err)
	}
}

package fetch_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/store/s3store"
)

// generated is a report of size bytes made on the fly: CSV-looking lines, nothing held in memory.
type generated struct {
	size, off int64
	served    *atomic.Int64
}

const line = "AcmeCo,AcmeShopNL,1614253784121234,ORD-1001,visa,2024-05-01 10:15:00,CEST,Settled,,EUR,,100.00\n"

func (g *generated) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > g.size-g.off {
		n = g.size - g.off
	}
	for i := int64(0); i < n; i++ {
		p[i] = line[(g.off+i)%int64(len(line))]
	}
	g.off += n
	g.served.Add(n)
	return int(n), nil
}

// s3Raw is a gofakes3 bucket "raw" reached with the real SDK, with parts of partSize bytes, so that a few
// MiB make a multipart upload.
func s3Raw(t testing.TB, partSize int64) (*s3store.Bucket, *s3.Client) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("raw"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	return s3store.New(client, "raw", s3store.WithPartSizeForTesting(partSize)), client
}

// A 10 GB report without a Content-Length: the fetcher streams it into a multipart upload, stops at
// MAX_FILE_BYTES, aborts the upload (no parts left behind, nothing visible), and the server has sent only
// what the limit and the buffers let through.
func TestFetchTenGigabytesIsAbortedAtTheLimit(t *testing.T) {
	var served atomic.Int64
	a := newAdyen(t, nil)
	a.set(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, &generated{size: 10 << 30, served: &served}) // chunked: no length announced
	})
	raw, client := s3Raw(t, 1<<20)
	f, _ := fetcher(t, a, newClock())
	f.Raw = raw
	f.MaxBytes = 4 << 20
	_, err := f.Fetch(t.Context(), request(a, file57))
	fe := fetchErr(t, err)
	if fe.Reason != fetch.ReasonTooLarge || !fe.Permanent() || !strings.Contains(err.Error(), "upload was aborted") {
		t.Fatalf("%v, want too-large with the upload aborted", err)
	}
	if _, err := raw.Head(t.Context(), "incoming/AcmeShopNL/"+file57); err == nil {
		t.Error("a too-large report is visible")
	}
	up, err := client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String("raw")})
	if err != nil || len(up.Uploads) != 0 {
		t.Errorf("multipart uploads left: %v, %v", up.Uploads, err)
	}
	if n := served.Load(); n > 64<<20 {
		t.Errorf("the server sent %d MiB; the fetcher should stop reading near the 4 MiB limit", n>>20)
	}
	t.Logf("server sent %.1f MiB of the 10 GiB before the fetcher stopped", float64(served.Load())/(1<<20))
}

// Below the limit the same multipart path commits, and the same bytes give the same ETag on a second
// fetch (a multipart ETag is a function of the parts).
func TestFetchMultipartCommitsAndRepeats(t *testing.T) {
	var served atomic.Int64
	a := newAdyen(t, nil)
	a.set(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, &generated{size: 3<<20 + 12345, served: &served})
	})
	raw, _ := s3Raw(t, 1<<20)
	f, _ := fetcher(t, a, newClock())
	f.Raw = raw
	f.MaxBytes = 4 << 20
	first, err := f.Fetch(t.Context(), request(a, file57))
	if err != nil || first.Object.Size != 3<<20+12345 {
		t.Fatalf("Fetch = %+v, %v", first, err)
	}
	second, err := f.Fetch(t.Context(), request(a, file57))
	if err != nil || second.Object.ETag != first.Object.ETag {
		t.Errorf("second fetch etag %s, first %s (%v)", second.Object.ETag, first.Object.ETag, err)
	}
	rc, err := raw.Open(t.Context(), first.Object.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, want := md5.New(), md5.New()
	io.Copy(h, rc)
	io.Copy(want, &generated{size: 3<<20 + 12345, served: new(atomic.Int64)})
	if hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
		t.Error("the stored object differs from what was served")
	}
}

// discard is a bucket whose uploads count the bytes and keep none, so that a benchmark measures the
// fetcher (client, policy, copy) and not a storage fake.
type discard struct{ store.Bucket }

type discardUpload struct{ n int64 }

func (discard) Create(context.Context, string) (store.Upload, error) { return &discardUpload{}, nil }
func (u *discardUpload) Write(p []byte) (int, error)                 { u.n += int64(len(p)); return len(p), nil }
func (u *discardUpload) Commit() (store.Object, error)               { return store.Object{Size: u.n}, nil }
func (u *discardUpload) Abort() error                                { return nil }

// BenchmarkFetchMemory streams generated reports of growing size through the fetcher (TLS, the policy's
// dialer, the copy into an upload): the bytes allocated per fetch (B/op) stay flat as the report grows,
// because nothing is buffered beyond the copy buffer.
func BenchmarkFetchMemory(b *testing.B) {
	for _, size := range []int64{32 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(w, &generated{size: size, served: new(atomic.Int64)})
			}))
			defer srv.Close()
			f := &fetch.Fetcher{Raw: discard{}, MaxBytes: 1 << 30, TLS: srv.Client().Transport.(*http.Transport).TLSClientConfig,
				Policy: fetch.Policy{Hosts: []string{strings.TrimPrefix(srv.URL, "https://")}, AllowAddr: loopback}}
			req := fetch.Request{MerchantAccount: merchant, FileName: file57, URL: srv.URL + reportPath(file57)}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				res, err := f.Fetch(b.Context(), req)
				if err != nil || res.Object.Size != size {
					b.Fatal(res, err)
				}
			}
		})
	}
}

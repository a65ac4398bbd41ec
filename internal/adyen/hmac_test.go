package adyen_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/adyen"
)

// vector is one case of testdata/hmac: the signing string is written by hand from Adyen's field list and
// the signature computed by OpenSSL (gen.sh), so neither comes from the code under test. Two cases carry
// the signatures Adyen published in its own libraries' tests, which gen.sh checks OpenSSL reproduces.
type vector struct {
	name, key, data, published, signature string
}

func readTSV(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hmac", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

func vectors(t *testing.T) []vector {
	t.Helper()
	sigs := map[string]string{}
	for _, r := range readTSV(t, "signatures.tsv") {
		sigs[r[0]] = r[1]
	}
	var out []vector
	for _, r := range readTSV(t, "cases.tsv") {
		if len(r) != 4 {
			t.Fatalf("cases.tsv: %q has %d fields, want 4", r, len(r))
		}
		v := vector{name: r[0], key: r[1], data: r[2], published: r[3], signature: sigs[r[0]]}
		if v.signature == "" {
			t.Fatalf("signatures.tsv has no %s: run sh gen.sh in testdata/hmac", v.name)
		}
		out = append(out, v)
	}
	if len(out) < 5 {
		t.Fatalf("only %d vectors", len(out))
	}
	return out
}

// item parses testdata/hmac/<name>.json, which holds one notification item.
func item(t *testing.T, name string) (adyen.Item, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hmac", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := adyen.ParseNotification(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(n.Items) != 1 {
		t.Fatalf("%s: %d items", name, len(n.Items))
	}
	return n.Items[0], n.Live
}

func TestSignAgainstOpenSSL(t *testing.T) {
	for _, v := range vectors(t) {
		key, err := adyen.ParseKey(v.key)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got := adyen.Sign(key, v.data); got != v.signature {
			t.Errorf("%s: Sign = %s, OpenSSL computes %s", v.name, got, v.signature)
		}
		if v.published != "-" && v.published != v.signature {
			t.Errorf("%s: signatures.tsv has %s, Adyen published %s (rerun gen.sh)", v.name, v.signature, v.published)
		}
	}
}

func TestSigningStringAndVerify(t *testing.T) {
	for _, v := range vectors(t) {
		it, _ := item(t, v.name)
		if got := adyen.SigningString(it); got != v.data {
			t.Errorf("%s: SigningString = %q, want %q", v.name, got, v.data)
		}
		key, _ := adyen.ParseKey(v.key)
		other, _ := adyen.ParseKey(strings.Repeat("0", 64))

		it.Signature = v.signature
		if !adyen.Verify(it, key) {
			t.Errorf("%s: the OpenSSL signature does not verify", v.name)
		}
		if !adyen.Verify(it, other, key) {
			t.Errorf("%s: the signature does not verify with the right key second (key rotation)", v.name)
		}
		if adyen.Verify(it, other) {
			t.Errorf("%s: verifies under another key", v.name)
		}
		if adyen.Verify(it) {
			t.Errorf("%s: verifies with no key", v.name)
		}

		changed := it
		changed.Amount.Value++
		changed.Amount.Present = true
		if adyen.Verify(changed, key) {
			t.Errorf("%s: still verifies with the amount changed", v.name)
		}
		changed = it
		changed.Reason = "https://evil.example/x.csv" // reason is not signed: the receiver must not trust it alone
		if !adyen.Verify(changed, key) {
			t.Errorf("%s: reason is not part of the signature, yet changing it broke it", v.name)
		}
		for _, bad := range []string{"", "not base64!", v.signature[:len(v.signature)-4], strings.ToLower(v.signature)} {
			changed = it
			changed.Signature = bad
			if adyen.Verify(changed, key) {
				t.Errorf("%s: signature %q verifies", v.name, bad)
			}
		}
	}
}

func TestParseKey(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056", true},
		{" 44782def547aaa06c910c43932b1eb0c71fc68d9d0c057550c48ec2acf6ba056\n", true},
		{"", false}, {"xyz", false}, {"abc", false},
	} {
		_, err := adyen.ParseKey(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseKey(%q) = %v, want ok %v", c.in, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), c.in) && c.in != "" {
			t.Errorf("ParseKey's error %q quotes the key", err)
		}
	}
}

// The item of a signed body round-trips: what the signature covers survives JSON re-encoding by Adyen
// in either of its styles (numbers as strings, success as a literal).
func TestEquivalentEncodingsSignAlike(t *testing.T) {
	body := func(value, success string) []byte {
		return []byte(`{"live":"false","notificationItems":[{"NotificationRequestItem":{"amount":{"currency":"EUR","value":` + value +
			`},"eventCode":"REPORT_AVAILABLE","merchantAccountCode":"AcmeShopNL","merchantReference":"","pspReference":"settlement_detail_report_batch_57.csv","success":` + success + `}}]}`)
	}
	var want string
	for i, b := range [][]byte{body("0", `"true"`), body(`"0"`, "true"), body("0", "true")} {
		n, err := adyen.ParseNotification(b)
		if err != nil {
			t.Fatal(err)
		}
		got := adyen.SigningString(n.Items[0])
		if i == 0 {
			want = got
		} else if got != want {
			t.Errorf("encoding %d signs %q, want %q", i, got, want)
		}
	}
	if want != "settlement_detail_report_batch_57.csv::AcmeShopNL::0:EUR:REPORT_AVAILABLE:true" {
		t.Errorf("signing string %q", want)
	}
}

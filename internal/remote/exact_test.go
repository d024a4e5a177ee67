package remote

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

// Exact fails the read of the last bytes when the data is not exactly its
// size, fails, or the check refuses it: io.ReadFull never sees a whole buffer.
func TestExact(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 10))
	refuse := func() error { return errors.New("refused") }
	for _, tc := range []struct {
		name  string
		r     io.Reader
		size  int64
		check func() error
		err   string
	}{
		{"exact", bytes.NewReader(data), 100, nil, ""},
		{"exact, one byte at a time", iotest.OneByteReader(bytes.NewReader(data)), 100, nil, ""},
		{"empty", bytes.NewReader(nil), 0, nil, ""},
		{"short", bytes.NewReader(data[:99]), 100, nil, "short"},
		{"long", bytes.NewReader(data), 99, nil, "runs on"},
		{"fails after its size", io.MultiReader(bytes.NewReader(data), failing{}), 100, nil, "disk gone"},
		{"fails midway", io.MultiReader(bytes.NewReader(data[:50]), failing{}), 100, nil, "disk gone"},
		{"check refuses", bytes.NewReader(data), 100, refuse, "refused"},
		{"check refuses empty", bytes.NewReader(nil), 0, refuse, "refused"},
	} {
		// ReadFull into a buffer of the size, as minio-go fills a part, and
		// then on to the end.
		r := Exact(tc.r, tc.size, tc.check)
		buf := make([]byte, tc.size)
		_, err := io.ReadFull(r, buf)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if tc.err == "" {
			if err != nil || !bytes.Equal(buf, data[:tc.size]) {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: ReadFull = %v, want an error with %q", tc.name, err, tc.err)
		}
		// A failure stays: reading on never turns it into an end.
		if n, again := r.Read(make([]byte, 8)); n != 0 || again == nil || again == io.EOF {
			t.Errorf("%s: read after the failure = %d, %v", tc.name, n, again)
		}
	}
	// After the end, reads keep saying EOF.
	r := Exact(bytes.NewReader(data), 100, nil)
	if got, err := io.ReadAll(r); err != nil || len(got) != 100 {
		t.Fatalf("ReadAll = %d, %v", len(got), err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("read after the end = %d, %v", n, err)
	}
}

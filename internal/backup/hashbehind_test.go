package backup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// HashBehind hashes exactly the bytes read, however the reads are sized,
// and stops cleanly when the stream is abandoned.
func TestHashBehind(t *testing.T) {
	data := make([]byte, 3*hashChunk+12345)
	for i := range data {
		data[i] = byte(i * 31)
	}
	want := sha256.Sum256(data)
	for _, tc := range []struct {
		name string
		r    io.Reader
		buf  int
	}{
		{"large reads", bytes.NewReader(data), 1 << 20},
		{"chunk-sized reads", bytes.NewReader(data), hashChunk},
		{"odd reads", bytes.NewReader(data), 7777},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data)), 512},
		{"data and EOF together", iotest.DataErrReader(bytes.NewReader(data)), 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr := HashBehind(tc.r, sha256.New())
			got, err := io.ReadAll(io.LimitReader(struct{ io.Reader }{hr}, int64(len(data))+1))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if sum := hr.Sum(); !bytes.Equal(sum, want[:]) {
				t.Fatalf("sum %x, want %x", sum, want)
			}
			hr.Close() // again, after Sum: no panic
		})
	}
	t.Run("empty", func(t *testing.T) {
		hr := HashBehind(bytes.NewReader(nil), sha256.New())
		io.Copy(io.Discard, hr)
		if sum, empty := hr.Sum(), sha256.Sum256(nil); !bytes.Equal(sum, empty[:]) {
			t.Fatalf("sum %x", sum)
		}
	})
	t.Run("abandoned halfway", func(t *testing.T) {
		boom := errors.New("disk gone")
		hr := HashBehind(io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(boom)), sha256.New())
		if _, err := io.ReadAll(hr); !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
		hr.Close()
		<-hr.done // the goroutine ends
	})
	t.Run("read after close", func(t *testing.T) {
		hr := HashBehind(bytes.NewReader(data), sha256.New())
		hr.Read(make([]byte, 100))
		hr.Close()
		if n, err := hr.Read(make([]byte, 100)); n != 100 || err != nil { // an uploader still reading: no panic
			t.Fatalf("read %d, %v", n, err)
		}
		<-hr.done
	})
}

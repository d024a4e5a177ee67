package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// zstdOf compresses raw as another program would.
func zstdOf(t *testing.T, raw []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(raw, nil)
}

func TestAddZstdStoresTheStreamAsItIs(t *testing.T) {
	raw := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		raw[i] = "0123456789abcdef\t\n"[rng.IntN(18)]
	}
	comp := zstdOf(t, raw)
	good, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()

	cut := comp[:len(comp)-100]
	flipped := bytes.Clone(comp)
	flipped[len(flipped)/2] ^= 0x40

	for _, tc := range []struct {
		name, want string
		src        []byte
	}{
		{"whole", "", comp},
		{"two frames", "", append(bytes.Clone(comp), comp...)},
		{"cut short", "zstd stream", cut},
		{"a flipped byte", "zstd stream", flipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := NewSet(t.TempDir(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer set.Abort()
			var progress, seen bytes.Buffer
			e, err := set.AddZstd("postgis/gis.dump.zst", bytes.NewReader(tc.src), Entry{Kind: KindDatabase}, &progress, &seen)
			p := filepath.Join(set.tmp, "postgis", "gis.dump.zst")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want one naming the %s", err, tc.want)
				}
				if _, serr := os.Stat(p); !os.IsNotExist(serr) {
					t.Errorf("a bad stream left %s behind (%v)", p, serr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(tc.src)
			if !bytes.Equal(stored, tc.src) || e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(tc.src)) {
				t.Errorf("stored %d bytes (sha %s), want the %d given as they are", len(stored), e.SHA256, len(tc.src))
			}
			want, err := good.DecodeAll(tc.src, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e.RawSize != int64(len(want)) || !bytes.Equal(seen.Bytes(), want) || !bytes.Equal(progress.Bytes(), want) {
				t.Errorf("raw size %d, raw writer %d and progress %d bytes, want the %d decompressed", e.RawSize, seen.Len(), progress.Len(), len(want))
			}
		})
	}
}

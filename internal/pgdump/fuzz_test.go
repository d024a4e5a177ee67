package pgdump

import (
	"bytes"
	"testing"
	"time"
)

// FuzzScanArchive feeds the pg_dump archive scanner arbitrary bytes, seeded
// with well-formed archives and their usual damage (truncation, flipped
// bytes). It must never panic or hang, and an archive it accepts must give
// the same result when read in small chunks.
func FuzzScanArchive(f *testing.F) {
	p1, _ := ewkbHex(1, 2)
	p2, _ := ewkbHex(-179.5, 89.25)
	entries := []tocEntry{
		{id: 1, tag: "t", desc: "TABLE", namespace: "public"},
		{id: 3, tag: "t", desc: "TABLE DATA", namespace: "public", hasDumper: true, dependsOn: []string{"1"}, copyStmt: "COPY public.t (id, label, geom) FROM stdin;\n"},
		{id: 4, tag: "Odd \"Name\"", desc: "TABLE DATA", namespace: "My Schema", hasDumper: true, copyStmt: "COPY \"My Schema\".\"Odd \"\"Name\"\"\" (\"The, Geom\") FROM stdin;\n"},
		{id: 5, tag: "BLOBS", desc: "BLOBS", hasDumper: true, nullCopy: true},
	}
	a := newArchive(entries)
	a.data(3, "1\tx\\ty\\n\t"+p1+"\n2\t\\N\t"+p2+"\n3\tz\t\\N\n\\.\n\n", 5)
	a.data(4, p2+"\n\\.\n", 64)
	a.WriteByte(blkBlobs)
	a.int(5)
	a.int(16500)
	a.int(5)
	a.WriteString("hello")
	a.int(0)
	a.int(0)
	good := a.Bytes()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:60])
	flipped := bytes.Clone(good)
	flipped[len(flipped)/3] ^= 0xff
	f.Add(flipped)
	f.Add([]byte("PGDMP"))
	f.Add([]byte("-- PostgreSQL database dump\n"))
	geom := map[string][]string{"public.t": {"geom"}, "My Schema.Odd \"Name\"": {"The, Geom"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		var whole, chunked *Scan
		var err1, err2 error
		go func() {
			defer close(done)
			whole, err1 = ScanArchive(bytes.NewReader(data), geom)
			chunked, err2 = ScanArchive(&slowReader{b: data, n: 3}, geom)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the scanner hangs")
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("whole: %v, in chunks: %v", err1, err2)
		}
		if err1 == nil && !mapsEqual(whole.Rows, chunked.Rows) {
			t.Fatalf("row counts differ by chunking: %v %v", whole.Rows, chunked.Rows)
		}
	})
}

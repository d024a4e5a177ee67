package pgdump

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// archive writes pg_dump's custom format (1.14) the way pg_dump does, for
// tests of the reader. The integration tests read real pg_dump output.
type archive struct {
	bytes.Buffer
	major, minor byte
	compression  int
}

func (a *archive) int(v int) {
	sign := byte(0)
	if v < 0 {
		sign, v = 1, -v
	}
	a.WriteByte(sign)
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	a.Write(b[:])
}

func (a *archive) str(s string) { a.int(len(s)); a.WriteString(s) }

type tocEntry struct {
	id         int
	tag, desc  string
	copyStmt   string
	namespace  string
	dependsOn  []string
	hasDumper  bool
	nullCopy   bool
	nullFields bool
}

func newArchive(entries []tocEntry) *archive {
	a := &archive{major: 1, minor: 14}
	return a.head(entries)
}

func (a *archive) head(entries []tocEntry) *archive {
	a.WriteString("PGDMP")
	a.Write([]byte{a.major, a.minor, 0, 4, 8, 1})
	a.int(a.compression)
	for _, v := range []int{5, 4, 3, 27, 10, 126, 0} {
		a.int(v)
	}
	a.str("gis")
	a.str("15.8 (Debian 15.8-0+deb12u1)")
	a.str("15.8 (Debian 15.8-0+deb12u1)")
	a.int(len(entries))
	for _, e := range entries {
		a.int(e.id)
		if e.hasDumper {
			a.int(1)
		} else {
			a.int(0)
		}
		a.str("1259")
		a.str("16400")
		a.str(e.tag)
		a.str(e.desc)
		a.int(3) // section
		a.str("")
		a.str("")
		if e.nullCopy {
			a.int(-1)
		} else {
			a.str(e.copyStmt)
		}
		a.str(e.namespace)
		a.str("")
		a.str("heap")
		a.str("osgs")
		a.str("false")
		for _, d := range e.dependsOn {
			a.str(d)
		}
		a.int(-1)
		a.WriteByte(1) // offset not set
		a.Write(make([]byte, 8))
	}
	return a
}

// data writes a data block holding text split into chunks of at most n bytes.
func (a *archive) data(id int, text string, n int) {
	a.WriteByte(blkData)
	a.int(id)
	for len(text) > 0 {
		c := min(n, len(text))
		a.int(c)
		a.WriteString(text[:c])
		text = text[c:]
	}
	a.int(0)
}

// ewkbHex is a point in SRID 4326 as COPY prints it.
func ewkbHex(x, y float64) (string, []byte) {
	b := []byte{1, 1, 0, 0, 0x20, 0xe6, 0x10, 0, 0}
	b = binary.LittleEndian.AppendUint64(b, mathFloat(x))
	b = binary.LittleEndian.AppendUint64(b, mathFloat(y))
	return strings.ToUpper(hex.EncodeToString(b)), b
}

func mathFloat(f float64) uint64 {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, f)
	return binary.LittleEndian.Uint64(b.Bytes())
}

// want is the digest statsSQL would compute for these EWKB values.
func want(ewkbs ...[]byte) string {
	sum := new(big.Int)
	for _, e := range ewkbs {
		m := md5.Sum(e)
		v, _ := new(big.Int).SetString(hex.EncodeToString(m[:])[:15], 16)
		sum.Add(sum, v)
	}
	return sum.String() + ":" + big.NewInt(int64(len(ewkbs))).String()
}

func TestScanArchive(t *testing.T) {
	p1, e1 := ewkbHex(1, 2)
	p2, e2 := ewkbHex(-179.5, 89.25)
	p3, e3 := ewkbHex(3, 4)
	entries := []tocEntry{
		{id: 1, tag: "points", desc: "TABLE", namespace: "public"},
		{id: 7, tag: "points", desc: "TABLE DATA", namespace: "public", hasDumper: true, dependsOn: []string{"1"},
			copyStmt: "COPY public.points (id, label, geom) FROM stdin;\n"},
		{id: 8, tag: "Odd \"Name\"", desc: "TABLE DATA", namespace: "My Schema", hasDumper: true,
			copyStmt: "COPY \"My Schema\".\"Odd \"\"Name\"\"\" (\"The, Geom\", \"x\"\"y\") FROM stdin;\n"},
		{id: 9, tag: "empty", desc: "TABLE DATA", namespace: "public", hasDumper: true, copyStmt: "COPY public.empty (geom) FROM stdin;\n"},
		{id: 10, tag: "nocols", desc: "TABLE DATA", namespace: "public", hasDumper: true, copyStmt: "COPY public.nocols  FROM stdin;\n"},
		{id: 11, tag: "BLOBS", desc: "BLOBS", hasDumper: true, nullCopy: true},
		{id: 12, tag: "seq", desc: "SEQUENCE SET", namespace: "public", nullCopy: true},
	}
	a := newArchive(entries)
	// Text fields hold escaped tabs, newlines and backslashes; one row
	// spans chunks; NULL geometries do not count.
	a.data(7, "1\tplain\t"+p1+"\n2\ttab\\there\\nnewline \\\\\t"+p2+"\n3\tnull\t\\N\n\\.\n\n\n", 7)
	a.data(8, p3+"\tx\n\\N\ty\n\\.\n\n\n", 1<<20)
	a.data(9, "\\.\n\n\n", 100)
	a.data(10, "\n\n\\.\n\n\n", 100)
	a.WriteByte(blkBlobs) // two large objects, skipped
	a.int(11)
	for _, oid := range []int{16500, 16501} {
		a.int(oid)
		a.int(5)
		a.WriteString("hello")
		a.int(0)
	}
	a.int(0)

	geom := map[string][]string{"public.points": {"geom"}, "My Schema.Odd \"Name\"": {"The, Geom"}, "public.empty": {"geom"}, "public.absent": {"geom"}}
	for _, chunk := range []int{1, 3, 4096, 1 << 20} {
		scan, err := ScanArchive(&slowReader{b: a.Bytes(), n: chunk}, geom)
		if err != nil {
			t.Fatalf("read %d bytes at a time: %v", chunk, err)
		}
		wantRows := map[string]int64{"public.points": 3, "My Schema.Odd \"Name\"": 2, "public.empty": 0, "public.nocols": 2}
		if !mapsEqual(scan.Rows, wantRows) {
			t.Fatalf("rows %v, want %v", scan.Rows, wantRows)
		}
		got := map[string]string{}
		for k, d := range scan.Geom {
			got[k] = d.String()
		}
		wantGeom := map[string]string{
			"public.points.geom":               want(e1, e2),
			"My Schema.Odd \"Name\".The, Geom": want(e3),
			"public.empty.geom":                "0:0",
		}
		if !mapsEqual(got, wantGeom) {
			t.Fatalf("digests %v, want %v", got, wantGeom)
		}
	}
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// slowReader returns at most n bytes a read.
type slowReader struct {
	b []byte
	n int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), s.n)], s.b)
	s.b = s.b[n:]
	return n, nil
}

func TestScanArchiveRefuses(t *testing.T) {
	p1, _ := ewkbHex(1, 2)
	entries := []tocEntry{{id: 3, tag: "t", desc: "TABLE DATA", namespace: "public", hasDumper: true, copyStmt: "COPY public.t (id, geom) FROM stdin;\n"}}
	geom := map[string][]string{"public.t": {"geom"}}
	good := func() *archive {
		a := newArchive(entries)
		a.data(3, "1\t"+p1+"\n\\.\n\n", 64)
		return a
	}
	if _, err := ScanArchive(bytes.NewReader(good().Bytes()), geom); err != nil {
		t.Fatalf("the good archive: %v", err)
	}
	unsupported := map[string]func() []byte{
		"another format version": func() []byte {
			a := &archive{major: 1, minor: 16}
			return a.head(entries).Bytes()
		},
		"compressed data": func() []byte {
			a := &archive{major: 1, minor: 14, compression: 6}
			return a.head(entries).Bytes()
		},
		"not an archive": func() []byte { return []byte("-- PostgreSQL database dump\nSET x = 1;\n") },
		"an unknown block type": func() []byte {
			a := good()
			a.WriteByte(7)
			a.int(3)
			return a.Bytes()
		},
		"a COPY statement of another shape": func() []byte {
			bad := slices.Clone(entries)
			bad[0].copyStmt = "INSERT INTO t VALUES"
			return newArchive(bad).Bytes()
		},
	}
	for name, archive := range unsupported {
		if _, err := ScanArchive(bytes.NewReader(archive()), geom); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
	broken := map[string][]byte{
		"truncated in the data":   good().Bytes()[:good().Len()-9],
		"truncated in the TOC":    good().Bytes()[:60],
		"data without its end":    func() []byte { a := newArchive(entries); a.data(3, "1\t"+p1+"\n", 64); return a.Bytes() }(),
		"a geometry that is text": func() []byte { a := newArchive(entries); a.data(3, "1\tPOINT(1 2)\n\\.\n", 64); return a.Bytes() }(),
		"a row missing its field": func() []byte { a := newArchive(entries); a.data(3, "1\n\\.\n", 64); return a.Bytes() }(),
	}
	for name, archive := range broken {
		if _, err := ScanArchive(bytes.NewReader(archive), geom); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCopyColumns(t *testing.T) {
	for stmt, want := range map[string][]string{
		"COPY public.points (id, geom, label) FROM stdin;\n":               {"id", "geom", "label"},
		"COPY \"a b\".\"c (d\" (\"x, y\", \"q\"\"uote\", z) FROM stdin;\n": {"x, y", "q\"uote", "z"},
		"COPY public.nocols  FROM stdin;\n":                                nil,
	} {
		got, err := copyColumns(stmt)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("copyColumns(%q) = %q, %v; want %q", stmt, got, err, want)
		}
	}
	for _, stmt := range []string{"", "SELECT 1", "COPY t (a, b FROM stdin;", "COPY \"t (a) FROM stdin;", "COPY t (a;b) FROM stdin;"} {
		if _, err := copyColumns(stmt); err == nil {
			t.Errorf("copyColumns(%q): no error", stmt)
		}
	}
}

func TestGeomDigestPrintsSumsAbove64Bits(t *testing.T) {
	d := GeomDigest{hi: 3, lo: 5, n: 40}
	want := new(big.Int).Lsh(big.NewInt(3), 64)
	want.Add(want, big.NewInt(5))
	if d.String() != want.String()+":40" {
		t.Fatalf("digest %s, want %s:40", d.String(), want)
	}
}

func TestDecodeHexAgreesWithEncodingHex(t *testing.T) {
	for _, src := range []string{"", "00", "0101000020E6100000", "ff0aBc", "0g", "g0", "0 ", "Zz", "\\N", "abcdef0123456789ABCDEF"} {
		want, werr := hex.DecodeString(src)
		got := make([]byte, len(src)/2)
		ok := decodeHex(got, []byte(src))
		if ok != (werr == nil) || ok && !bytes.Equal(got, want) {
			t.Errorf("decodeHex(%q) = %x, %v; encoding/hex: %x, %v", src, got, ok, want, werr)
		}
	}
	for c := range 256 { // every byte, in both places
		for _, src := range []string{string([]byte{byte(c), '0'}), string([]byte{'0', byte(c)})} {
			_, werr := hex.DecodeString(src)
			if ok := decodeHex(make([]byte, 1), []byte(src)); ok != (werr == nil) {
				t.Errorf("decodeHex(%q) valid = %v", src, ok)
			}
		}
	}
}

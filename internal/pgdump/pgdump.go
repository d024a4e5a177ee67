// Package pgdump reads pg_dump's custom archive format as it streams past, to
// take each table's row count and geometry digests from the very bytes that
// are being saved, instead of reading every geometry a second time in SQL.
//
// An archive is a header, the table of contents (TOC), then data blocks in
// TOC order. A TABLE DATA block is COPY text split into length-prefixed
// chunks. Only what pg_dump -Fc -Z0 of PostgreSQL 15 writes (archive format
// 1.14, uncompressed) is read; anything else is ErrUnsupported, and the
// caller reads the stats in SQL instead.
package pgdump

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/bits"
	"strings"
)

// ErrUnsupported reports an archive this reader does not handle.
var ErrUnsupported = errors.New("unsupported pg_dump archive")

// Block types of the custom format.
const (
	blkData  = 1
	blkBlobs = 3
)

// GeomDigest is the order-independent digest of a geometry column, the same
// as statsSQL computes: the sum of the first 60 bits of the md5 of each
// non-null geometry's EWKB, and their count.
type GeomDigest struct {
	hi, lo uint64 // the 128-bit sum
	n      int64
}

func (g *GeomDigest) add(ewkb []byte) {
	sum := md5.Sum(ewkb)
	var c uint64
	g.lo, c = bits.Add64(g.lo, binary.BigEndian.Uint64(sum[:8])>>4, 0)
	g.hi += c
	g.n++
}

// String formats the digest like statsSQL: "<sum>:<count>".
func (g *GeomDigest) String() string {
	s := new(big.Int).SetUint64(g.hi)
	s.Lsh(s, 64).Or(s, new(big.Int).SetUint64(g.lo))
	return fmt.Sprintf("%s:%d", s, g.n)
}

// Scan is what scanning an archive found, keyed like DBStats.
type Scan struct {
	Rows map[string]int64       // schema.table -> rows in its TABLE DATA
	Geom map[string]*GeomDigest // schema.table.column -> digest
}

// tableData is a TABLE DATA entry of the TOC being followed.
type tableData struct {
	name string // schema.table
	geom []geomField
}

type geomField struct {
	index int // field number in the COPY row
	d     *GeomDigest
}

// ScanArchive reads a custom-format archive from r to its end. geom names,
// per schema.table, the geometry columns to digest.
func ScanArchive(r io.Reader, geom map[string][]string) (*Scan, error) {
	a := &archiveReader{r: bufio.NewReaderSize(r, 1<<18)}
	if err := a.header(); err != nil {
		return nil, err
	}
	out := &Scan{Rows: map[string]int64{}, Geom: map[string]*GeomDigest{}}
	tables, err := a.toc(geom, out)
	if err != nil {
		return nil, err
	}
	for {
		typ, err := a.r.ReadByte()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		id, err := a.int()
		if err != nil {
			return nil, err
		}
		switch t := tables[id]; {
		case typ == blkData && t != nil:
			if err := a.copyData(t, out); err != nil {
				return nil, fmt.Errorf("data of %s: %w", t.name, err)
			}
		case typ == blkData:
			if err := a.chunks(nil); err != nil {
				return nil, err
			}
		case typ == blkBlobs: // large objects: an OID, its chunks; OID 0 ends them
			for {
				oid, err := a.int()
				if err != nil {
					return nil, unexpected(err)
				}
				if oid == 0 {
					break
				}
				if err := a.chunks(nil); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%w: data block type %d", ErrUnsupported, typ)
		}
	}
}

// CheckTOC reads an archive's table of contents (at its start) and refuses,
// with a *ScriptError, an entry whose SQL pg_restore would run holds what
// GuardScript refuses: a forged dump's COPY TO PROGRAM, a C function, an
// untrusted language. It reads no further than the table of contents.
func CheckTOC(r io.Reader) error {
	a := &archiveReader{r: bufio.NewReaderSize(r, 1<<16), checkSQL: true}
	if err := a.header(); err != nil {
		return err
	}
	_, err := a.toc(nil, &Scan{Rows: map[string]int64{}, Geom: map[string]*GeomDigest{}})
	return err
}

// archiveReader decodes the archive's primitives.
type archiveReader struct {
	r       *bufio.Reader
	intSize int
	offSize int
	big     bytes.Buffer // chunks larger than r's buffer
	// checkSQL makes toc refuse entries whose SQL GuardScript refuses.
	checkSQL bool
}

func (a *archiveReader) header() error {
	h := make([]byte, 11)
	if _, err := io.ReadFull(a.r, h); err != nil {
		return err
	}
	if string(h[:5]) != "PGDMP" {
		return fmt.Errorf("%w: no PGDMP magic", ErrUnsupported)
	}
	if h[5] != 1 || h[6] != 14 {
		return fmt.Errorf("%w: format version %d.%d", ErrUnsupported, h[5], h[6])
	}
	a.intSize, a.offSize = int(h[8]), int(h[9])
	if a.intSize < 1 || a.intSize > 8 || a.offSize < 1 || a.offSize > 8 {
		return fmt.Errorf("%w: int size %d, offset size %d", ErrUnsupported, a.intSize, a.offSize)
	}
	if h[10] != 1 {
		return fmt.Errorf("%w: not the custom format", ErrUnsupported)
	}
	compression, err := a.int()
	if err != nil {
		return err
	}
	if compression != 0 {
		return fmt.Errorf("%w: compressed data", ErrUnsupported)
	}
	for range 7 { // creation time
		if _, err := a.int(); err != nil {
			return err
		}
	}
	for range 3 { // database name, server and pg_dump versions
		if _, _, err := a.str(); err != nil {
			return err
		}
	}
	return nil
}

// int reads a sign byte and intSize little-endian bytes.
func (a *archiveReader) int() (int, error) {
	sign, err := a.r.ReadByte()
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := range a.intSize {
		b, err := a.r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		v |= uint64(b) << (8 * i)
	}
	if v > 1<<31 {
		return 0, fmt.Errorf("%w: integer %d out of range", ErrUnsupported, v)
	}
	if sign != 0 {
		return -int(v), nil
	}
	return int(v), nil
}

// str reads a length-prefixed string; ok is false for a NULL string.
func (a *archiveReader) str() (s string, ok bool, err error) {
	n, err := a.int()
	if err != nil {
		return "", false, unexpected(err)
	}
	if n < 0 { // pg_dump writes a NULL string as length -1
		return "", false, nil
	}
	if n > 1<<28 {
		return "", false, fmt.Errorf("%w: string of %d bytes", ErrUnsupported, n)
	}
	// Grown as the bytes arrive, so a corrupt length cannot make the
	// reader allocate more than the archive holds.
	var b strings.Builder
	if _, err := io.CopyN(&b, a.r, int64(n)); err != nil {
		return "", false, unexpected(err)
	}
	return b.String(), true, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// toc reads the table of contents and returns the TABLE DATA entries by dump
// ID, with the positions of their geometry columns in the COPY rows.
func (a *archiveReader) toc(geom map[string][]string, out *Scan) (map[int]*tableData, error) {
	count, err := a.int()
	if err != nil {
		return nil, unexpected(err)
	}
	tables := map[int]*tableData{}
	for range count {
		var f [13]string // the TOC entry's strings, by position
		id, err := a.int()
		if err != nil {
			return nil, unexpected(err)
		}
		if _, err := a.int(); err != nil { // had a data dumper
			return nil, unexpected(err)
		}
		// tableoid, oid, tag, desc, section, defn, dropStmt, copyStmt,
		// namespace, tablespace, tableam, owner, "false" (with OIDs)
		for i := range 13 {
			if i == 4 {
				if _, err := a.int(); err != nil {
					return nil, unexpected(err)
				}
				continue
			}
			if f[i], _, err = a.str(); err != nil {
				return nil, err
			}
		}
		for { // dependencies, ended by a NULL string
			_, ok, err := a.str()
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
		}
		if _, err := a.r.Discard(1 + a.offSize); err != nil { // data offset
			return nil, unexpected(err)
		}
		tag, desc, copyStmt, namespace := f[2], f[3], f[7], f[8]
		if a.checkSQL {
			for _, stmt := range []string{f[5], f[6], copyStmt} {
				if err := GuardScript(strings.NewReader(stmt), io.Discard); err != nil {
					return nil, fmt.Errorf("entry %d (%s %s.%s): %w", id, desc, namespace, tag, err)
				}
			}
		}
		if desc != "TABLE DATA" {
			continue
		}
		name := namespace + "." + tag
		cols, err := copyColumns(copyStmt)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnsupported, name, err)
		}
		t := &tableData{name: name}
		for _, g := range geom[name] {
			for i, c := range cols {
				if c == g {
					d := &GeomDigest{}
					out.Geom[name+"."+g] = d
					t.geom = append(t.geom, geomField{index: i, d: d})
				}
			}
		}
		tables[id] = t
	}
	return tables, nil
}

// copyColumns parses the column list of pg_dump's
// `COPY schema.table (a, "B c") FROM stdin;`.
func copyColumns(stmt string) ([]string, error) {
	s, ok := strings.CutPrefix(stmt, "COPY ")
	if !ok {
		return nil, fmt.Errorf("unexpected COPY statement %q", stmt)
	}
	// Skip the qualified table name: identifiers, dots and quoted parts.
	for len(s) > 0 && s[0] != ' ' {
		if s[0] == '"' {
			_, rest, err := quotedIdent(s)
			if err != nil {
				return nil, err
			}
			s = rest
			continue
		}
		s = s[1:]
	}
	s = strings.TrimLeft(s, " ")
	if !strings.HasPrefix(s, "(") {
		return nil, nil // a table without columns
	}
	s = s[1:]
	var cols []string
	for {
		var col string
		if strings.HasPrefix(s, `"`) {
			c, rest, err := quotedIdent(s)
			if err != nil {
				return nil, err
			}
			col, s = c, rest
		} else { // pg_dump quotes every name but [a-z0-9_]+
			end := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') })
			if end <= 0 {
				return nil, fmt.Errorf("unexpected column list in %q", stmt)
			}
			col, s = s[:end], s[end:]
		}
		cols = append(cols, col)
		switch {
		case strings.HasPrefix(s, ", "):
			s = s[2:]
		case strings.HasPrefix(s, ")"):
			return cols, nil
		default:
			return nil, fmt.Errorf("unexpected column list in %q", stmt)
		}
	}
}

// quotedIdent reads a double-quoted identifier at the start of s.
func quotedIdent(s string) (ident, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), s[i+1:], nil
	}
	return "", "", fmt.Errorf("unterminated quoted identifier in %q", s)
}

// chunks reads a data block's length-prefixed chunks up to the zero length,
// passing each to fn (nil: skip them).
func (a *archiveReader) chunks(fn func([]byte) error) error {
	for {
		n, err := a.int()
		if err != nil {
			return unexpected(err)
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			return fmt.Errorf("%w: chunk length %d", ErrUnsupported, n)
		}
		if fn == nil {
			if _, err := a.r.Discard(n); err != nil {
				return unexpected(err)
			}
			continue
		}
		if n <= a.r.Size() { // read it in place
			b, err := a.r.Peek(n)
			if err != nil {
				return unexpected(err)
			}
			if err := fn(b); err != nil {
				return err
			}
			a.r.Discard(n)
			continue
		}
		// A chunk larger than the read buffer (a row of several MB) is
		// gathered as it arrives: a corrupt length cannot make the reader
		// allocate more than the archive holds.
		a.big.Reset()
		if _, err := io.CopyN(&a.big, a.r, int64(n)); err != nil {
			return unexpected(err)
		}
		if err := fn(a.big.Bytes()); err != nil {
			return err
		}
	}
}

// copyData counts the rows of one table's COPY text and digests its
// geometry fields. Rows end in \n; a row that spans chunks is joined first.
// The data ends with a line `\.`.
func (a *archiveReader) copyData(t *tableData, out *Scan) error {
	var (
		pending []byte // start of a row continued in the next chunk
		ewkb    []byte
		rows    int64
		ended   bool
	)
	row := func(line []byte) error {
		if ended {
			return nil
		}
		if len(line) == 2 && line[0] == '\\' && line[1] == '.' {
			ended = true
			return nil
		}
		rows++
		field, rest := 0, line
		for _, g := range t.geom {
			for ; field < g.index; field++ {
				i := bytes.IndexByte(rest, '\t')
				if i < 0 {
					return fmt.Errorf("row %d has fewer fields than its COPY statement", rows)
				}
				rest = rest[i+1:]
			}
			v := rest
			if i := bytes.IndexByte(v, '\t'); i >= 0 {
				v = v[:i]
			}
			if len(v) == 2 && v[0] == '\\' && v[1] == 'N' {
				continue
			}
			if cap(ewkb) < len(v)/2 {
				ewkb = make([]byte, len(v)/2)
			}
			if len(v)%2 != 0 || !decodeHex(ewkb[:len(v)/2], v) {
				return fmt.Errorf("row %d: a geometry that is not hex EWKB", rows)
			}
			g.d.add(ewkb[:len(v)/2])
		}
		return nil
	}
	err := a.chunks(func(b []byte) error {
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				pending = append(pending, b...)
				return nil
			}
			line := b[:i]
			if len(pending) > 0 {
				pending = append(pending, line...)
				line = pending
			}
			if err := row(line); err != nil {
				return err
			}
			pending = pending[:0]
			b = b[i+1:]
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !ended || len(pending) > 0 {
		return errors.New("COPY data does not end with \\.")
	}
	out.Rows[t.name] = rows
	return nil
}

// unhex maps a hex digit to its value and anything else to 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	for i, c := range "ABCDEF" {
		t[c] = byte(10 + i)
	}
	return t
}()

// decodeHex decodes src (2*len(dst) hex digits) into dst and reports whether
// every digit was valid. It checks once per value rather than per digit,
// which makes it about twice as fast as encoding/hex on geometries.
func decodeHex(dst, src []byte) bool {
	src = src[:2*len(dst)]
	var bad byte
	for i := range dst {
		h, l := unhex[src[2*i]], unhex[src[2*i+1]]
		bad |= h | l
		dst[i] = h<<4 | l
	}
	return bad < 0x10
}

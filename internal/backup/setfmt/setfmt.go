// Package setfmt is the backup set's format: the manifest, its entries and
// their kinds, and the checks of a set's files against it. It is what
// backups/README.md documents, what a set written by any version of osgs
// is read with, and what the sinks (a local folder, a remote store) and
// the restores agree on.
package setfmt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/refusal"
)

// Format names the set layout; a manifest with another format is foreign.
const Format = "osgs-backup/1"

// ManifestName is the manifest's file name inside a set.
const ManifestName = "manifest.json"

// Kinds of file in a set.
const (
	KindGlobals  = "globals"  // pg_dumpall --globals-only, plain SQL
	KindDatabase = "database" // pg_dump -Fc -Z0 of one database
	KindVolume   = "volume"   // tar stream of a named volume
	KindConfig   = "config"   // a configuration file, uncompressed
)

// Entry is one file of a set.
type Entry struct {
	Path     string `json:"path"` // relative to the set folder, slash-separated
	Service  string `json:"service"`
	Kind     string `json:"kind"`
	Size     int64  `json:"size"`
	RawSize  int64  `json:"raw_size,omitempty"`
	SHA256   string `json:"sha256"`
	Database string `json:"database,omitempty"`
	Volume   string `json:"volume,omitempty"`
	// PostgreSQL facts of a database or globals dump.
	PostgreSQL string `json:"postgresql_version,omitempty"`
	PostGIS    string `json:"postgis_version,omitempty"`
	// Image is the image the data came from, and its ID.
	Image       string `json:"image,omitempty"`
	ImageDigest string `json:"image_digest,omitempty"`
	// Stats describe a database in the dump's snapshot, for backup:verify.
	Stats *DBStats `json:"stats,omitempty"`
	// Tar summarizes a volume archive's entries, for backup:verify.
	Tar *TarSummary `json:"tar,omitempty"`
}

// Manifest describes a set.
type Manifest struct {
	Format      string    `json:"format"`
	OSGSVersion string    `json:"osgs_version"`
	Project     string    `json:"project"`
	Created     time.Time `json:"created"`
	Files       []Entry   `json:"files"`
}

// ReadManifest loads and checks a set's manifest.
func ReadManifest(setDir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(setDir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a backup set: no %s", setDir, ManifestName)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: corrupt manifest: %v", setDir, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%s: foreign backup format %q (want %q)", setDir, m.Format, Format)
	}
	for _, f := range m.Files {
		if f.Path == "" || strings.Contains(f.Path, "..") || filepath.IsAbs(f.Path) {
			return nil, fmt.Errorf("%s: manifest names an unsafe path %q", setDir, f.Path)
		}
	}
	return &m, nil
}

// ChecksumError reports a file whose content does not match the manifest.
type ChecksumError struct {
	Path, Reason string
}

func (c *ChecksumError) Error() string {
	return fmt.Sprintf("backup file %s is corrupt or truncated (%s): refusing to use it", c.Path, c.Reason)
}

// Is makes a corrupt file a refusal (exit code 2): nothing was used.
func (c *ChecksumError) Is(target error) bool { return target == refusal.Err }

// VerifyChecksums checks the size and sha256 of every file of the set
// (or only the entries for which keep returns true).
func VerifyChecksums(setDir string, m *Manifest, keep func(Entry) bool) error {
	for _, f := range m.Files {
		if keep != nil && !keep(f) {
			continue
		}
		p := filepath.Join(setDir, filepath.FromSlash(f.Path))
		sum, n, err := FileSHA256(p)
		if err != nil {
			return &ChecksumError{Path: p, Reason: err.Error()}
		}
		if n != f.Size {
			return &ChecksumError{Path: p, Reason: fmt.Sprintf("%d bytes, manifest says %d", n, f.Size)}
		}
		if sum != f.SHA256 {
			return &ChecksumError{Path: p, Reason: "sha256 mismatch"}
		}
	}
	return nil
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// DBStats describe a database's content: what backup:verify compares after
// restoring a dump into a throwaway server.
type DBStats struct {
	Tables         map[string]int64  `json:"tables"`           // schema.table -> rows
	Extensions     map[string]string `json:"extensions"`       // name -> version
	GeometryColumn []string          `json:"geometry_columns"` // schema.table.column type srid dims
	// GeometryDigest is, per schema.table.column, an order-independent digest
	// of the md5 of every geometry's EWKB: the sum of each md5's first 60 bits.
	GeometryDigest map[string]string `json:"geometry_md5"`
	// CustomSRIDs are the spatial_ref_sys entries the user added (neither
	// EPSG's nor ESRI's, which PostGIS ships).
	CustomSRIDs []int `json:"custom_srids,omitempty"`
}

// TarSummary describes a volume archive's entries, so that verify can read
// the archive to its end and check that it holds what was written: a torn
// or short archive, or one whose checksum still matches a file that lost
// entries, is caught.
type TarSummary struct {
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`  // content of regular files
	Digest  string `json:"digest"` // sha256 over every header: type, name, size, mode, owner, link, mtime
}

// Diff lists the differences between want (at backup) and got (restored).
func (want *DBStats) Diff(got *DBStats) []string {
	var d []string
	for _, k := range sortedKeys(want.Tables) {
		if g, ok := got.Tables[k]; !ok {
			d = append(d, "table "+k+" missing")
		} else if g != want.Tables[k] {
			d = append(d, fmt.Sprintf("table %s has %d rows, backup had %d", k, g, want.Tables[k]))
		}
	}
	for _, k := range sortedKeys(want.Extensions) {
		switch g, ok := got.Extensions[k]; {
		case !ok:
			d = append(d, fmt.Sprintf("extension %s missing (backup had %s)", k, want.Extensions[k]))
		case g != want.Extensions[k]:
			d = append(d, fmt.Sprintf("extension %s is %q, backup had %q", k, g, want.Extensions[k]))
		}
	}
	for _, c := range want.GeometryColumn {
		if !slices.Contains(got.GeometryColumn, c) {
			d = append(d, "geometry column "+c+" missing")
		}
	}
	for _, c := range got.GeometryColumn {
		if !slices.Contains(want.GeometryColumn, c) {
			d = append(d, "geometry column "+c+" was not in the backup")
		}
	}
	for _, k := range sortedKeys(want.GeometryDigest) {
		if got.GeometryDigest[k] != want.GeometryDigest[k] {
			d = append(d, "geometries of "+k+" differ")
		}
	}
	for _, srid := range want.CustomSRIDs {
		if !slices.Contains(got.CustomSRIDs, srid) {
			d = append(d, fmt.Sprintf("custom SRID %d missing from spatial_ref_sys", srid))
		}
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

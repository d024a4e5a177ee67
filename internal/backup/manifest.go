package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
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

// VerifyChecksums checks the size and sha256 of every file of the set
// (or only the entries for which keep returns true).
func VerifyChecksums(setDir string, m *Manifest, keep func(Entry) bool) error {
	for _, f := range m.Files {
		if keep != nil && !keep(f) {
			continue
		}
		p := filepath.Join(setDir, filepath.FromSlash(f.Path))
		sum, n, err := fileSHA256(p)
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

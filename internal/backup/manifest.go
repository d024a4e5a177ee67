package backup

import "github.com/osgs/osgs/internal/backup/setfmt"

// The set format lives in internal/backup/setfmt; these names keep the
// backup package's callers reading as before.
const (
	Format       = setfmt.Format
	ManifestName = setfmt.ManifestName
	KindGlobals  = setfmt.KindGlobals
	KindDatabase = setfmt.KindDatabase
	KindVolume   = setfmt.KindVolume
	KindConfig   = setfmt.KindConfig
)

type (
	Entry         = setfmt.Entry
	Manifest      = setfmt.Manifest
	ChecksumError = setfmt.ChecksumError
	DBStats       = setfmt.DBStats
	TarSummary    = setfmt.TarSummary
)

// ReadManifest loads and checks a set's manifest.
func ReadManifest(setDir string) (*Manifest, error) { return setfmt.ReadManifest(setDir) }

// VerifyChecksums checks the size and sha256 of a set's files.
func VerifyChecksums(setDir string, m *Manifest, keep func(Entry) bool) error {
	return setfmt.VerifyChecksums(setDir, m, keep)
}

func fileSHA256(path string) (string, int64, error) { return setfmt.FileSHA256(path) }

package setfmt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadManifestAndChecksums(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.zst"), []byte("abc"), 0o600)
	write := func(m string) { os.WriteFile(filepath.Join(dir, ManifestName), []byte(m), 0o600) }
	good := `{"format":"osgs-backup/1","project":"p","created":"2026-12-02T00:00:00Z","files":[{"path":"a.zst","service":"s","kind":"volume","size":3,
	  "sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]}`
	write(good)
	m, err := ReadManifest(dir)
	if err != nil || len(m.Files) != 1 {
		t.Fatalf("ReadManifest = %+v, %v", m, err)
	}
	if err := VerifyChecksums(dir, m, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.zst"), []byte("abd"), 0o600)
	var ce *ChecksumError
	if err := VerifyChecksums(dir, m, nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("a changed byte: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "a.zst"), []byte("ab"), 0o600)
	if err := VerifyChecksums(dir, m, nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), "2 bytes, manifest says 3") {
		t.Fatalf("a short file: %v", err)
	}
	for m, want := range map[string]string{
		`{`:                    "corrupt manifest",
		`{"format":"other/9"}`: "foreign backup format",
		`{"format":"osgs-backup/1","files":[{"path":"../x"}]}`:        "unsafe path",
		`{"format":"osgs-backup/1","files":[{"path":"/etc/passwd"}]}`: "unsafe path",
	} {
		write(m)
		if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", m, err, want)
		}
	}
	if _, err := ReadManifest(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is not a backup set") {
		t.Fatalf("no manifest: %v", err)
	}
}

func TestDiff(t *testing.T) {
	want := &DBStats{Tables: map[string]int64{"public.a": 3}, Extensions: map[string]string{"postgis": "3.3"},
		GeometryColumn: []string{"public.a.geom Point 4326 2"}, GeometryDigest: map[string]string{"public.a.geom": "1:3"}, CustomSRIDs: []int{990001}}
	if d := want.Diff(want); len(d) != 0 {
		t.Fatalf("a set differs from itself: %v", d)
	}
	got := &DBStats{Tables: map[string]int64{"public.a": 2}, Extensions: map[string]string{}, GeometryDigest: map[string]string{"public.a.geom": "9:3"}}
	d := strings.Join(want.Diff(got), "; ")
	for _, w := range []string{"table public.a has 2 rows, backup had 3", "extension postgis missing", "geometry column public.a.geom Point 4326 2 missing", "geometries of public.a.geom differ", "custom SRID 990001"} {
		if !strings.Contains(d, w) {
			t.Errorf("Diff lacks %q: %s", w, d)
		}
	}
}

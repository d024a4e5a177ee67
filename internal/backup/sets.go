package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// VerifiedName marks a set whose checks passed; it is written by Verify
// next to the manifest and is not part of the set's checksums.
const VerifiedName = "verified.json"

// Info describes a stored set.
type Info struct {
	Name     string
	Dir      string
	Created  time.Time
	Size     int64
	Files    int
	Verified bool
	Err      error  // the manifest could not be read
	Note     string // shown instead of VERIFIED (a remote set's upload that did not finish)
}

// List returns the sets in root, newest first.
func List(root string) ([]Info, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, en := range entries {
		if !en.IsDir() || strings.HasPrefix(en.Name(), ".") {
			continue
		}
		t, err := time.Parse(TimeFormat, en.Name())
		if err != nil {
			continue // not a set folder
		}
		dir := filepath.Join(root, en.Name())
		info := Info{Name: en.Name(), Dir: dir, Created: t}
		m, err := ReadManifest(dir)
		if err != nil {
			info.Err = err
		} else {
			info.Files = len(m.Files)
			for _, f := range m.Files {
				info.Size += f.Size
			}
		}
		_, verr := os.Stat(filepath.Join(dir, VerifiedName))
		info.Verified = verr == nil
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// PrintList writes a table of sets.
func PrintList(w io.Writer, sets []Info, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SET\tAGE\tSIZE\tFILES\tVERIFIED")
	for _, s := range sets {
		verified := "no"
		if s.Verified {
			verified = "yes"
		}
		if s.Err != nil {
			verified = "unreadable manifest"
		}
		if s.Note != "" {
			verified = s.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, ago(now.Sub(s.Created)), postgis.HumanBytes(s.Size), s.Files, verified)
	}
	tw.Flush()
}

func ago(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// Policy says which sets prune keeps. Zero fields keep nothing by that rule.
type Policy struct {
	Last    int // the newest N sets
	Daily   int // the newest set of each of the last N days that have sets
	Weekly  int // ... of each of the last N ISO weeks
	Monthly int // ... of each of the last N months
}

func (p Policy) empty() bool { return p.Last == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 }

// Keep decides which sets to keep (sets are newest first). The newest
// verified set is always kept, and so is the newest set when none is verified.
func Keep(sets []Info, p Policy) map[string]bool {
	keep := map[string]bool{}
	for i := 0; i < len(sets) && i < p.Last; i++ {
		keep[sets[i].Name] = true
	}
	bucket := func(n int, key func(time.Time) string) {
		seen := map[string]bool{}
		for _, s := range sets {
			if len(seen) >= n {
				break
			}
			k := key(s.Created.UTC())
			if !seen[k] {
				seen[k] = true
				keep[s.Name] = true
			}
		}
	}
	bucket(p.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) })
	bucket(p.Monthly, func(t time.Time) string { return t.Format("2006-01") })
	protected := false
	for _, s := range sets {
		if s.Verified {
			keep[s.Name], protected = true, true
			break
		}
	}
	if !protected && len(sets) > 0 {
		keep[sets[0].Name] = true
	}
	return keep
}

// Prune deletes the sets the policy does not keep and returns their names.
// With dryRun it only reports them.
func Prune(root string, p Policy, dryRun bool) ([]string, error) {
	if p.empty() {
		return nil, errors.New("prune needs a policy: -keep=N and/or -daily=N, -weekly=N, -monthly=N")
	}
	lock, err := LockDir(root)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	sets, err := List(root)
	if err != nil {
		return nil, err
	}
	keep := Keep(sets, p)
	var gone []string
	for _, s := range sets {
		if keep[s.Name] {
			continue
		}
		gone = append(gone, s.Name)
		if !dryRun {
			if err := os.RemoveAll(s.Dir); err != nil {
				return gone, err
			}
		}
	}
	return gone, nil
}

// markVerified records a passed verification.
func markVerified(dir string, what []string, now time.Time) error {
	data, _ := json.MarshalIndent(map[string]any{"verified": now.UTC(), "checks": what}, "", "  ")
	_, err := writePlainReplace(filepath.Join(dir, VerifiedName), data)
	return err
}

func writePlainReplace(path string, data []byte) (int, error) {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if _, err := writePlain(tmp, strings.NewReader(string(data)+"\n"), nil, nil); err != nil {
		return 0, err
	}
	return len(data), os.Rename(tmp, path)
}

// RestoreSet restores everything a set holds for the enabled services:
// PostGIS roles and databases, then volumes. Checksums are checked first.
func RestoreSet(ctx context.Context, e *engine.Engine, src *Source, yes bool) error {
	if src.SetDir == "" {
		return fmt.Errorf("%s is a file; backup:restore takes a set (use postgis:restore for a single dump)", src.File)
	}
	if err := CheckSignature(e, src.SetDir); err != nil {
		return err
	}
	if err := VerifyChecksums(src.SetDir, src.Manifest, nil); err != nil {
		return err
	}
	var vols []Entry
	for _, f := range src.Manifest.Files {
		if f.Kind == KindVolume {
			if err := e.CheckServices(f.Service); err != nil {
				return err
			}
			vols = append(vols, f)
		}
	}
	if !yes {
		var what []string
		if hasPostGIS(src.Manifest) {
			what = append(what, "PostGIS roles and databases")
		}
		for _, v := range vols {
			what = append(what, "volume "+v.Service+"/"+v.Volume)
		}
		return &engine.ConfirmError{What: "replace " + strings.Join(what, ", ") + " from " + src.SetDir}
	}
	lock, err := lockForRestore(e)
	if err != nil {
		return err
	}
	defer lock.Close()
	if hasPostGIS(src.Manifest) {
		if err := restorePostGIS(ctx, e, RestorePostGISOptions{Source: src, Yes: true}); err != nil {
			return err
		}
	}
	for _, v := range vols {
		if err := RestoreVolume(ctx, e, src.SetDir, v); err != nil {
			return err
		}
	}
	return nil
}

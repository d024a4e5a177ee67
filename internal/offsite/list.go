package offsite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/remote"
)

// incompleteNote marks a set whose upload did not finish.
const incompleteNote = "incomplete upload"

// List returns the remote sets, newest first, with the columns of
// backup:list. Sets whose upload did not finish are listed with a note.
func (r *Remote) List(ctx context.Context) ([]backup.Info, error) {
	objs, err := r.Store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	bySet := map[string][]remote.Object{}
	for _, o := range objs {
		set, _, ok := strings.Cut(o.Key, "/")
		if _, err := time.Parse(backup.TimeFormat, set); ok && err == nil {
			bySet[set] = append(bySet[set], o)
		}
	}
	var out []backup.Info
	for set, objs := range bySet {
		t, _ := time.Parse(backup.TimeFormat, set)
		info := backup.Info{Name: set, Dir: r.String() + set + "/", Created: t}
		for _, o := range objs {
			switch path.Base(o.Key) {
			case VerifiedName:
				info.Verified = true
			}
			info.Size += o.Size
		}
		ix, err := r.readIndex(ctx, set)
		switch {
		case errors.Is(err, os.ErrNotExist):
			info.Note = incompleteNote
		case err != nil:
			info.Err = err
		default:
			info.Files = 0 // the manifest and its signature are not the set's files
			for _, f := range ix.Files {
				if f.Path != backup.ManifestName && f.Path != backup.SignatureName {
					info.Files++
				}
			}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// PruneResult says what a remote prune did.
type PruneResult struct {
	Gone   []string // sets deleted (or, with a dry run, to delete)
	Locked []string // sets a retention kept, with the reason
}

// Prune deletes the remote sets p does not keep, by the rules of
// backup.Keep (the newest verified set always stays), and the leftovers of
// uploads that did not finish. A set that the bucket's retention (S3 Object
// Lock) protects is kept and reported. The caller holds the backups lock,
// so no push of this checkout is running.
func (r *Remote) Prune(ctx context.Context, p backup.Policy, dryRun bool) (*PruneResult, error) {
	if p == (backup.Policy{}) {
		return nil, errors.New("prune needs a policy: -keep=N and/or -daily=N, -weekly=N, -monthly=N")
	}
	sets, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	var complete []backup.Info
	for _, s := range sets {
		if s.Note == "" && s.Err == nil {
			complete = append(complete, s)
		}
	}
	keep := backup.Keep(complete, p)
	res := &PruneResult{}
	for _, s := range sets {
		if keep[s.Name] || s.Err != nil {
			continue
		}
		if dryRun {
			res.Gone = append(res.Gone, s.Name)
			continue
		}
		err := r.deleteSet(ctx, s.Name)
		var locked *remote.LockedError
		if errors.As(err, &locked) {
			res.Locked = append(res.Locked, fmt.Sprintf("%s (%v)", s.Name, locked))
			continue
		}
		if err != nil {
			return res, err
		}
		res.Gone = append(res.Gone, s.Name)
	}
	return res, nil
}

// deleteSet removes a set, its index first so that it stops looking
// complete at once.
func (r *Remote) deleteSet(ctx context.Context, set string) error {
	if err := r.Store.Delete(ctx, path.Join(set, IndexName)); err != nil {
		return err
	}
	return r.clearIncomplete(ctx, set)
}

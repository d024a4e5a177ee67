package offsite

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/seal"
	"github.com/osgs/osgs/internal/setsign"
	"github.com/osgs/osgs/internal/watch"
)

// The verbs below are what the backup:push, pull, remote and keygen targets
// call: each opens the destination, takes the backups lock where it reads or
// writes local sets, and does one thing.

// IdentityKey names the age identity file pull uses when -identity is not given.
const IdentityKey = backup.IdentityKey

// PushSet pushes the local set called set (the newest complete one when
// empty) to the destination called to.
func PushSet(ctx context.Context, e *engine.Engine, root, set, to string) (*PushResult, error) {
	r, err := Open(ctx, e, to)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	lock, err := backup.LockDir(root)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	dir, err := localSet(root, set)
	if err != nil {
		return nil, err
	}
	res, err := r.Push(ctx, dir, time.Now())
	if err != nil {
		return nil, err
	}
	return res, watch.RecordPush(root, r.Name, r.String(), res.Set, time.Now())
}

// localSet finds a complete local set by name, or the newest one.
func localSet(root, set string) (string, error) {
	if set != "" {
		dir := filepath.Join(root, set)
		if _, err := backup.ReadManifest(dir); err != nil {
			return "", err
		}
		return dir, nil
	}
	sets, err := backup.List(root)
	if err != nil {
		return "", err
	}
	for _, s := range sets {
		if s.Err == nil {
			return s.Dir, nil
		}
	}
	return "", fmt.Errorf("no backup set in %s to push: run backup:all first", root)
}

// PullSet pulls set from the destination called from into root, opening
// it with the identity file (or BACKUP_AGE_IDENTITY).
func PullSet(ctx context.Context, e *engine.Engine, root, set, from, identity string) (string, error) {
	idFile := backup.IdentityFile(e, identity)
	ids, err := seal.Identities(idFile)
	if err != nil {
		return "", err
	}
	// backup:keygen writes the site's signing key into the identity file:
	// a new server that pulls with it trusts the old server's sets.
	var named []ed25519.PublicKey
	if b, err := os.ReadFile(idFile); err == nil {
		named = setsign.KeysInComments(string(b))
	}
	r, err := Open(ctx, e, from)
	if err != nil {
		return "", err
	}
	defer r.Close()
	lock, err := backup.LockDir(root)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	return r.Pull(ctx, root, set, ids, named...)
}

// ListSets lists the sets at the destination called from.
func ListSets(ctx context.Context, e *engine.Engine, from string) ([]backup.Info, string, error) {
	r, err := Open(ctx, e, from)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	sets, err := r.List(ctx)
	return sets, r.String(), err
}

// PruneAll applies p at every configured destination (only the one called
// to, when given). It returns what each did; with no destination it does
// nothing.
func PruneAll(ctx context.Context, e *engine.Engine, root, to string, p backup.Policy, dryRun bool) (map[string]*PruneResult, error) {
	dests, err := Destinations(e)
	if err != nil || len(dests) == 0 && to == "" {
		return nil, err
	}
	lock, err := backup.LockDir(root)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	out := map[string]*PruneResult{}
	var errs []error
	for _, d := range dests {
		if to != "" && d.Name != to {
			continue
		}
		r, err := Open(ctx, e, d.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := r.Prune(ctx, p, dryRun)
		r.Close()
		out[r.String()] = res
		if err != nil {
			errs = append(errs, fmt.Errorf("prune %s: %w", d.Name, err))
		}
	}
	return out, errors.Join(errs...)
}

// PruneEverywhere applies p to the local sets, then at every destination,
// writing a line to w (after prefix) for each set deleted, or kept by a
// retention.
func PruneEverywhere(ctx context.Context, e *engine.Engine, root string, p backup.Policy, dryRun bool, w io.Writer, prefix string) error {
	gone, err := backup.Prune(root, p, dryRun)
	for _, g := range gone {
		fmt.Fprintf(w, "%spruned %s\n", prefix, g)
	}
	if err != nil {
		return err
	}
	res, err := PruneAll(ctx, e, root, "", p, dryRun)
	for _, where := range slices.Sorted(maps.Keys(res)) {
		for _, g := range res[where].Gone {
			fmt.Fprintf(w, "%spruned %s%s\n", prefix, where, g)
		}
		for _, l := range res[where].Locked {
			fmt.Fprintf(w, "%skept %s%s\n", prefix, where, l)
		}
	}
	return err
}

// DefaultIdentityFile is where backup:keygen writes the identity: in the
// checkout, outside config/ (so that no backup set holds it) and ignored
// by git. The admin moves it off the server.
const DefaultIdentityFile = backup.DefaultIdentityFile

// Keygen makes a key pair, writes the identity to out (DefaultIdentityFile
// when empty) and adds the public key to BACKUP_AGE_RECIPIENTS in .env.
func Keygen(e *engine.Engine, out string) (path, pub string, err error) {
	if out == "" {
		out = filepath.Join(e.Dir, DefaultIdentityFile)
	}
	if err := e.Configured(); err != nil {
		return "", "", err
	}
	signer, err := backup.Signer(e)
	if err != nil {
		return "", "", err
	}
	pub, err = seal.Keygen(out, time.Now(), "backup signing key: "+setsign.Public(signer.Public().(ed25519.PublicKey)))
	if err != nil {
		return "", "", err
	}
	e.Env.Set(seal.RecipientsKey, seal.AddRecipient(e.Env.Value(seal.RecipientsKey), pub))
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		return "", "", err
	}
	abs, _ := filepath.Abs(out)
	return abs, pub, nil
}

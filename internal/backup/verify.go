package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/postgis"
)

// scratch is a throwaway PostGIS server from a backup's image, with no
// network and an anonymous volume removed with it.
type scratch struct {
	e  *engine.Engine
	id string
}

func startScratch(ctx context.Context, e *engine.Engine, image, db string) (*scratch, error) {
	pw, err := envfile.NewSecret(envfile.SecretLength)
	if err != nil {
		return nil, err
	}
	res, err := e.Docker().ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image:  image,
			Env:    []string{"POSTGRES_USER=" + postgis.Load(e).User, "POSTGRES_DBS=" + db, "POSTGIS_PITR=off"}, // no WAL archiving in a throwaway
			Labels: map[string]string{api.ProjectLabel: e.ProjectName(), api.OneoffLabel: "True", "org.osgs.helper": "verify"},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		return nil, fmt.Errorf("create scratch server from %s: %w", image, err)
	}
	s := &scratch{e: e, id: res.ID}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "run/secrets/", Mode: 0o755, Typeflag: tar.TypeDir})
	tw.WriteHeader(&tar.Header{Name: "run/secrets/postgres_password", Mode: 0o444, Size: int64(len(pw))})
	tw.Write([]byte(pw))
	tw.Close()
	if _, err := e.Docker().CopyToContainer(ctx, s.id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
		s.remove()
		return nil, fmt.Errorf("scratch server: %w", err)
	}
	if _, err := e.Docker().ContainerStart(ctx, s.id, client.ContainerStartOptions{}); err != nil {
		s.remove()
		return nil, fmt.Errorf("start scratch server: %w", err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if e.Exec(ctx, s.id, []string{"osgs-healthcheck"}, engine.ExecOptions{}) == nil {
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.remove()
			return nil, errors.New("scratch server did not become ready")
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (s *scratch) remove() {
	_, _ = s.e.Docker().ContainerRemove(context.Background(), s.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
}

// verifyDatabase restores one dump (after the set's roles) into a scratch
// server and compares its stats with those recorded at backup time.
func verifyDatabase(ctx context.Context, e *engine.Engine, setDir string, globals *Entry, f Entry) error {
	image := f.ImageDigest
	if image == "" {
		image = f.Image
	}
	s, err := startScratch(ctx, e, image, f.Database)
	if err != nil {
		return err
	}
	defer s.remove()
	if globals != nil {
		if err := restoreGlobals(ctx, e, s.id, filepath.Join(setDir, globals.Path)); err != nil {
			return err
		}
	}
	if err := restoreDump(ctx, e, s.id, filepath.Join(setDir, f.Path), f.Database); err != nil {
		return err
	}
	if f.Stats == nil {
		return nil // made with -nostats: restoring without error is all there is to check
	}
	sess := openSession(ctx, e, s.id, f.Database)
	got, err := readStats(sess)
	sess.close()
	if err != nil {
		return err
	}
	if d := f.Stats.Diff(got); len(d) > 0 {
		return fmt.Errorf("restored %s differs from the backup: %s", f.Database, strings.Join(d, "; "))
	}
	return nil
}

// Verify checks every sha256 of a set, then restores each database into a
// throwaway server from the same image and compares tables and row counts,
// extensions, geometry_columns and geometry digests. A set that passes is
// marked verified.
func Verify(ctx context.Context, e *engine.Engine, root, set string) error {
	if err := e.Connect(ctx); err != nil {
		return err
	}
	src, err := Resolve(root, set)
	if err != nil {
		return err
	}
	if src.SetDir == "" {
		return fmt.Errorf("%s is a file, not a set", src.File)
	}
	if err := CheckSignature(e, src.SetDir); err != nil {
		return err
	}
	if err := VerifyChecksums(src.SetDir, src.Manifest, nil); err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: signed by this site; %d files match their sha256\n", len(src.Manifest.Files))
	checks := []string{"signature", "sha256"}
	var globals *Entry
	for _, f := range src.Manifest.Files {
		if f.Kind == KindGlobals {
			f := f
			globals = &f
		}
	}
	for _, f := range src.Manifest.Files {
		if f.Kind != KindVolume {
			continue
		}
		if err := verifyVolume(e, src.SetDir, f); err != nil {
			return err
		}
		if f.Tar == nil {
			checks = append(checks, "read:"+f.Path)
			continue
		}
		fmt.Fprintf(e.Err, "osgs: %s reads to its end and matches: %d entries, %s\n", f.Path, f.Tar.Entries, postgis.HumanBytes(f.Tar.Bytes))
		checks = append(checks, "entries:"+f.Path)
	}
	for _, f := range src.Manifest.Files {
		if f.Kind != KindDatabase {
			continue
		}
		if err := verifyDatabase(ctx, e, src.SetDir, globals, f); err != nil {
			return err
		}
		if f.Stats == nil {
			fmt.Fprintf(e.Err, "osgs: %s restores (the set has no stats to compare: made with -nostats)\n", f.Database)
			checks = append(checks, "restore:"+f.Database)
			continue
		}
		fmt.Fprintf(e.Err, "osgs: %s restores and matches: %d tables, %d geometry columns\n", f.Database, len(f.Stats.Tables), len(f.Stats.GeometryDigest))
		checks = append(checks, "restore+compare:"+f.Database)
	}
	fmt.Fprintf(e.Out, "%s verified\n", src.SetDir)
	return markVerified(src.SetDir, checks, time.Now())
}

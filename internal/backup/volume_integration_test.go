package backup_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

// A service that keeps files in a volume, added to the test's checkout the
// way a new service is added: one folder, then regeneration.
const filesService = `services:
  files:
    x-osgs:
      description: test service keeping files in a volume
      quiesce: pause
      volumes:
        - name: files-data
          path: /srv/data
          backup: true
    profiles: [files]
    image: osgs/postgis:15-3.3-bookworm
    entrypoint: ["sleep", "infinity"]
    volumes:
      - files-data:/srv/data
volumes:
  files-data:
`

const listing = `cd /srv/data && find . -printf '%p %U:%G %m %Ts %y %l\n' | sort` // the archive API keeps mtimes to the second

func TestVolumeRoundTrip(t *testing.T) {
	// PostGIS first: it builds the image the test service borrows.
	ctx, co, e := testenv.Start(t, 15*time.Minute, map[string]string{"files": filesService}, postgis.Service, "files")
	sh := func(script string) string {
		t.Helper()
		out, err := e.Output(ctx, "files", "root", "sh", "-c", script)
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return string(out)
	}
	sh(`cd /srv/data && mkdir -p project/svg && echo '<qgis/>' > project/map.qgs && chmod 640 project/map.qgs &&
	    chown 1234:5678 project/map.qgs && printf 'x' > project/svg/icon.svg && chmod 2755 project/svg &&
	    ln -s map.qgs project/current.qgs && touch -h -d '2020-01-02 03:04:05' project/current.qgs project/map.qgs`)
	before := sh(listing)

	root := filepath.Join(co.Dir, "backups")
	set, err := backup.Run(ctx, e, backup.Options{Root: root, Services: []string{"files"}})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(set, "files", "files-data.tar.zst")
	paused := func() bool {
		t.Helper()
		id, err := e.ContainerOf(ctx, "files")
		if err != nil {
			t.Fatal(err)
		}
		insp, err := e.Docker().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return insp.Container.State.Paused
	}
	if paused() {
		t.Fatal("the backup left the service paused")
	}

	t.Run("a quiesced service is resumed even when the backup was cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		resume, err := backup.Quiesce(cctx, e, "files", "pause")
		if err != nil {
			t.Fatal(err)
		}
		if !paused() {
			t.Fatal("pause did not pause")
		}
		cancel() // Ctrl-C or SIGTERM
		if err := resume(); err != nil || paused() {
			t.Fatalf("resume after cancel: %v, paused %v", err, paused())
		}
	})

	t.Run("verify reads the archive to its end", func(t *testing.T) {
		m := mustManifestOf(t, set)
		for _, f := range m.Files {
			if f.Kind == backup.KindVolume && (f.Tar == nil || f.Tar.Entries < 6) {
				t.Fatalf("volume entry without its tar summary: %+v", f)
			}
		}
		if err := backup.Verify(ctx, e, root, filepath.Base(set)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stock zstd and tar extract it with owners, modes, links and times", func(t *testing.T) {
		dst := t.TempDir()
		cmd := exec.Command("sh", "-c", `zstd -d < "$A" | tar -x --numeric-owner -C "$D"`)
		cmd.Env = append(os.Environ(), "A="+archive, "D="+dst)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		info, err := os.Lstat(filepath.Join(dst, "data", "project", "map.qgs"))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o640 || info.ModTime().UTC().Format(time.DateTime) != "2020-01-02 03:04:05" {
			t.Fatalf("map.qgs: %v %v", info.Mode(), info.ModTime().UTC())
		}
		if target, _ := os.Readlink(filepath.Join(dst, "data", "project", "current.qgs")); target != "map.qgs" {
			t.Fatalf("symlink -> %q", target)
		}
	})

	sh(`cd /srv/data && rm project/map.qgs && echo new > stray.txt && chmod 700 project/svg`)
	changed := sh(listing)

	t.Run("a restore that fails halfway leaves the old data", func(t *testing.T) {
		// The archive cut short: extraction fails part-way through.
		data, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "cut.tar.zst"), data[:len(data)/2], 0o600)
		err = backup.RestoreVolume(ctx, e, dir, backup.Entry{Service: "files", Kind: backup.KindVolume, Volume: "files-data", Path: "cut.tar.zst"})
		if err == nil {
			t.Fatal("a truncated archive restored")
		}
		if after := sh(listing); after != changed {
			t.Fatalf("a failed restore changed the volume:\n got %s\nwant %s", after, changed)
		}
		if left := sh(`ls -a /srv/data | grep -c '^\.osgs-' || true`); strings.TrimSpace(left) != "0" {
			t.Fatalf("%s staging folders left", left)
		}
	})
	src, err := backup.Resolve(root, filepath.Base(set))
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.RestoreSet(ctx, e, src, false); err == nil || !strings.Contains(err.Error(), "volume files/files-data") {
		t.Fatalf("without -yes: %v", err)
	}
	if err := backup.RestoreSet(ctx, e, src, true); err != nil {
		t.Fatal(err)
	}
	states, _ := e.States(ctx, "files")
	if states[0].State != "running" {
		t.Fatalf("files is %s after restore, want running again", states[0].State)
	}
	if after := sh(listing); after != before {
		t.Fatalf("volume differs after restore:\n got %s\nwant %s", after, before)
	}
}

func mustManifestOf(t *testing.T, dir string) *backup.Manifest {
	t.Helper()
	m, err := backup.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

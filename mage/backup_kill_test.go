package targets_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

// TestKilledBackupLeavesNoSet interrupts postgis:backup in the middle of its
// stream, with SIGTERM and then SIGKILL: no set may appear, SIGTERM must
// leave nothing behind, and the next backup must succeed.
func TestKilledBackupLeavesNoSet(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := mageBin(t)
	co := testenv.NewCheckout(t, nil)
	co.Cleanup(t)
	e := co.Engine(t)
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	// Enough incompressible rows that the dump takes a few seconds.
	if _, err := e.Output(ctx, postgis.Service, postgis.OSUser, postgis.PsqlArgs(postgis.Load(e), "gis", "-v", "ON_ERROR_STOP=1", "-qc",
		"CREATE TABLE big AS SELECT i, ST_SetSRID(ST_MakePoint(random(), random()), 4326) AS geom, md5(random()::text) || md5(random()::text) AS t FROM generate_series(1, 1500000) i")...); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(co.Dir, "backups")
	// interrupt starts postgis:backup, waits until the dump streams, and
	// sends sig. Its temporary folders go to tmp, to be checked.
	interrupt := func(sig syscall.Signal, tmp string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "postgis:backup")
		cmd.Dir = co.Dir
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			matches, _ := filepath.Glob(filepath.Join(root, ".tmp-*", "postgis", "gis.dump.zst"))
			if len(matches) == 1 {
				if info, err := os.Stat(matches[0]); err == nil && info.Size() > 1<<20 {
					break
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the dump never started streaming")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(sig)
		return cmd
	}

	// SIGTERM is handled like Ctrl-C: the backup stops, cleans up after
	// itself (no set, no helper, no temporary folder) and exits non-zero.
	tmp := t.TempDir()
	cmd := interrupt(syscall.SIGTERM, tmp)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 || cmd.ProcessState.String() == "signal: terminated" {
		t.Fatalf("after SIGTERM: %v (exit %d), want a clean non-zero exit", err, code)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("SIGTERM left temporary folders: %v", left)
	}
	if sets, _ := backup.List(root); len(sets) != 0 {
		t.Fatalf("an interrupted backup left a set: %+v", sets)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 { // only .lock
		t.Fatalf("an interrupted backup left %v", entries)
	}
	helpers := func() int {
		t.Helper()
		f := client.Filters{}
		f.Add("label", backup.HelperLabel)
		f.Add("label", api.ProjectLabel+"="+co.Project)
		left, err := e.Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		return len(left.Items)
	}
	if n := helpers(); n != 0 {
		t.Fatalf("SIGTERM left %d helpers", n)
	}

	// SIGKILL cannot be handled: the next backup cleans up instead.
	cmd = interrupt(syscall.SIGKILL, t.TempDir())
	cmd.Wait()
	if sets, _ := backup.List(root); len(sets) != 0 {
		t.Fatalf("a killed backup left a set: %+v", sets)
	}

	r := runMage(t, bin, co.Dir, nil, "postgis:backup")
	if r.code != 0 {
		t.Fatalf("next backup: %+v", r)
	}
	sets, _ := backup.List(root)
	if len(sets) != 1 || !strings.Contains(r.stdout, sets[0].Name) {
		t.Fatalf("after the next backup: %+v", sets)
	}
	if n := helpers(); n != 0 {
		t.Fatalf("the killed backup's helper is still there: %d", n)
	}
	entries, _ := os.ReadDir(root)
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".tmp-") {
			t.Fatalf("leftover %s", en.Name())
		}
	}
	if err := backup.VerifyChecksums(sets[0].Dir, mustManifest(t, sets[0].Dir), nil); err != nil {
		t.Fatal(err)
	}
}

func mustManifest(t *testing.T, dir string) *backup.Manifest {
	m, err := backup.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

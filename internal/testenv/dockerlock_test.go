package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDockerLockSerialisesProcesses: a second process that takes the lock
// waits until the first one exits, and then gets it.
func TestDockerLockSerialisesProcesses(t *testing.T) {
	if os.Getenv("OSGS_DOCKERLOCK_CHILD") == "1" {
		if err := lockDocker(); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(2 * time.Second)
		return
	}
	cache := t.TempDir()
	child := func() (*exec.Cmd, *strings.Builder) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestDockerLockSerialisesProcesses$", "-test.v")
		cmd.Env = append(os.Environ(), "OSGS_DOCKERLOCK_CHILD=1", "XDG_CACHE_HOME="+cache)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	start := time.Now()
	a, aOut := child()
	time.Sleep(500 * time.Millisecond)
	b, bOut := child()
	if err := a.Wait(); err != nil {
		t.Fatalf("first: %v\n%s", err, aOut)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("second: %v\n%s", err, bOut)
	}
	if !strings.Contains(bOut.String(), "waiting for another test process") {
		t.Errorf("the second process did not wait:\n%s", bOut)
	}
	if d := time.Since(start); d < 4*time.Second {
		t.Errorf("both held the lock at once: done in %v, want at least 4 s", d)
	}
	fi, err := os.Stat(cache + "/osgs/docker-tests.lock")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v, want mode 0600", fi, err)
	}
}

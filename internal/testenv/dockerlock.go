package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// The engine is shared: two test binaries that start containers at once
// on two cores slow each other into timeouts. So the first test of a
// process that needs Docker takes a lock that the process holds until it
// exits (the kernel drops a flock with its holder, even a killed one), and
// a second such process waits for it. Test binaries without Docker tests
// never take it, so `go test ./...` builds and runs those beside the one
// that uses the engine, with go test's default parallelism.
var (
	dockerLockOnce sync.Once
	dockerLock     *os.File // held for the life of the process
	dockerLockErr  error
)

// DockerLockPath is where the lock lives: in this user's cache folder, not
// in a world-writable place where another user could hold it.
func DockerLockPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "osgs", "docker-tests.lock"), nil
}

func lockDocker() error {
	p, err := DockerLockPath()
	if err != nil {
		return fmt.Errorf("the Docker tests' lock: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("the Docker tests' lock: %w", err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("the Docker tests' lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: waiting for another test process that uses Docker to finish (%s)\n", p)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return fmt.Errorf("the Docker tests' lock %s: %w", p, err)
		}
	}
	dockerLock = f
	return nil
}

package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// UnitDir is where the units go.
const UnitDir = "/etc/systemd/system"

// SystemdRunning reports whether systemd is PID 1 (sd_booted's test).
func SystemdRunning() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// Write puts the units into dir (mode 0644: they hold no secret).
func Write(dir string, u Units) error {
	for name, text := range u {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Verify runs systemd-analyze verify on the units, written to a temporary
// folder, so that a unit systemd would refuse is never installed.
func Verify(ctx context.Context, u Units) error {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return nil // nothing to check with; systemd itself will
	}
	dir, err := os.MkdirTemp("", "osgs-units-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := Write(dir, u); err != nil {
		return err
	}
	args := []string{"verify"}
	for name := range u {
		args = append(args, filepath.Join(dir, name))
	}
	cmd := exec.CommandContext(ctx, analyze, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		return fmt.Errorf("systemd-analyze verify refuses the units: %s", strings.Join(strings.Fields(string(out)), " "))
	}
	return nil
}

// Install writes the units and starts the timer.
func Install(ctx context.Context, o Options) error {
	u, err := MakeUnits(o)
	if err != nil {
		return err
	}
	if err := Verify(ctx, u); err != nil {
		return err
	}
	if err := Write(UnitDir, u); err != nil {
		return err
	}
	_, timer, _ := Names(o.Project)
	return systemctl(ctx, [][]string{{"daemon-reload"}, {"enable", "--now", timer}})
}

// Uninstall stops the timer and removes the units; units that are not
// there are no error.
func Uninstall(ctx context.Context, project string) ([]string, error) {
	service, timer, failed := Names(project)
	_ = systemctl(ctx, [][]string{{"disable", "--now", timer}})
	var gone []string
	var errs []error
	for _, n := range []string{timer, service, failed} {
		err := os.Remove(filepath.Join(UnitDir, n))
		if err == nil {
			gone = append(gone, n)
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return gone, errors.Join(append(errs, systemctl(ctx, [][]string{{"daemon-reload"}}))...)
}

func systemctl(ctx context.Context, calls [][]string) error {
	for _, args := range calls {
		out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("systemctl %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
		}
	}
	return nil
}

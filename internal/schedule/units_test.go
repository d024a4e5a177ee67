package schedule

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func opts() Options {
	return Options{Project: "osgs", Dir: "/srv/osgs", Go: goBin(), At: DefaultAt, Delay: "15m",
		Args: []string{"-push", "-keep=7", "-daily=14"}, Path: "/usr/local/go/bin:/usr/bin:/bin", User: "gis", Home: "/home/gis"}
}

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func TestMakeUnits(t *testing.T) {
	u, err := MakeUnits(opts())
	if err != nil {
		t.Fatal(err)
	}
	service, timer, failed := Names("osgs")
	for name, want := range map[string][]string{
		service: {"Type=oneshot", "OnFailure=" + failed, "User=gis\n", "WorkingDirectory=/srv/osgs", "Environment=HOME=/home/gis\n", "ReadWritePaths=/srv/osgs -/home/gis/.cache -/home/gis/go\n", "ProtectSystem=strict", goBin() + " tool mage backup:job -push -keep=7 -daily=14"},
		timer:   {"OnCalendar=*-*-* 02:30:00", "Persistent=true", "RandomizedDelaySec=15m", "Unit=" + service, "WantedBy=timers.target"},
		failed:  {"backup:notify -unit=" + service},
	} {
		for _, w := range want {
			if !strings.Contains(u[name], w) {
				t.Errorf("%s lacks %q:\n%s", name, w, u[name])
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	for name, change := range map[string]func(*Options){
		"project":      func(o *Options) { o.Project = "Bad Name" },
		"relative dir": func(o *Options) { o.Dir = "srv" },
		"space in dir": func(o *Options) { o.Dir = "/srv/my osgs" },
		"empty at":     func(o *Options) { o.At = "" },
		"flag":         func(o *Options) { o.Args = []string{"-keep=7; rm -rf /"} },
		"no user":      func(o *Options) { o.User = "" },
		"user":         func(o *Options) { o.User = "root\nExecStartPre=/bin/sh" },
	} {
		o := opts()
		change(&o)
		if _, err := MakeUnits(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSystemdVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and systemd-analyze is missing (Debian package systemd)")
		}
		t.Skip("systemd-analyze is missing")
	}
	o := opts()
	o.Dir = t.TempDir()
	u, err := MakeUnits(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	// The check can fail: a unit systemd does not understand is refused.
	_, timer, _ := Names(o.Project)
	u[timer] = strings.Replace(u[timer], "OnCalendar=*-*-* 02:30:00", "OnCalendar=every other tuesday", 1)
	if err := Verify(context.Background(), u); err == nil {
		t.Fatal("a bad calendar passed verify")
	}
}

func TestCronLine(t *testing.T) {
	for at, want := range map[string]string{
		"*-*-* 02:30:00":     "30 2 * * *",
		"daily":              "0 0 * * *",
		"hourly":             "0 * * * *",
		"04:05":              "5 4 * * *",
		"Mon,Fri *-*-* 3:00": "0 3 * * 1,5",
		"Sun *-*-* 23:59":    "59 23 * * 0",
		"*-*-01 02:00":       "",
		"*-*-* 02:30:15":     "",
		"25:00":              "",
		"every tuesday":      "",
	} {
		o := opts()
		o.At = at
		line, err := CronLine(o)
		if want == "" {
			if err == nil {
				t.Errorf("CronLine(%q) = %q, want a refusal", at, line)
			}
			continue
		}
		if err != nil || !strings.HasPrefix(line, want+" cd /srv/osgs && ") || !strings.Contains(line, "backup:job -push -keep=7 -daily=14 >>/srv/osgs/backups/job.log 2>&1 || ") {
			t.Errorf("CronLine(%q) = %q, %v", at, line, err)
		}
	}
}

// TestSystemdSecurity: systemd's own rating of the job's sandbox.
func TestSystemdSecurity(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and systemd-analyze is missing (Debian package systemd)")
		}
		t.Skip("systemd-analyze is missing")
	}
	u, err := MakeUnits(opts())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write(dir, u); err != nil {
		t.Fatal(err)
	}
	service, _, _ := Names("osgs")
	out, _ := exec.Command("systemd-analyze", "security", "--offline=yes", filepath.Join(dir, service)).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security said:\n%s", out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 3.0 {
		t.Fatalf("exposure %.1f, want 3.0 or less:\n%s", score, out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}

// TestCheckoutOwner: the job runs the checkout's code as its owner, so a
// checkout someone else could change is refused.
func TestCheckoutOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("owners and modes of other users need root")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "mage"), 0o755)
	os.MkdirAll(filepath.Join(dir, "backups", "x"), 0o777)
	os.WriteFile(filepath.Join(dir, "magefile.go"), []byte("package main\n"), 0o644)
	if o, err := CheckoutOwner(dir); err != nil || o.Name != "root" || o.UID != 0 {
		t.Fatalf("%+v %v", o, err)
	}
	for name, spoil := range map[string]func() func(){
		"a group-writable file": func() func() {
			os.Chmod(filepath.Join(dir, "magefile.go"), 0o664)
			return func() { os.Chmod(filepath.Join(dir, "magefile.go"), 0o644) }
		},
		"a folder others can write": func() func() {
			os.Chmod(filepath.Join(dir, "mage"), 0o777)
			return func() { os.Chmod(filepath.Join(dir, "mage"), 0o755) }
		},
		"a file of another user": func() func() {
			os.Chown(filepath.Join(dir, "magefile.go"), 12345, 12345)
			return func() { os.Chown(filepath.Join(dir, "magefile.go"), 0, 0) }
		},
	} {
		undo := spoil()
		if _, err := CheckoutOwner(dir); err == nil || !strings.Contains(err.Error(), "refusing to schedule") {
			t.Errorf("%s: %v", name, err)
		}
		undo()
	}
}

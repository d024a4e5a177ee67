package schedule

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func opts() Options {
	return Options{Project: "osgs", Dir: "/srv/osgs", Go: goBin(), At: DefaultAt, Delay: "15m",
		Args: []string{"-push", "-keep=7", "-daily=14"}, Path: "/usr/local/go/bin:/usr/bin:/bin"}
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
		service: {"Type=oneshot", "OnFailure=" + failed, "WorkingDirectory=/srv/osgs", goBin() + " tool mage backup:job -push -keep=7 -daily=14"},
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

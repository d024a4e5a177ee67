package watch

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/osgs/osgs/internal/backup"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func sets(specs ...string) []backup.Info {
	var out []backup.Info
	for _, s := range specs { // "<hours ago>[v]"
		v := strings.HasSuffix(s, "v")
		h, _ := strconv.Atoi(strings.TrimSuffix(s, "v"))
		t := now.Add(-time.Duration(h) * time.Hour)
		out = append(out, backup.Info{Name: t.Format(backup.TimeFormat), Created: t, Verified: v, Size: 100})
	}
	return out
}

func TestCheck(t *testing.T) {
	failed := &State{LastRun: &Run{Started: now.Add(-time.Hour), OK: false, Step: "push", Error: "upload refused"}}
	for name, tc := range map[string]struct {
		st      *State
		local   []backup.Info
		remotes []Remote
		ok      bool
		want    string
	}{
		"fresh":             {&State{}, sets("1", "3v"), []Remote{{Name: "default", Sets: sets("3v")}}, true, "BACKUP OK"},
		"stale local":       {&State{}, sets("1", "30v"), nil, false, "newest verified set locally"},
		"none verified":     {&State{}, sets("1", "2"), nil, false, "no verified set locally"},
		"no sets":           {&State{}, nil, nil, false, "no verified set locally"},
		"stale remote":      {&State{}, sets("1v"), []Remote{{Name: "office", Sets: sets("40v")}}, false, "at office"},
		"unreachable":       {&State{}, sets("1v"), []Remote{{Name: "office", Err: io.ErrUnexpectedEOF}}, false, "destination office"},
		"last run failed":   {failed, sets("1v"), nil, false, "failed at push: upload refused"},
		"incomplete remote": {&State{}, sets("1v"), []Remote{{Name: "default", Sets: []backup.Info{{Name: "x", Created: now, Verified: true, Note: "incomplete upload"}}}}, false, "no verified set at default"},
	} {
		v := Check(tc.st, tc.local, tc.remotes, 26*time.Hour, now)
		if v.OK != tc.ok || !strings.Contains(v.Line, tc.want) || strings.Contains(v.Line, "\n") {
			t.Errorf("%s: %+v, want ok=%v and %q", name, v, tc.ok, tc.want)
		}
	}
}

func TestStateAndSummary(t *testing.T) {
	root := t.TempDir()
	if err := RecordRun(root, Run{Started: now.Add(-time.Minute), Finished: now, OK: true, Set: "a", Size: 42}); err != nil {
		t.Fatal(err)
	}
	if err := RecordRun(root, Run{Started: now, Finished: now, OK: false, Step: "verify", Error: "bad"}); err != nil {
		t.Fatal(err)
	}
	if err := RecordPush(root, "office", "sftp://u@h/p/", "a", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err := Load(root)
	if err != nil || st.LastSuccess.Set != "a" || st.LastRun.OK || st.Pushes["office"].Set != "a" {
		t.Fatalf("state = %+v, %v", st, err)
	}
	if fi, _ := os.Stat(filepath.Join(root, StateName)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	lines := strings.Join(Summary(st, sets("2", "5v"), now), "\n")
	for _, w := range []string{"last backup:   " + sets("2")[0].Name + " (2h0m0s ago)", "last verified: " + sets("5")[0].Name, "last push:     a to office sftp://u@h/p/ (1h0m0s ago)", "FAILED at verify"} {
		if !strings.Contains(lines, w) {
			t.Errorf("summary lacks %q:\n%s", w, lines)
		}
	}
	os.WriteFile(filepath.Join(root, StateName), []byte("{"), 0o600)
	if _, err := Load(root); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt state: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	st := &State{LastRun: &Run{Finished: now, OK: true}, LastSuccess: &Run{Started: now.Add(-90 * time.Second), Finished: now, OK: true, Size: 1234},
		Pushes: map[string]Push{"default": {At: now}}}
	path, err := WriteMetrics(t.TempDir(), "osgs", st, sets("1", "3v"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"osgs_backup_last_success_timestamp_seconds":  float64(now.Unix()),
		"osgs_backup_last_duration_seconds":           90,
		"osgs_backup_last_size_bytes":                 1234,
		"osgs_backup_last_verified_timestamp_seconds": float64(now.Add(-3 * time.Hour).Unix()),
		"osgs_backup_last_push_timestamp_seconds":     float64(now.Unix()),
		"osgs_backup_last_run_success":                1,
		"osgs_backup_sets":                            2,
	} {
		fam := fams[name]
		if fam == nil || fam.Metric[0].GetGauge().GetValue() != want {
			t.Errorf("%s = %v, want %v", name, fam, want)
		}
	}
}

func TestWebhook(t *testing.T) {
	got := make(chan map[string]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		got <- m
	}))
	defer srv.Close()
	env := map[string]string{WebhookKey: srv.URL + "/hook/s3cr3t-token"}
	n, err := NewNotifier(func(k string) string { return env[k] }, t.TempDir(), "osgs")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), "backup job failed: verify: boom"); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m["message"] != "backup job failed: verify: boom" || m["project"] != "osgs" {
		t.Fatalf("webhook got %v", m)
	}
	srv.Close()
	err = n.Send(context.Background(), "x")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("a failed webhook: %v (must fail without the URL's token)", err)
	}
	for _, bad := range []string{"http://203.0.113.1/x", "ftp://h/x", "::"} {
		env[WebhookKey] = bad
		if _, err := NewNotifier(func(k string) string { return env[k] }, "", "osgs"); err == nil {
			t.Errorf("webhook %q accepted", bad)
		}
	}
}

// TestMail sends through Debian's aiosmtpd on loopback and reads what it got.
// startSMTP runs Debian's aiosmtpd (no STARTTLS) on host and returns its
// address and its log of what it received.
func startSMTP(t *testing.T, host string) (string, io.Reader) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and python3-aiosmtpd is missing")
		}
		t.Skip("python3-aiosmtpd is missing")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(python, "-u", "-m", "aiosmtpd", "-n", "-d", "-l", addr, "-c", "aiosmtpd.handlers.Debugging")
	out, _ := cmd.StdoutPipe()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr, out
}

func TestMail(t *testing.T) {
	addr, out := startSMTP(t, "127.0.0.1")
	env := map[string]string{EmailKey: "gis-admin@example.org", SMTPKey: "smtp://" + addr, SMTPFromKey: "osgs@example.org"}
	n, err := NewNotifier(func(k string) string { return env[k] }, t.TempDir(), "osgs")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), "BACKUP CRITICAL: no verified set locally"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "no verified set locally") && strings.Contains(b.String(), "Subject:") {
				got <- b.String()
				return
			}
		}
	}()
	select {
	case msg := <-got:
		if !strings.Contains(msg, "gis-admin@example.org") {
			t.Fatalf("mail:\n%s", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived")
	}
}

// TestMailNeedsTLS: a relay reached over a network (a LAN address here)
// that offers no STARTTLS gets no mail: the alert, and a password, would
// cross it in clear.
func TestMailNeedsTLS(t *testing.T) {
	var host string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			host = ipn.IP.String()
			break
		}
	}
	if host == "" {
		t.Skip("no address but loopback")
	}
	addr, out := startSMTP(t, host)
	env := map[string]string{EmailKey: "gis-admin@example.org", SMTPKey: "smtp://" + addr, SMTPFromKey: "osgs@example.org"}
	n, err := NewNotifier(func(k string) string { return env[k] }, t.TempDir(), "osgs")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), "BACKUP CRITICAL: in clear"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "tls") {
		t.Fatalf("a relay without STARTTLS: %v", err)
	}
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(out); got <- string(b) }()
	select {
	case log := <-got:
		if strings.Contains(log, "in clear") {
			t.Fatal("the mail went out without TLS")
		}
	case <-time.After(2 * time.Second):
	}
}

func TestMailSettings(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no server":       {map[string]string{EmailKey: "a@b"}, "BACKUP_SMTP is not"},
		"password in URL": {map[string]string{EmailKey: "a@b", SMTPKey: "smtp://u:pw@h"}, "holds a password"},
		"no pw file":      {map[string]string{EmailKey: "a@b", SMTPKey: "smtp://u@h"}, "smtp password"},
		"bad scheme":      {map[string]string{EmailKey: "a@b", SMTPKey: "http://h"}, "want smtp://"},
	} {
		_, err := NewNotifier(func(k string) string { return tc.env[k] }, dir, "osgs")
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

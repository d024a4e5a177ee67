package schedule_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/offsite"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/schedule"
	"github.com/osgs/osgs/internal/testenv"
	"github.com/osgs/osgs/internal/watch"
)

// TestJobCheckNotify runs the scheduled job for real (PostGIS, verify, a
// push to versitygw, prune), then makes it fail, and checks what
// backup:check says and what the webhook receives.
func TestJobCheckNotify(t *testing.T) {
	testenv.RequireDocker(t)
	s3 := testenv.StartS3(t)
	hooks := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		hooks <- m["message"]
	}))
	defer hook.Close()
	metrics := t.TempDir()
	t.Setenv("INVOCATION_ID", "") // not under systemd: the job notifies itself
	t.Setenv("AWS_ACCESS_KEY_ID", s3.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.Secret)
	co := testenv.NewCheckout(t, map[string]string{
		"BACKUP_REMOTE":         s3.URL("osgs-job", ""),
		"BACKUP_S3_CA_FILE":     s3.CAFile,
		"BACKUP_NOTIFY_WEBHOOK": hook.URL + "/notify",
		"BACKUP_METRICS_DIR":    metrics,
	})
	co.Cleanup(t)
	e := co.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root := filepath.Join(co.Dir, "backups")
	if _, _, err := offsite.Keygen(e, filepath.Join(t.TempDir(), "id.txt")); err != nil {
		t.Fatal(err)
	}
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	if err := postgis.EnsureDatabases(ctx, e); err != nil {
		t.Fatal(err)
	}
	received := func(want string) {
		t.Helper()
		select {
		case m := <-hooks:
			if !strings.Contains(m, want) || strings.Contains(m, s3.Secret) {
				t.Fatalf("notification %q, want %q", m, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no notification with %q arrived", want)
		}
	}

	// Nothing yet: the check fails, and says why.
	v, err := schedule.Check(ctx, e, root, 26*time.Hour, false, true)
	if err != nil || v.OK || !strings.Contains(v.Line, "no verified set locally") {
		t.Fatalf("check before any backup = %+v, %v", v, err)
	}
	received("no verified set locally")

	// The job: backup, verify, push, prune.
	if err := schedule.Job(ctx, e, schedule.JobOptions{Root: root, Push: true, Policy: backup.Policy{Last: 2}}); err != nil {
		t.Fatal(err)
	}
	st, _ := watch.Load(root)
	if st.LastRun == nil || !st.LastRun.OK || !st.LastRun.Verified || len(st.LastRun.Pushed) != 1 || st.Pushes["default"].Set != st.LastRun.Set {
		t.Fatalf("state after the job: %+v", st)
	}
	if v, err := schedule.Check(ctx, e, root, 26*time.Hour, false, true); err != nil || !v.OK {
		t.Fatalf("check after the job = %+v, %v", v, err)
	}
	prom, err := os.ReadFile(filepath.Join(metrics, "osgs_backup_"+e.ProjectName()+".prom"))
	if err != nil || !strings.Contains(string(prom), "osgs_backup_last_success_timestamp_seconds") || !strings.Contains(string(prom), `destination="default"`) {
		t.Fatalf("metrics: %v\n%s", err, prom)
	}
	// Too old for a tight bound.
	time.Sleep(1100 * time.Millisecond)
	if v, _ := schedule.Check(ctx, e, root, time.Second, true, false); v.OK || !strings.Contains(v.Line, "old") {
		t.Fatalf("check with -maxage=1s = %+v", v)
	}

	// A job that fails at push: recorded, notified, and the check fails.
	e.Env.Set("BACKUP_REMOTE", "s3://127.0.0.1:1/osgs-job")
	err = schedule.Job(ctx, e, schedule.JobOptions{Root: root, Push: true, NoVerify: true})
	if err == nil {
		t.Fatal("a job with an unreachable destination succeeded")
	}
	received("backup job failed: push: ")
	st, _ = watch.Load(root)
	if st.LastRun.OK || st.LastRun.Step != "push" || st.LastSuccess == nil {
		t.Fatalf("state after the failed job: %+v", st.LastRun)
	}
	if v, _ := schedule.Check(ctx, e, root, 26*time.Hour, true, false); v.OK || !strings.Contains(v.Line, "failed at push") {
		t.Fatalf("check after a failed job = %+v", v)
	}
}

package postgis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

func connect(ctx context.Context, e *engine.Engine, sslmode string) (*pgx.Conn, error) {
	s := postgis.Load(e)
	dsn := fmt.Sprintf("host=%s port=%s dbname=%s user=%s password=%s sslmode=%s connect_timeout=5",
		s.Host, s.Port, s.Databases[0], s.User, e.Env.Value("POSTGRES_PASSWORD"), sslmode)
	return pgx.Connect(ctx, dsn)
}

// TestPostGISLifecycle brings PostGIS up from a fresh checkout (no .env) and
// checks TLS, authentication, secrets, idempotency and graceful stop.
func TestPostGISLifecycle(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	co := testenv.NewCheckout(t, nil)
	co.Cleanup(t)
	e := co.Engine(t)

	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatalf("up: %v", err)
	}
	if err := postgis.AfterUp(ctx, e); err != nil {
		t.Fatalf("after up: %v", err)
	}

	t.Run("env is 0600 with random secrets", func(t *testing.T) {
		info, err := os.Stat(filepath.Join(co.Dir, ".env"))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Fatalf(".env mode = %v, want 0600", info.Mode().Perm())
		}
		pw := e.Env.Value("POSTGRES_PASSWORD")
		if len(pw) < 20 || pw == "docker" {
			t.Fatalf("POSTGRES_PASSWORD is not a random secret of >= 20 characters (len %d)", len(pw))
		}
		if got := e.Env.Value(config.KeyProjectName); got != co.Project {
			t.Fatalf("configure changed the project name to %q", got)
		}
	})

	t.Run("TLS connection runs postgis_full_version", func(t *testing.T) {
		// verify-full against the site's database authority, by the name
		// 127.0.0.1, as the connection hint says.
		conn, err := connect(ctx, e, "verify-full sslrootcert="+postgis.Load(e).CA)
		if err != nil {
			t.Fatalf("connect with sslmode=verify-full: %v", err)
		}
		defer conn.Close(ctx)
		var version string
		var ssl bool
		if err := conn.QueryRow(ctx, "SELECT postgis_full_version(), (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())").Scan(&version, &ssl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(version, "POSTGIS=\"3.") || !ssl {
			t.Fatalf("postgis_full_version = %q, ssl = %v", version, ssl)
		}
		var exts []string
		rows, err := conn.Query(ctx, "SELECT extname FROM pg_extension ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			exts = append(exts, n)
		}
		for _, want := range []string{"hstore", "pgrouting", "postgis", "postgis_raster", "postgis_topology"} {
			if !strings.Contains(strings.Join(exts, ","), want) {
				t.Errorf("extension %s missing from %v", want, exts)
			}
		}
		var method string
		if err := conn.QueryRow(ctx, "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = current_user").Scan(&method); err != nil {
			t.Fatal(err)
		}
		if method != "SCRAM-SHA-256" {
			t.Errorf("password stored as %q, want SCRAM-SHA-256", method)
		}
	})

	t.Run("plaintext connection is refused", func(t *testing.T) {
		conn, err := connect(ctx, e, "disable")
		if err == nil {
			conn.Close(ctx)
			t.Fatal("a plaintext connection was accepted")
		}
		if !strings.Contains(err.Error(), "no encryption") {
			t.Fatalf("unexpected error: %v", err)
		}
	})

	t.Run("wrong password is refused", func(t *testing.T) {
		s := postgis.Load(e)
		conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s dbname=gis user=%s password=wrong sslmode=require", s.Host, s.Port, s.User))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("a wrong password was accepted")
		}
	})

	t.Run("sizes lists the configured database", func(t *testing.T) {
		sizes, err := postgis.Sizes(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range sizes {
			found = found || (s.Name == "gis" && s.Bytes > 1<<20)
		}
		if !found {
			t.Fatalf("gis missing from %v", sizes)
		}
	})

	first := containerID(ctx, t, e)
	t.Run("second up recreates nothing", func(t *testing.T) {
		if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
			t.Fatal(err)
		}
		if again := containerID(ctx, t, e); again != first {
			t.Fatalf("container recreated: %s -> %s", first, again)
		}
	})

	t.Run("secret is not in the container's environment or the printed model", func(t *testing.T) {
		pw := e.Env.Value("POSTGRES_PASSWORD")
		insp, err := e.Docker().ContainerInspect(ctx, first, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range insp.Container.Config.Env {
			if strings.Contains(v, pw) {
				t.Fatal("the password is in the container's environment")
			}
		}
		for _, a := range append(insp.Container.Config.Cmd, insp.Container.Config.Entrypoint...) {
			if strings.Contains(a, pw) {
				t.Fatal("the password is on the container's command line")
			}
		}
		model, err := e.RenderConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(model, pw) {
			t.Fatal("stack:config printed the password")
		}
	})

	t.Run("pull skips the image built here", func(t *testing.T) {
		var msgs strings.Builder
		e.Err = &msgs
		defer func() { e.Err = testenvWriter(t) }()
		if err := e.Pull(ctx, postgis.Service); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msgs.String(), "postgis is built locally") {
			t.Fatalf("no skip message: %q", msgs.String())
		}
	})

	t.Run("restart keeps the container and comes back", func(t *testing.T) {
		if err := e.Restart(ctx, postgis.Service); err != nil {
			t.Fatal(err)
		}
		if id := containerID(ctx, t, e); id != first {
			t.Fatalf("restart recreated the container")
		}
		if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("logs print the server's log", func(t *testing.T) {
		var out strings.Builder
		e.Out = &out
		defer func() { e.Out = testenvWriter(t) }()
		if err := e.Logs(ctx, engine.LogsOptions{Services: []string{postgis.Service}, Tail: "all"}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "database system is ready to accept connections") {
			t.Fatalf("logs: %q", out.String())
		}
	})

	t.Run("down with an idle client stops fast and clean and keeps the volume", func(t *testing.T) {
		// An idle client (QGIS Server, PostgREST, a pool) stays connected:
		// smart shutdown (SIGTERM) would wait for it through the whole grace
		// period and end in SIGKILL; fast shutdown (SIGINT) ends it at once.
		idle, err := connect(ctx, e, "require")
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close(context.Background())
		start := time.Now()
		if err := e.Stop(ctx, postgis.Service); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Fatalf("down took %v with an idle client connected; the grace period is 2m, want well inside it", took)
		}
		t.Logf("down with an idle client took %v", time.Since(start).Round(time.Millisecond))
		insp, err := e.Docker().ContainerInspect(ctx, first, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st := insp.Container.State; st.Running || st.ExitCode != 0 {
			t.Fatalf("after down: running=%v exit=%d, want stopped with exit code 0 (137 means SIGKILL)", st.Running, st.ExitCode)
		}
		if _, err := e.Docker().VolumeInspect(ctx, co.Project+"_postgis-data", client.VolumeInspectOptions{}); err != nil {
			t.Fatalf("volume gone after down: %v", err)
		}
		// Data survives a restart from the kept volume.
		if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
			t.Fatal(err)
		}
		conn, err := connect(ctx, e, "require")
		if err != nil {
			t.Fatalf("reconnect after up: %v", err)
		}
		conn.Close(ctx)
	})

	t.Run("disable stops the running service and records it", func(t *testing.T) {
		if err := e.Disable(ctx, postgis.Service); err != nil {
			t.Fatal(err)
		}
		insp, err := e.Docker().ContainerInspect(ctx, first, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st := insp.Container.State; st.Running || st.ExitCode != 0 {
			t.Fatalf("after disable: running=%v exit=%d", st.Running, st.ExitCode)
		}
		f, err := envfile.Read(filepath.Join(co.Dir, ".env"))
		if err != nil {
			t.Fatal(err)
		}
		if got := config.Enabled(f); slices.Contains(got, "postgis") {
			t.Fatalf("enabled after disable: %v", got)
		}
	})
}

func containerID(ctx context.Context, t *testing.T, e *engine.Engine) string {
	t.Helper()
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBadInputChangesNothing checks that each refused request leaves the
// checkout and the engine as they were.
func TestBadInputChangesNothing(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	t.Run("unknown service", func(t *testing.T) {
		co := testenv.NewCheckout(t, nil)
		os.Remove(filepath.Join(co.Dir, ".env"))
		e := co.Engine(t)
		err := e.Up(ctx, engine.UpOptions{Services: []string{"geoserverr"}})
		var unknown interface{ Error() string }
		if err == nil || !strings.Contains(err.Error(), `unknown service "geoserverr"`) {
			t.Fatalf("err = %v", err)
		}
		_ = unknown
		assertNoFile(t, filepath.Join(co.Dir, ".env"))
	})

	t.Run("no daemon", func(t *testing.T) {
		co := testenv.NewCheckout(t, nil)
		os.Remove(filepath.Join(co.Dir, ".env"))
		t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-such.sock"))
		e := co.Engine(t)
		err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}})
		var de *engine.DaemonError
		if !errors.As(err, &de) {
			t.Fatalf("err = %v, want a DaemonError", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error is not one line: %q", err)
		}
		assertNoFile(t, filepath.Join(co.Dir, ".env"))
	})

	t.Run("malformed env", func(t *testing.T) {
		co := testenv.NewCheckout(t, nil)
		bad := []byte("COMPOSE_PROJECT_NAME=" + co.Project + "\nthis line is not an assignment\n")
		path := filepath.Join(co.Dir, ".env")
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := engine.Open(engine.Options{Dir: co.Dir})
		if !errors.Is(err, envfile.ErrMalformed) || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("err = %v", err)
		}
		got, _ := os.ReadFile(path)
		if string(got) != string(bad) {
			t.Fatal(".env was changed")
		}
	})

	t.Run("malformed override", func(t *testing.T) {
		co := testenv.NewCheckout(t, nil)
		co.Cleanup(t)
		if err := os.WriteFile(filepath.Join(co.Dir, "docker-compose.override.yml"), []byte("services:\n  postgis:\n    ports: [\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e := co.Engine(t)
		envPath := filepath.Join(co.Dir, ".env")
		before, _ := os.ReadFile(envPath)
		// mosquitto is not enabled yet: a refused up must not enable it.
		err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service, "mosquitto"}})
		if err == nil || !strings.Contains(err.Error(), "docker-compose.override.yml") || !errors.Is(err, engine.ErrModel) {
			t.Fatalf("err = %v", err)
		}
		if after, _ := os.ReadFile(envPath); string(after) != string(before) {
			t.Fatal("a refused up changed .env")
		}
		assertNoContainers(ctx, t, e)
		// On a fresh checkout it does not even create .env.
		os.Remove(envPath)
		e = co.Engine(t)
		if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); !errors.Is(err, engine.ErrModel) {
			t.Fatalf("err = %v", err)
		}
		assertNoFile(t, envPath)
	})

	t.Run("port in use", func(t *testing.T) {
		co := testenv.NewCheckout(t, nil)
		co.Cleanup(t)
		e := co.Engine(t)
		l, err := listen(postgis.Load(e).Port)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		err = e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}})
		var pe *engine.PortInUseError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want a PortInUseError", err)
		}
		assertNoContainers(ctx, t, e)
	})
}

func assertNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists after a refused request", path)
	}
}

func assertNoContainers(ctx context.Context, t *testing.T, e *engine.Engine) {
	t.Helper()
	states, err := e.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.State != "absent" {
			t.Fatalf("%s has a container (%s) after a refused request", s.Service, s.State)
		}
	}
}

func testenvWriter(t *testing.T) io.Writer { return io.Discard }

package targets_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/site"
	"github.com/osgs/osgs/internal/testenv"
)

// mageBin compiles the magefile once into a static binary, as `go tool mage` would.
func mageBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "osgs-mage")
	cmd := exec.Command("go", "tool", "mage", "-compile", bin)
	cmd.Dir = testenv.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mage -compile: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

func runMage(t *testing.T, bin, dir string, env []string, args ...string) result {
	t.Helper()
	return runMageIn(t, "", bin, dir, env, args...)
}

func runMageIn(t *testing.T, stdin, bin, dir string, env []string, args ...string) result {
	t.Helper()
	return runMageCmd(t, exec.Command(bin, args...), stdin, dir, env)
}

// runMageUnprivileged runs the targets as a user who is not root but is in
// the docker group, as the README promises works. Where the tests run as
// root, that user is nobody with the docker group added; the checkout (and
// the folders above it) become theirs to write.
func runMageUnprivileged(t *testing.T, bin, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if os.Geteuid() == 0 {
		g, err := user.LookupGroup("docker")
		if err != nil {
			t.Skipf("no docker group to run as a non-root user in: %v", err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		const nobody = 65534
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{uint32(gid)}}}
		filepath.WalkDir(dir, func(p string, _ fs.DirEntry, _ error) error { return os.Lchown(p, nobody, nobody) })
		for _, start := range []string{dir, bin} {
			for d := filepath.Dir(start); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
				os.Chmod(d, 0o711)
			}
		}
		env = append(env, "HOME="+t.TempDir())
		os.Chmod(env[len(env)-1][len("HOME="):], 0o777)
	}
	return runMageCmd(t, cmd, "", dir, env)
}

func runMageCmd(t *testing.T, cmd *exec.Cmd, stdin, dir string, env []string) result {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// TestTargets runs the compiled targets the way a user does and checks the
// list, the help, and that refused requests print one line, exit non-zero and
// change nothing.
func TestTargets(t *testing.T) {
	bin := mageBin(t)
	co := testenv.NewCheckout(t, nil)
	envPath := filepath.Join(co.Dir, ".env")

	t.Run("list", func(t *testing.T) {
		r := runMage(t, bin, co.Dir, nil, "-l")
		for _, want := range []string{"postgis:up", "postgis:psql", "postgis:sizes", "stack:nuke", "stack:enable", "images:build", "stack:config",
			"features:up", "tiles:up", "mapproxy:seed", "mapproxy:cleanup", "backup:push", "backup:pull", "backup:remote", "backup:keygen",
			"backup:job", "backup:check", "backup:schedule", "backup:unschedule", "postgis:basebackup", "postgis:recover", "postgis:wal"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("mage -l lacks %s", want)
			}
		}
	})

	t.Run("help", func(t *testing.T) {
		r := runMage(t, bin, co.Dir, nil, "-h", "postgis:logs")
		if r.code != 0 || !strings.Contains(r.stdout, "[-follow=<bool>]") {
			t.Fatalf("help: %+v", r)
		}
	})

	t.Run("configure never prints secrets", func(t *testing.T) {
		os.Remove(envPath)
		r := runMage(t, bin, co.Dir, nil, "stack:configure")
		if r.code != 0 {
			t.Fatalf("configure: %+v", r)
		}
		data, _ := os.ReadFile(envPath)
		info, _ := os.Stat(envPath)
		if info.Mode().Perm() != 0o600 {
			t.Fatalf(".env mode %v", info.Mode().Perm())
		}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && strings.Contains(k, "PASSWORD") {
				if strings.Contains(r.stdout+r.stderr, v) {
					t.Fatalf("configure printed %s", k)
				}
			}
		}
	})

	refused := []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"unknown service", nil, []string{"stack:enable", "geoserverr"}, 2, `unknown service "geoserverr"`},
		{"nuke without -yes", nil, []string{"stack:nuke"}, 2, "without confirmation: run again with -yes"},
		{"no daemon", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, []string{"postgis:up"}, 1, "no Docker daemon answers"},
		{"renew without daemon", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, []string{"nginx:renew"}, 1, "no Docker daemon answers"},
		{"selfsigned without daemon", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, []string{"nginx:selfsigned"}, 1, "no Docker daemon answers"},
		{"letsencrypt without daemon", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, []string{"nginx:letsencrypt"}, 1, "no Docker daemon answers"},
		{"reload without daemon", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, []string{"nginx:reload"}, 1, "no Docker daemon answers"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(envPath)
			r := runMage(t, bin, co.Dir, tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d (%+v)", r.code, tc.code, r)
			}
			msg := strings.TrimSpace(r.stderr + r.stdout)
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.msg) {
				t.Fatalf("want one line with %q, got %q", tc.msg, msg)
			}
			after, _ := os.ReadFile(envPath)
			if !bytes.Equal(before, after) {
				t.Fatal(".env changed")
			}
			if _, err := os.Stat(site.CertPath(co.Dir)); err == nil {
				t.Fatal("a refused request made a certificate")
			}
		})
	}

	t.Run("bad seed flags", func(t *testing.T) {
		for flag, want := range map[string]string{"-levels=9-1": "levels", "-bbox=1,2,3": "bbox"} {
			r := runMage(t, bin, co.Dir, nil, "mapproxy:seed", flag)
			msg := strings.TrimSpace(r.stderr + r.stdout)
			if r.code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, want) {
				t.Errorf("mapproxy:seed %s: %+v", flag, r)
			}
		}
	})

	t.Run("off-site bad input", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"backup:push"}, 1, "no backup destination: set BACKUP_REMOTE"},
			{[]string{"backup:remote", "-from=office"}, 1, "no backup destination"},
			{[]string{"backup:pull", "20260101T000000Z", "-identity=/nonexistent/key.txt"}, 1, "age identity"},
			{[]string{"postgis:recover", "-to=yesterday", "-yes"}, 2, "want a time"},
			{[]string{"backup:check", "-maxage=soon"}, 2, "want a duration"},
			{[]string{"backup:schedule", "-at=every other tuesday"}, 1, "every other tuesday"},
		} {
			r := runMage(t, bin, co.Dir, nil, tc.args...)
			msg := strings.TrimSpace(r.stderr + r.stdout)
			if r.code != tc.code || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
				t.Errorf("%v: %+v, want exit %d and one line with %q", tc.args, r, tc.code, tc.want)
			}
		}
	})

	t.Run("keygen and schedule", func(t *testing.T) {
		r := runMage(t, bin, co.Dir, nil, "backup:keygen")
		pub := strings.TrimSpace(r.stdout)
		if r.code != 0 || !regexp.MustCompile(`^age1[0-9a-z]{58}$`).MatchString(pub) || strings.Contains(r.stderr+r.stdout, "AGE-SECRET-KEY") {
			t.Fatalf("backup:keygen: %+v", r)
		}
		id := filepath.Join(co.Dir, "backup-age-identity.txt")
		if fi, err := os.Stat(id); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(r.stderr, id) {
			t.Fatalf("identity %s: %v %v", id, fi, err)
		}
		if env, _ := os.ReadFile(filepath.Join(co.Dir, ".env")); !strings.Contains(string(env), "BACKUP_AGE_RECIPIENTS="+pub) {
			t.Fatal(".env lacks the public key")
		}
		if r := runMage(t, bin, co.Dir, nil, "backup:keygen"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
			t.Fatalf("a second keygen over the identity: %+v", r)
		}
		os.Remove(id)
		if _, err := os.Stat("/run/systemd/system"); err == nil {
			t.Skip("systemd is PID 1 here: backup:schedule would install units")
		}
		r = runMage(t, bin, co.Dir, nil, "backup:schedule", "-push", "-keep=7")
		if r.code != 0 || !strings.Contains(r.stderr, "systemd is not PID 1") || !strings.HasPrefix(r.stdout, "30 2 * * * cd "+co.Dir+" && ") || !strings.Contains(r.stdout, "backup:job -keep=7 -push") {
			t.Fatalf("backup:schedule without systemd: %+v", r)
		}
	})

	t.Run("malformed override", func(t *testing.T) {
		testenv.RequireDocker(t) // the model is loaded after the daemon answers
		override := filepath.Join(co.Dir, "docker-compose.override.yml")
		os.WriteFile(override, []byte("services:\n  postgis:\n    ports: [\n"), 0o644)
		defer os.Remove(override)
		r := runMage(t, bin, co.Dir, nil, "stack:config")
		msg := strings.TrimSpace(r.stderr + r.stdout)
		if r.code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, "docker-compose.override.yml") {
			t.Fatalf("got %+v", r)
		}
	})

	t.Run("basic-auth users", func(t *testing.T) {
		const pw = "a password from stdin"
		r := runMageIn(t, pw+"\n", bin, co.Dir, nil, "nginx:adduser", "ana")
		if r.code != 0 || strings.Contains(r.stdout+r.stderr, pw) {
			t.Fatalf("adduser: %+v", r)
		}
		h, err := site.LoadHtpasswd(co.Dir)
		if err != nil || !h.Check("ana", pw) {
			t.Fatalf("htpasswd lacks ana: %v", err)
		}
		if r := runMage(t, bin, co.Dir, nil, "nginx:users"); r.code != 0 || strings.TrimSpace(r.stdout) != "ana" {
			t.Fatalf("users: %+v", r)
		}
		for _, tc := range []struct {
			stdin string
			args  []string
			msg   string
		}{
			{"", []string{"nginx:adduser", "bo"}, "no password on standard input"},
			{"short\n", []string{"nginx:adduser", "bo"}, "at least 8 characters"},
			{"long enough pw\n", []string{"nginx:adduser", "b:o"}, "user names are"},
			{"", []string{"nginx:deluser", "nobody"}, `no user "nobody"`},
		} {
			r := runMageIn(t, tc.stdin, bin, co.Dir, nil, tc.args...)
			msg := strings.TrimSpace(r.stderr + r.stdout)
			if r.code == 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.msg) {
				t.Errorf("%v: %+v", tc.args, r)
			}
		}
		if r := runMage(t, bin, co.Dir, nil, "nginx:deluser", "ana"); r.code != 0 {
			t.Fatalf("deluser: %+v", r)
		}
		if h, _ := site.LoadHtpasswd(co.Dir); len(h.Users()) != 0 {
			t.Fatalf("users left: %v", h.Users())
		}
	})

	t.Run("status table", func(t *testing.T) {
		testenv.RequireDocker(t)
		r := runMage(t, bin, co.Dir, nil, "stack:status")
		if r.code != 0 || !strings.Contains(r.stdout, "SERVICE") || !strings.Contains(r.stdout, "URL") ||
			!strings.Contains(r.stdout, "/mapproxy/") || !strings.Contains(r.stdout, "absent") {
			t.Fatalf("status: %+v", r)
		}
	})

	t.Run("malformed env", func(t *testing.T) {
		os.WriteFile(envPath, []byte("COMPOSE_PROJECT_NAME="+co.Project+"\nnot an assignment\n"), 0o600)
		r := runMage(t, bin, co.Dir, nil, "stack:ps")
		msg := strings.TrimSpace(r.stderr + r.stdout)
		if r.code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, ".env line 2") {
			t.Fatalf("got %+v", r)
		}
	})
}

// TestStackUp runs the README's first command in a fresh checkout: the
// default stack (nginx, Hugo, PostGIS) comes up, says where it answers, and
// serves the site over https with the certificate it made.
func TestStackUp(t *testing.T) {
	testenv.RequireDocker(t)
	bin := mageBin(t)
	co := testenv.NewCheckout(t, nil)
	co.Cleanup(t)
	// The README's first command, by a user in the docker group, not root.
	r := runMageUnprivileged(t, bin, co.Dir, nil, "stack:up")
	if r.code != 0 {
		t.Fatalf("stack:up: %+v", r)
	}
	f, err := envfile.Read(filepath.Join(co.Dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	port := f.Value("NGINX_HTTPS_PORT")
	for _, want := range []string{"hugo: https://localhost:" + port + "/", "PostGIS is up and healthy"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stack:up output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, k := range f.Keys() {
		if v := f.Value(k); (strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN")) && len(v) > 4 {
			if strings.Contains(r.stdout+r.stderr, v) {
				t.Fatalf("stack:up printed %s", k)
			}
		}
	}
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: co.SitePool(t), ServerName: "localhost"}}}
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+port+"/", nil)
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Open Source GIS Stack") {
		t.Fatalf("site: %d %.200s", res.StatusCode, body)
	}
	// osgs waits with its own probe, so the engine's health status (checked
	// every few seconds) may still say "starting" for a moment.
	deadline := time.Now().Add(30 * time.Second)
	for _, svc := range []string{"nginx", "hugo", "postgis"} {
		row := regexp.MustCompile(`(?m)^` + svc + `\s+yes\s+running\s+healthy\s+\S`)
		for {
			st := runMage(t, bin, co.Dir, nil, "stack:status")
			if row.MatchString(st.stdout) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status of %s:\n%s", svc, st.stdout)
			}
			time.Sleep(time.Second)
		}
	}
	// A second stack:up changes nothing and succeeds.
	if r := runMageUnprivileged(t, bin, co.Dir, nil, "stack:up"); r.code != 0 {
		t.Fatalf("second stack:up: %+v", r)
	}
	if info, err := os.Stat(filepath.Join(co.Dir, ".env")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf(".env: %v %v", info.Mode(), err)
	}
}

// TestBaseImageWithoutRoot makes the Debian base image as a user who is
// not root and has no debootstrap: only Go's code and the Docker API.
func TestBaseImageWithoutRoot(t *testing.T) {
	testenv.RequireDocker(t)
	bin := mageBin(t)
	tag := "osgs-test-base:nonroot-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	co := testenv.NewCheckout(t, map[string]string{"OSGS_BASE_IMAGE": tag})
	e := co.Engine(t)
	t.Cleanup(func() {
		if e.Connect(context.Background()) == nil {
			e.Docker().ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true})
		}
	})
	r := runMageUnprivileged(t, bin, co.Dir, nil, "images:base")
	if r.code != 0 || !strings.Contains(r.stderr, "imported "+tag) {
		t.Fatalf("images:base as a non-root user: %+v", r)
	}
	if strings.Contains(r.stderr, "debootstrap is not installed") || strings.Contains(r.stderr, "needs root") {
		t.Fatal(r.stderr)
	}
}

package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/testenv"
)

// TestBootstrapBaseImage makes the Debian base image the way a fresh
// machine without a registry must: from Debian's signed index and checked
// packages, in Go, with nothing on the host. The image must be a working
// Debian: dpkg's database complete, apt able to install.
func TestBootstrapBaseImage(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	co := testenv.NewCheckout(t, nil)
	e := co.Engine(t)
	tag := make([]byte, 4)
	rand.Read(tag)
	ref := "osgs-test-base:" + hex.EncodeToString(tag)
	e.Env.Set("OSGS_BASE_IMAGE", ref)
	if err := e.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Docker().ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
	})
	if err := e.EnsureBaseImage(ctx); err != nil {
		t.Fatal(err)
	}
	insp, err := e.Docker().ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(insp.RootFS.Layers); n != 1 {
		t.Errorf("the base has %d layers, want 1", n)
	}
	script := `set -e
test -z "$(dpkg --audit)"
n=$(dpkg-query -f '${db:Status-Status}\n' -W | grep -c '^installed$')
test "$n" -ge 80
test ! -e /var/cache/osgs-debs && test ! -e /osgs-second-stage.sh && test ! -e /.dockerenv.osgs
test -L /bin && sh -c 'echo shell' >/dev/null && awk 'BEGIN{}' && perl -e 1
getent passwd root >/dev/null && getent group staff >/dev/null
apt-get --version >/dev/null
grep -q '^Suites: bookworm-security' /etc/apt/sources.list.d/debian.sources
grep -qx force-unsafe-io /etc/dpkg/dpkg.cfg.d/docker-apt-speedup
grep -qx 'path-exclude /usr/share/man/\*' /etc/dpkg/dpkg.cfg.d/docker
test -e /usr/share/doc/dpkg/copyright && test -z "$(find /usr/share/doc /usr/share/man -type f ! -name copyright)"
echo "ok $n"`
	res, err := e.Docker().ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: ref, Entrypoint: []string{"sh", "-c", script}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Docker().ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	wait := e.Docker().ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.Docker().ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	var code int64
	select {
	case r := <-wait.Result:
		code = r.StatusCode
	case err := <-wait.Error:
		t.Fatal(err)
	}
	var out strings.Builder
	if logs, err := e.Docker().ContainerLogs(ctx, res.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
		stdcopy.StdCopy(&out, &out, logs)
		logs.Close()
	}
	if code != 0 {
		t.Fatalf("the base image is not a working Debian (exit %d): %q", code, out.String())
	}
	t.Logf("base image: %q", out.String())
}

package services_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/testenv"
)

// TestNetworkSegments tries, from inside each service's container (a probe
// in its network namespace), to reach the others by name and by every
// address they have: nginx reaches the web services, a service that logs
// in to PostGIS reaches PostGIS, and nothing else reaches anything. A
// service started after nginx and PostGIS is reached at once, without
// either restarting; POSTGIS_CLIENTS admits one more service.
func TestNetworkSegments(t *testing.T) {
	ctx, c, e := start(t, "nginx", "jupyter", "postgis", "mosquitto")
	t.Run("jupyter behind nginx", func(t *testing.T) { testJupyterBehindNginx(ctx, t, c, e) })

	hubs := map[string]string{"nginx": containerOf(ctx, t, e, "nginx"), "postgis": containerOf(ctx, t, e, "postgis")}
	if err := e.Up(ctx, engine.UpOptions{Services: []string{"features"}}); err != nil {
		t.Fatal(err)
	}
	for name, id := range hubs {
		if got := containerOf(ctx, t, e, name); got != id {
			t.Errorf("%s was recreated when features started; it should have joined features' network running", name)
		}
	}
	if code := frontDoorGet(ctx, t, c, e, "/features/collections.json"); code != http.StatusOK {
		t.Errorf("/features/ through nginx answered %d", code)
	}

	ports := map[string]int{"nginx": 443, "postgis": 5432, "jupyter": 8888, "features": 9000, "mosquitto": 1883}
	open := map[string][]string{ // source -> the targets it must reach
		"nginx":     {"jupyter", "features"},
		"jupyter":   {"nginx"},
		"features":  {"nginx", "postgis"},
		"postgis":   {"features"},
		"mosquitto": {},
	}
	check := func(t *testing.T, open map[string][]string) {
		for src, reachable := range open {
			got := probe(ctx, t, e, src, targets(ctx, t, e, src, ports))
			for addr, ok := range got {
				target := strings.SplitN(addr, " ", 2)[0]
				want := slices.Contains(reachable, target)
				byName := !strings.Contains(addr, " ")
				switch {
				case ok && !want:
					t.Errorf("%s reaches %s", src, addr)
				case !ok && want && byName:
					t.Errorf("%s does not reach %s", src, addr)
				}
			}
		}
	}
	t.Run("each reaches only what it needs", func(t *testing.T) { check(t, open) })

	t.Run("POSTGIS_CLIENTS admits jupyter", func(t *testing.T) {
		e.Env.Set(engine.DatabaseClientsKey, "jupyter")
		if err := e.Env.Write(config.Path(c.Dir)); err != nil {
			t.Fatal(err)
		}
		if err := e.Up(ctx, engine.UpOptions{Services: []string{"jupyter"}}); err != nil {
			t.Fatal(err)
		}
		if got := containerOf(ctx, t, e, "postgis"); got != hubs["postgis"] {
			t.Error("postgis was recreated to admit jupyter")
		}
		check(t, map[string][]string{"jupyter": {"nginx", "postgis"}, "features": {"nginx", "postgis"}})
	})
}

func containerOf(ctx context.Context, t *testing.T, e *engine.Engine, service string) string {
	t.Helper()
	id, err := e.ContainerOf(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// targets are "service" (by name) and "service ip" (by each address the
// service's container has) for every service in ports but src.
func targets(ctx context.Context, t *testing.T, e *engine.Engine, src string, ports map[string]int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for svc, port := range ports {
		if svc == src {
			continue
		}
		out[svc] = fmt.Sprintf("%s:%d", svc, port)
		insp, err := e.Docker().ContainerInspect(ctx, containerOf(ctx, t, e, svc), client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range insp.Container.NetworkSettings.Networks {
			if n != nil && n.IPAddress.IsValid() {
				out[svc+" "+n.IPAddress.String()] = fmt.Sprintf("%s:%d", n.IPAddress, port)
			}
		}
	}
	return out
}

// probe opens a TCP connection to each target from inside src's network
// namespace (a short-lived container of nginx's image sharing it) and
// reports which ones connect.
func probe(ctx context.Context, t *testing.T, e *engine.Engine, src string, targets map[string]string) map[string]bool {
	t.Helper()
	image, err := e.Docker().ContainerInspect(ctx, containerOf(ctx, t, e, "nginx"), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for label, addr := range targets {
		host, port, _ := strings.Cut(addr, ":")
		fmt.Fprintf(&script, "(if timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%s' 2>/dev/null; then echo 'open %s'; else echo 'closed %s'; fi) &\n", host, port, label, label)
	}
	script.WriteString("wait\n")
	id, remove, err := e.RunContainer(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image.Container.Image, User: "root", Entrypoint: []string{"bash", "-c", script.String()}},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode("container:" + containerOf(ctx, t, e, src))},
	})
	if err != nil {
		t.Fatalf("probe from %s: %v", src, err)
	}
	defer remove()
	logs, err := e.Docker().ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var stdout bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stdout, logs); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		state, label, _ := strings.Cut(line, " ")
		got[label] = state == "open"
	}
	if len(got) != len(targets) {
		t.Fatalf("probe from %s answered %q for %d targets", src, stdout.String(), len(targets))
	}
	return got
}

// frontDoorGet is the status of a GET of path through nginx's https port.
func frontDoorGet(ctx context.Context, t *testing.T, c *testenv.Checkout, e *engine.Engine, path string) int {
	t.Helper()
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.SitePool(t), ServerName: "localhost"}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1:"+e.Env.Value("NGINX_HTTPS_PORT")+path, nil)
		req.Host = "localhost"
		res, err := cl.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusBadGateway || time.Now().After(deadline) {
				return res.StatusCode
			}
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

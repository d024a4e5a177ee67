package services_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/testenv"
)

// start brings services up in a fresh checkout, as mage does: the engine
// runs their after-up hooks, which render nginx's configuration.
func start(t *testing.T, services ...string) (context.Context, *testenv.Checkout, *engine.Engine) {
	t.Helper()
	return testenv.Start(t, 15*time.Minute, nil, services...)
}

// secretNowhere fails when a secret is in a container's environment or
// command line (docker inspect and ps show both).
func secretNowhere(t *testing.T, ctx context.Context, e *engine.Engine, service, secret string) {
	t.Helper()
	id, err := e.ContainerOf(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	insp, err := e.Docker().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := insp.Container.Config
	for _, v := range append(append(append([]string{}, cfg.Env...), cfg.Cmd...), cfg.Entrypoint...) {
		if strings.Contains(v, secret) {
			t.Fatalf("%s: a secret is in the container's environment or command line", service)
		}
	}
	out, err := e.Output(ctx, service, "", "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), secret) {
		t.Fatalf("%s: a secret is on a process's command line", service)
	}
}

// testJupyterBehindNginx: Jupyter answers through nginx with its token
// login, and its token is in no environment or command line. It runs in
// TestNetworkSegments' stack.
func testJupyterBehindNginx(ctx context.Context, t *testing.T, c *testenv.Checkout, e *engine.Engine) {
	secretNowhere(t, ctx, e, "jupyter", e.Env.Value("JUPYTER_TOKEN"))
	port := e.Env.Value("NGINX_HTTPS_PORT")
	cl := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.SitePool(t), ServerName: "localhost"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+port+path, nil)
		req.Host = "localhost:" + port
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	// Without the token: sent to the login page, which asks for it.
	res, _ := get("/jupyter/tree")
	if res.StatusCode != http.StatusFound || !strings.Contains(res.Header.Get("Location"), "/jupyter/login") {
		t.Fatalf("/jupyter/tree without a token: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := get("/jupyter/login")
	if res.StatusCode != 200 || !strings.Contains(strings.ToLower(body), "token") {
		t.Fatalf("login page: %d %.300s", res.StatusCode, body)
	}
	// The API refuses a wrong token and accepts the one in .env.
	if res, _ := get("/jupyter/api/contents?token=wrong"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong token: %d", res.StatusCode)
	}
	if res, body := get("/jupyter/api/contents?token=" + e.Env.Value("JUPYTER_TOKEN")); res.StatusCode != 200 || !strings.Contains(body, `"type": "directory"`) && !strings.Contains(body, `"type":"directory"`) {
		t.Fatalf("right token: %d %.300s", res.StatusCode, body)
	}
}

func TestMosquittoAuthAndTLS(t *testing.T) {
	ctx, c, e := start(t, "mosquitto")
	user, password := e.Env.Value("MQTT_USER"), e.Env.Value("MQTT_PASSWORD")
	secretNowhere(t, ctx, e, "mosquitto", password)
	connect := func(url, user, password string, tlsConf *tls.Config) (mqtt.Client, error) {
		o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("osgs-test-%d", time.Now().UnixNano())).
			SetUsername(user).SetPassword(password).SetConnectTimeout(10 * time.Second).SetAutoReconnect(false)
		if tlsConf != nil {
			o.SetTLSConfig(tlsConf)
		}
		cl := mqtt.NewClient(o)
		tok := cl.Connect()
		if !tok.WaitTimeout(15 * time.Second) {
			return nil, fmt.Errorf("connect timed out")
		}
		return cl, tok.Error()
	}
	plain := "tcp://127.0.0.1:" + e.Env.Value("MQTT_PORT")
	secure := "ssl://127.0.0.1:" + e.Env.Value("MQTTS_PORT")
	tlsConf := &tls.Config{RootCAs: c.SitePool(t), ServerName: "localhost"}

	t.Run("refused without credentials", func(t *testing.T) {
		for _, tc := range []struct{ url, user, pass string }{
			{plain, "", ""}, {plain, user, "wrong-password"}, {secure, "", ""},
		} {
			var tc2 *tls.Config
			if strings.HasPrefix(tc.url, "ssl") {
				tc2 = tlsConf
			}
			if cl, err := connect(tc.url, tc.user, tc.pass, tc2); err == nil {
				cl.Disconnect(0)
				t.Fatalf("%s accepted user %q", tc.url, tc.user)
			}
		}
	})

	t.Run("1883 answers on loopback only", func(t *testing.T) {
		// A client elsewhere on the LAN: MQTT over TLS, never the port
		// whose passwords travel in clear.
		ns := testenv.NewNetns(t)
		if err := ns.Dial(e.Env.Value("MQTTS_PORT")); err != nil {
			t.Fatalf("8883 from another host: %v", err)
		}
		if err := ns.Dial(e.Env.Value("MQTT_PORT")); err == nil {
			t.Fatal("1883 accepts a client from another host")
		}
	})

	t.Run("publish and subscribe with credentials, plain and TLS", func(t *testing.T) {
		sub, err := connect(secure, user, password, tlsConf)
		if err != nil {
			t.Fatalf("TLS connect: %v", err)
		}
		defer sub.Disconnect(100)
		got := make(chan string, 1)
		if tok := sub.Subscribe("osgs/test", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		pub, err := connect(plain, user, password, nil)
		if err != nil {
			t.Fatalf("plain connect: %v", err)
		}
		defer pub.Disconnect(100)
		if tok := pub.Publish("osgs/test", 1, false, "sensor 42"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		select {
		case m := <-got:
			if m != "sensor 42" {
				t.Fatalf("received %q", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the message never arrived")
		}
	})
}

package nginx_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/site"
	"github.com/osgs/osgs/internal/testenv"
)

// pebble is Let's Encrypt's ACME test server, from Debian's pebble package,
// added to the test checkout the way a developer adds a service. It checks
// the http-01 challenge for real, through nginx.
const pebbleFragment = `services:
  pebble:
    x-osgs:
      description: ACME test CA for the tests.
    profiles: [pebble]
    image: osgstest/pebble:2.4-bookworm
    build:
      context: .
      args:
        BASE_IMAGE: ${OSGS_BASE_IMAGE:-debian:bookworm-slim}
    environment:
      PEBBLE_VA_NOSLEEP: "1"
      PEBBLE_WFE_NONCEREJECT: "0"
    command: ["pebble", "-config", "/etc/pebble/pebble.json"]
    healthcheck:
      test: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/14000"]
      interval: 1s
      retries: 30
`

const pebbleDockerfile = `ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends pebble && rm -rf /var/lib/apt/lists/*
COPY pebble.json cert.pem key.pem /etc/pebble/
`

const pebbleConfig = `{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
 "certificate": "/etc/pebble/cert.pem", "privateKey": "/etc/pebble/key.pem",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}`

// The domain is an alias of nginx on a network it shares with pebble and
// certbot (as the internet joins them in production), so pebble's
// validation request reaches nginx's webroot location and certbot reaches
// pebble. Networks an override adds are kept beside osgs's own.
const domain = "maps.osgs.test"

const aliasOverride = `services:
  nginx:
    networks:
      acme:
        aliases: [` + domain + `]
  certbot:
    networks: [acme]
  pebble:
    networks: [acme]
networks:
  acme: {}
`

func TestLetsEncryptWithPebble(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c := testenv.NewCheckout(t, map[string]string{"OSGS_DOMAIN": domain, "NGINX_CERT_CHECK_SECONDS": "1"})
	c.Cleanup(t)
	c.AddService(t, "pebble", pebbleFragment)
	dir := filepath.Join(c.Dir, "services", "pebble")
	certPEM, keyPEM, err := site.SelfSigned("pebble", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"Dockerfile": []byte(pebbleDockerfile), "pebble.json": []byte(pebbleConfig), "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "compose.override.yaml"), []byte(aliasOverride), 0o644); err != nil {
		t.Fatal(err)
	}
	e := c.Engine(t)
	services := []string{"pebble", "nginx"}
	if err := e.Up(ctx, engine.UpOptions{Services: services}); err != nil {
		t.Fatal(err)
	}
	acme := nginx.ACME{Server: "https://pebble:14000/dir", NoVerify: true}
	if err := nginx.LetsEncrypt(ctx, e, acme); err != nil {
		t.Fatal(err)
	}

	served := func() *tls.Certificate {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", "127.0.0.1:"+e.Env.Value("NGINX_HTTPS_PORT"),
			&tls.Config{ServerName: domain, InsecureSkipVerify: true}) // pebble's root is made per run
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		st := conn.ConnectionState()
		return &tls.Certificate{Leaf: st.PeerCertificates[0]}
	}
	leaf := served().Leaf
	if !strings.Contains(leaf.Issuer.CommonName, "Pebble") || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != domain {
		t.Fatalf("nginx serves %v issued by %q", leaf.DNSNames, leaf.Issuer.CommonName)
	}
	f, _ := config.Load(c.Dir)
	if f.Value("OSGS_TLS") != "letsencrypt" {
		t.Fatalf("OSGS_TLS = %q", f.Value("OSGS_TLS"))
	}
	stored, err := site.LoadCert(c.Dir)
	if err != nil || stored.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("config/tls does not hold the served certificate: %v", err)
	}
	if _, err := e.ContainerOf(ctx, nginx.Certbot); err != nil {
		t.Fatalf("certbot is not left running to renew: %v", err)
	}

	// certbot's own renewal (what its twice-a-day loop runs) is picked up
	// by nginx without osgs: it notices the new certificate and reloads.
	id, err := e.ContainerOf(ctx, nginx.Certbot)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Exec(ctx, id, nginx.CertbotRenew(true, acme), engine.ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for served().Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nginx did not pick up the certificate certbot renewed")
		}
		time.Sleep(500 * time.Millisecond)
	}
	auto := served().Leaf

	// A forced renewal through osgs is served after its reload, and lands
	// in config/tls. It starts while another certbot holds certbot's lock
	// (as the service's own renewal does for a while after it starts), and
	// waits for it instead of failing.
	held := make(chan error, 1)
	lockOut, lockW := io.Pipe()
	go func() {
		held <- e.Exec(ctx, id, []string{"python3", "-c", `import fcntl, time
f = open("/etc/letsencrypt/.certbot.lock", "w")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(4)`}, engine.ExecOptions{Stdout: lockW})
		lockW.Close()
	}()
	if _, err := bufio.NewReader(lockOut).ReadString('\n'); err != nil {
		t.Fatalf("hold certbot's lock: %v", err)
	}
	go io.Copy(io.Discard, lockOut)
	start := time.Now()
	if err := nginx.Renew(ctx, e, true, acme); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 3*time.Second {
		t.Fatalf("the renewal took %s: it did not wait for the other certbot", waited)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	renewed := served().Leaf
	if renewed.SerialNumber.Cmp(auto.SerialNumber) == 0 {
		t.Fatal("nginx still serves the previous certificate after nginx:renew")
	}
	if stored, _ := site.LoadCert(c.Dir); stored.Leaf.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Fatal("config/tls does not hold the renewed certificate")
	}
}

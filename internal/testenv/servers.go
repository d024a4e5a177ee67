package testenv

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/osgs/osgs/internal/site"
)

// need skips the test (or under CI=true fails it) when a program a test
// server needs is missing; .ci/run installs them.
func need(t testing.TB, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s is missing (Debian package %s)", prog, pkg)
		}
		t.Skipf("%s is missing (apt-get install %s)", prog, pkg)
	}
	return p
}

// VersityGW is the S3 server the tests use: versitygw, built from the Go
// module proxy on first use into the user's cache folder.
const VersityGW = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// versitygw returns the cached binary, building it if missing (about 90 s).
func versitygw(t testing.TB) string { return goBinary(t, VersityGW) }

// goBinary returns the binary of a Go main package at a version ("path@v"),
// built from the module proxy once per machine into the user's cache folder.
func goBinary(t testing.TB, pkg string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	path, version, _ := strings.Cut(pkg, "@")
	name := filepath.Base(path)
	dir := filepath.Join(cache, "osgs-test", name+"-"+version)
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("building %s (once per machine)", pkg)
	cmd := exec.Command("go", "install", pkg)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// S3 is a running S3 server on loopback, with TLS.
type S3 struct {
	Endpoint string // 127.0.0.1:port
	CAFile   string // its certificate, self-signed
	Access   string
	Secret   string
	Data     string // the posix backend's folder: one folder per bucket
}

// URL is an s3:// destination for bucket and prefix.
func (s *S3) URL(bucket, prefix string) string {
	u := "s3://" + s.Endpoint + "/" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u
}

// StartS3 starts versitygw with TLS and versioning on a free loopback
// port; it stops with the test.
func StartS3(t testing.TB) *S3 { return startS3(t, "127.0.0.1", nil) }

// StartS3Link starts versitygw behind a link of mbit Mbit/s each way, as
// an off-site server is: in a network namespace of its own, reached over a
// veth pair whose two ends a token bucket (tc tbf) shapes. The namespace,
// and with it the link, goes with the test. It needs root and iproute2.
func StartS3Link(t testing.TB, mbit int) *S3 {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a shaped link needs root (network namespaces)")
	}
	need(t, "ip", "iproute2")
	need(t, "tc", "iproute2")
	ns, host, peer, subnet := linkNetns(t, "osl", 214)
	rate := strconv.Itoa(mbit) + "mbit"
	run(t, "tc", "qdisc", "add", "dev", host, "root", "tbf", "rate", rate, "burst", "1mb", "latency", "50ms")
	run(t, "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", peer, "root", "tbf", "rate", rate, "burst", "1mb", "latency", "50ms")
	return startS3(t, subnet+".2", []string{"ip", "netns", "exec", ns})
}

// StartS3For starts versitygw on the host's address on Docker's default
// bridge (docker0), so that containers (pgBackRest in PostGIS) reach it too.
func StartS3For(t testing.TB) *S3 {
	t.Helper()
	ifc, err := net.InterfaceByName("docker0")
	if err != nil {
		t.Fatalf("no docker0 bridge: %v", err)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return startS3(t, ipn.IP.String(), nil)
		}
	}
	t.Fatal("docker0 has no IPv4 address")
	return nil
}

// startS3 runs versitygw on host, its command line after prefix (for
// example ip netns exec).
func startS3(t testing.TB, host string, prefix []string) *S3 {
	t.Helper()
	bin := versitygw(t)
	dir := t.TempDir()
	certPEM, keyPEM, err := site.SelfSigned(host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &S3{
		Endpoint: net.JoinHostPort(host, strconv.Itoa(FreePort(t))),
		CAFile:   filepath.Join(dir, "ca.pem"),
		Access:   "osgs" + randHex(6),
		Secret:   randHex(20),
		Data:     filepath.Join(dir, "data"),
	}
	for f, data := range map[string][]byte{s.CAFile: certPEM, filepath.Join(dir, "key.pem"): keyPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{s.Data, filepath.Join(dir, "versions")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	args := append(append(prefix[:len(prefix):len(prefix)], bin), "--port", s.Endpoint, "--cert", s.CAFile, "--key", filepath.Join(dir, "key.pem"),
		"posix", "--versioning-dir", filepath.Join(dir, "versions"), s.Data)
	cmd := exec.Command(args[0], args[1:]...)
	// The keys go through the environment, not argv.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.Access, "ROOT_SECRET_ACCESS_KEY="+s.Secret)
	startServer(t, cmd, s.Endpoint, filepath.Join(dir, "versitygw.log"))
	return s
}

// startServer runs cmd until the test ends and waits until addr accepts.
func startServer(t testing.TB, cmd *exec.Cmd, addr, logFile string) {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		log.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			out, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited at start:\n%s", filepath.Base(cmd.Path), out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logFile)
			t.Fatalf("%s does not answer on %s:\n%s", filepath.Base(cmd.Path), addr, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SFTP is Debian's sshd on loopback, serving SFTP to one key.
type SFTP struct {
	Addr       string // 127.0.0.1:port
	User       string
	Dir        string // a folder for the test's files on the server
	KeyFile    string // the client's private key, mode 0600
	KnownHosts string // a known_hosts line for the server
	Stop       func() // stops sshd before the test ends (an unreachable server)
}

// URL is the sftp:// destination of folder sub under Dir.
func (s *SFTP) URL(sub string) string {
	return "sftp://" + s.User + "@" + s.Addr + filepath.Join(s.Dir, sub)
}

// StartSFTP starts sshd on a free loopback port with fresh host and client
// keys; it stops with the test.
func StartSFTP(t testing.TB) *SFTP {
	t.Helper()
	s := startSSHD(t, "Subsystem sftp internal-sftp\n")
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return s
}

// SSHEngine serves the engine at host (unix://...) over ssh, as a remote
// machine's engine is reached: it starts sshd on loopback, whose sessions
// see DOCKER_HOST=host, and puts an ssh first in PATH that knows the key
// and the host key (the docker CLI's ssh helper runs "ssh ... docker system
// dial-stdio" and takes the rest from ssh's own configuration). It returns
// the engine's ssh://user@127.0.0.1:port address.
func SSHEngine(t testing.TB, host string) string {
	t.Helper()
	need(t, "docker", "docker.io") // dial-stdio, run by sshd's session
	sshc := need(t, "ssh", "openssh-client")
	s := startSSHD(t, "SetEnv DOCKER_HOST="+host+"\n")
	bin := filepath.Join(filepath.Dir(s.KeyFile), "bin")
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes \"$@\"\n",
		sshc, s.KeyFile, s.KnownHosts)
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return "ssh://" + s.User + "@" + s.Addr
}

// startSSHD starts Debian's sshd on a free loopback port with fresh host
// and client keys and the extra sshd_config lines; it stops with the test.
func startSSHD(t testing.TB, extra string) *SFTP {
	t.Helper()
	sshd := need(t, "/usr/sbin/sshd", "openssh-server")
	dir := t.TempDir()
	hostPub, hostKey := sshKey(t)
	clientPub, clientKey := sshKey(t)
	s := &SFTP{
		Addr:       "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		User:       "root",
		Dir:        filepath.Join(dir, "files"),
		KeyFile:    filepath.Join(dir, "client_key"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
	}
	if u := os.Getenv("USER"); u != "" && u != "root" {
		s.User = u
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	files := map[string][]byte{
		filepath.Join(dir, "host_key"):        hostKey,
		s.KeyFile:                             clientKey,
		filepath.Join(dir, "authorized_keys"): clientPub,
		s.KnownHosts:                          []byte(fmt.Sprintf("[%s]:%s %s", host, port, hostPub)),
		filepath.Join(dir, "sshd_config"): []byte(fmt.Sprintf(`Port %s
ListenAddress %s
HostKey %s/host_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
%s`, port, host, dir, dir, dir, extra)),
	}
	for f, data := range files {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation folder
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	startServer(t, cmd, s.Addr, filepath.Join(dir, "sshd.log"))
	s.Stop = func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return s
}

// sshKey makes an ed25519 key pair: the authorized_keys line and the PEM.
func sshKey(t testing.TB) (pub, priv []byte) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(sk, "")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(ssh.MarshalAuthorizedKey(sp)), pem.EncodeToMemory(block)
}

// CATransport is an HTTP transport that trusts only the certificate in caFile.
func CATransport(t testing.TB, caFile string) *http.Transport {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return tr
}

// Netns is a network namespace of the test's own, linked to the host by a
// veth pair: a client elsewhere on the LAN, as the host's firewall and
// published ports see it.
type Netns struct {
	Name string
	Host string // the host's address on the link, as the namespace reaches it
}

// NewNetns makes a namespace that goes with the test. It needs root and
// iproute2.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a network namespace needs root")
	}
	need(t, "ip", "iproute2")
	ns, _, _, subnet := linkNetns(t, "osn", 215)
	return &Netns{Name: ns, Host: subnet + ".1"}
}

// linkNetns makes a network namespace named prefix+id and a veth pair to
// it: the host side is <subnet>.1/30, the namespace's <subnet>.2, with
// subnet 10.<octet>.<n>. The namespace, and with it the pair, goes with
// the test.
func linkNetns(t testing.TB, prefix string, octet int) (ns, host, peer, subnet string) {
	t.Helper()
	id := randHex(3)
	ns, host, peer = prefix+id, prefix+id+"h", prefix+id+"p"
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	subnet = fmt.Sprintf("10.%d.%d", octet, 1+int(id[0])%250)
	run(t, "ip", "netns", "add", ns)
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	run(t, "ip", "link", "set", peer, "netns", ns)
	run(t, "ip", "addr", "add", subnet+".1/30", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "-n", ns, "addr", "add", subnet+".2/30", "dev", peer)
	run(t, "ip", "-n", ns, "link", "set", peer, "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns, host, peer, subnet
}

// Dial reports whether a TCP connection from the namespace to the host's
// port is accepted (within 5 seconds).
func (n *Netns) Dial(port string) error {
	cmd := exec.Command("ip", "netns", "exec", n.Name, "timeout", "5", "bash", "-c", `exec 3<>"/dev/tcp/$0/$1"`, n.Host, port)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

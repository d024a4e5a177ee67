package testenv

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/engine"
)

// Site is an https client of a checkout's front door: it trusts only the
// checkout's own certificate, connects to loopback and names the site
// localhost:<port>, as a browser on the server would.
type Site struct {
	t      testing.TB
	Client *http.Client
	Port   string
}

// Site returns the front door's client; redirects are not followed.
func (c *Checkout) Site(t testing.TB, e *engine.Engine) *Site {
	return &Site{t: t, Port: e.Env.Value("NGINX_HTTPS_PORT"), Client: &http.Client{
		Timeout:       60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.SitePool(t), ServerName: "localhost"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Base is the public URL services must advertise.
func (s *Site) Base() string { return "https://localhost:" + s.Port }

// Get fetches path and returns the status and body.
func (s *Site) Get(path string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+s.Port+path, nil)
	req.Host = "localhost:" + s.Port
	res, err := s.Client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return res.StatusCode, b
}

// GetJSON fetches path, which must answer 200, and decodes it into v.
func (s *Site) GetJSON(path string, v any) {
	s.t.Helper()
	code, b := s.Get(path)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %.500s", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		s.t.Fatalf("GET %s: %v: %.500s", path, err, b)
	}
}

// RedPixels counts the opaque red pixels of a PNG: the point symbol of the
// test projects (testdata/places.qgs) and the colour of the test sources.
func RedPixels(t testing.TB, data []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v (%.200s)", err, data)
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			if a > 0xc000 && r > 0xc000 && g < 0x4000 && bl < 0x4000 {
				n++
			}
		}
	}
	return n
}

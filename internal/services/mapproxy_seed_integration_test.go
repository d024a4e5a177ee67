package services_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/mapproxy"
	"github.com/osgs/osgs/internal/testenv"
)

// wmsStub stands in for MapProxy's source: a WMS that answers every GetMap
// with an opaque image of the asked size and counts the requests (GET
// /count). It runs in MapProxy's own image, which has Python and PIL, on
// MapProxy's network (a real source is reached over the internet).
const wmsStub = `networks:
  mapproxy: {}
services:
  wmsstub:
    x-osgs:
      description: a WMS stand-in that counts its GetMap requests (tests only)
    profiles: [wmsstub]
    image: osgs/mapproxy:1.15-bookworm
    networks: [mapproxy]
    entrypoint: ["python3", "-c"]
    command:
      - |
        import http.server, io, threading, urllib.parse
        from PIL import Image
        count, lock = 0, threading.Lock()
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                global count
                u = urllib.parse.urlparse(self.path)
                if u.path == '/count':
                    body, ctype = str(count).encode(), 'text/plain'
                else:
                    q = {k.upper(): v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
                    with lock:
                        count += 1
                    buf = io.BytesIO()
                    Image.new('RGBA', (int(q['WIDTH']), int(q['HEIGHT'])), (200, 30, 30, 255)).save(buf, 'PNG')
                    body, ctype = buf.getvalue(), 'image/png'
                self.send_response(200)
                self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *a):
                pass
        http.server.ThreadingHTTPServer(('', 8000), H).serve_forever()
`

// TestMapproxySeed seeds a small area with mapproxy:seed, then reads its
// tiles through nginx: they come from the cache, and the source is not
// asked again. A tile outside the area is asked for, and after
// mapproxy:cleanup the seeded ones are too.
func TestMapproxySeed(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := testenv.NewCheckout(t, map[string]string{
		"MAPPROXY_SOURCE_URL":    "http://wmsstub:8000/wms",
		"MAPPROXY_SOURCE_LAYERS": "stub",
	})
	c.Cleanup(t)
	c.AddService(t, "wmsstub", wmsStub)
	e := c.Engine(t)
	if err := e.Up(ctx, engine.UpOptions{Services: []string{"nginx", "mapproxy", "wmsstub"}}); err != nil {
		t.Fatal(err)
	}
	requests := func() int {
		t.Helper()
		out, err := e.Output(ctx, "wmsstub", "", "python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/count').read().decode())")
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	s := c.Site(t, e)
	tile := func(z int, p orb.Point) {
		t.Helper()
		tl := maptile.At(p, maptile.Zoom(z))
		// WMTS REST: rows from the north, as maptile's (TMS counts from the south).
		path := fmt.Sprintf("/mapproxy/wmts/source/GLOBAL_WEBMERCATOR/%d/%d/%d.png", z, tl.X, tl.Y)
		code, body := s.Get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %.200s", path, code, body)
		}
		img, err := png.Decode(bytes.NewReader(body))
		if err != nil || img.Bounds().Dx() != 256 {
			t.Fatalf("GET %s: not a 256 px PNG: %v", path, err)
		}
		if r, _, _, a := img.At(128, 128).RGBA(); r>>8 != 200 || a>>8 != 255 {
			t.Fatalf("GET %s: the tile is not the source's drawing", path)
		}
	}

	for _, o := range []mapproxy.SeedOptions{{To: 2, Caches: []string{"no_such_cache"}}} {
		if err := mapproxy.Seed(ctx, e, o); !errors.Is(err, mapproxy.ErrRefused) || !strings.Contains(err.Error(), "source_cache") {
			t.Fatalf("seeding an unknown cache: %v", err)
		}
	}
	if n := requests(); n != 0 {
		t.Fatalf("the source was asked %d times before any seed", n)
	}
	area := []float64{8.35, 48.95, 8.45, 49.05}
	if err := mapproxy.Seed(ctx, e, mapproxy.SeedOptions{From: 0, To: 12, BBox: area}); err != nil {
		t.Fatal(err)
	}
	seeded := requests()
	if seeded == 0 {
		t.Fatal("mapproxy:seed asked the source nothing")
	}
	centre := orb.Point{8.4, 49.0}
	for z := 0; z <= 12; z++ {
		tile(z, centre)
		tile(z, orb.Point{area[0] + 0.001, area[1] + 0.001})
	}
	if n := requests(); n != seeded {
		t.Fatalf("tiles of the seeded area asked the source %d more times", n-seeded)
	}
	tile(12, orb.Point{-70, -30}) // outside: a cache miss asks the source
	missed := requests()
	if missed == seeded {
		t.Fatal("a tile outside the seeded area came without asking the source: the count proves nothing")
	}
	if err := mapproxy.Cleanup(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	tile(12, centre)
	if n := requests(); n == missed {
		t.Fatal("after mapproxy:cleanup a seeded tile still came from the cache")
	}
}

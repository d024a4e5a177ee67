package engine_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/testenv"
)

// TestBuildAllKeepsCurrentImages: images:all builds what is missing or
// stale and nothing else. testenv has already built every image (the first
// test needing Docker does), so a second BuildAll, from another checkout,
// must leave every image as it is: same IDs, no build.
func TestBuildAllKeepsCurrentImages(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	co := testenv.NewCheckout(t, nil)
	e := co.Engine(t)
	var out bytes.Buffer
	e.Out, e.Err = &out, &out
	if err := e.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	ids := func() map[string]string {
		m := map[string]string{}
		for _, name := range e.Catalog.Names() {
			s, err := e.Catalog.Get(name)
			if err != nil || !s.Built {
				continue
			}
			insp, err := e.Docker().ImageInspect(ctx, s.Image)
			if err != nil {
				t.Fatalf("%s: %v", s.Image, err)
			}
			m[s.Image] = insp.ID
		}
		if len(m) == 0 {
			t.Fatal("the catalog names no service osgs builds")
		}
		return m
	}
	before := ids()
	if err := e.BuildAll(ctx); err != nil {
		t.Fatal(err)
	}
	after := ids()
	for ref, id := range before {
		if after[ref] != id {
			t.Errorf("%s was built again: %s, then %s", ref, id, after[ref])
		}
	}
	if strings.Contains(out.String(), "building") {
		t.Errorf("BuildAll built current images:\n%s", out.String())
	}
}

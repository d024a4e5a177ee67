package files_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/files"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

const svc = `services:
  assets:
    x-osgs:
      description: test service with a volume of project files
      volumes:
        - name: assets-data
          path: /io/data
          backup: true
    profiles: [assets]
    image: osgs/postgis:15-3.3-bookworm
    entrypoint: ["sleep", "infinity"]
    volumes:
      - assets-data:/io/data
volumes:
  assets-data:
`

func TestPutGetRoundTrip(t *testing.T) {
	ctx, _, e := testenv.Start(t, 10*time.Minute, map[string]string{"assets": svc}, postgis.Service, "assets")

	// A local project folder with a subfolder, a symlink and a binary file.
	local := filepath.Join(t.TempDir(), "city")
	os.MkdirAll(filepath.Join(local, "svg"), 0o755)
	os.WriteFile(filepath.Join(local, "city.qgs"), []byte("<qgis version='3.22'/>"), 0o640)
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(local, "svg", "icons.bin"), big, 0o644)
	os.Symlink("city.qgs", filepath.Join(local, "current.qgs"))
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chtimes(filepath.Join(local, "city.qgs"), mtime, mtime)

	put := files.Options{Service: "assets", VolumePath: "/io/data", Local: local}
	if err := files.Put(ctx, e, put); err != nil {
		t.Fatal(err)
	}
	out, err := e.Output(ctx, "assets", "root", "sh", "-c", "cd /io/data/city && stat -c '%n %U %a' city.qgs svg/icons.bin && readlink current.qgs && md5sum svg/icons.bin")
	if err != nil {
		t.Fatal(err)
	}
	listing := string(out)
	for _, want := range []string{"city.qgs postgres 640", "svg/icons.bin postgres 644", "\ncity.qgs\n"} {
		if !strings.Contains(listing, want) {
			t.Fatalf("in the volume: %q lacks %q", listing, want)
		}
	}

	t.Run("put refuses to overwrite without -yes", func(t *testing.T) {
		var ce *engine.ConfirmError
		if err := files.Put(ctx, e, put); !errors.As(err, &ce) {
			t.Fatalf("err = %v", err)
		}
		put.Yes = true
		if err := files.Put(ctx, e, put); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("paths outside the volumes are refused", func(t *testing.T) {
		err := files.Put(ctx, e, files.Options{Service: "assets", VolumePath: "/etc", Local: local})
		if err == nil || !strings.Contains(err.Error(), "not inside a volume") {
			t.Fatalf("err = %v", err)
		}
		err = files.Put(ctx, e, files.Options{Service: "assets", VolumePath: "/io/data/../../etc", Local: local})
		if err == nil {
			t.Fatal("a path escaping the volume was accepted")
		}
	})

	t.Run("get brings it back unchanged", func(t *testing.T) {
		dst := t.TempDir()
		if err := files.Get(ctx, e, files.Options{Service: "assets", VolumePath: "/io/data/city", Local: dst}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dst, "city", "svg", "icons.bin"))
		if err != nil || string(got) != string(big) {
			t.Fatalf("icons.bin differs (%v)", err)
		}
		info, err := os.Stat(filepath.Join(dst, "city", "city.qgs"))
		if err != nil || info.Mode().Perm() != 0o640 || !info.ModTime().Equal(mtime) {
			t.Fatalf("city.qgs: %v %v %v", err, info.Mode(), info.ModTime())
		}
		if l, _ := os.Readlink(filepath.Join(dst, "city", "current.qgs")); l != "city.qgs" {
			t.Fatalf("symlink -> %q", l)
		}
		var ce *engine.ConfirmError
		if err := files.Get(ctx, e, files.Options{Service: "assets", VolumePath: "/io/data/city", Local: dst}); !errors.As(err, &ce) {
			t.Fatalf("second get without -yes: %v", err)
		}
	})
}

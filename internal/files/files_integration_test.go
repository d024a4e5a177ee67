package files_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

	t.Run("links out of the volume are refused and never followed", func(t *testing.T) {
		symlinks(t, ctx, e)
	})
}

// symlinks: a put of an absolute link, of a relative one that climbs out
// or of a FIFO is refused before anything is written; a link that is in
// the volume already (made by the service) is never followed by a put or a
// get, at the end of the path or on the way.
func symlinks(t *testing.T, ctx context.Context, e *engine.Engine) {
	for name, target := range map[string]string{"abs": "/etc/ssl", "up": "../../../etc", "updown": "sub/../../..", "downup": "a/../../x"} {
		local := filepath.Join(t.TempDir(), "bad-"+name)
		os.MkdirAll(filepath.Join(local, "sub"), 0o755)
		os.WriteFile(filepath.Join(local, "ok.txt"), []byte("x"), 0o644)
		os.Symlink(target, filepath.Join(local, "link"))
		err := files.Put(ctx, e, files.Options{Service: "assets", VolumePath: "/io/data", Local: local})
		if !errors.Is(err, files.ErrRefused) || strings.Contains(err.Error(), "\n") {
			t.Errorf("a link to %s: %v", target, err)
		}
		if out, _ := e.Output(ctx, "assets", "root", "ls", "/io/data"); strings.Contains(string(out), "bad-") {
			t.Fatalf("a refused put left %q", out)
		}
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	os.MkdirAll(fifo, 0o755)
	if err := syscall.Mkfifo(filepath.Join(fifo, "p"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := files.Put(ctx, e, files.Options{Service: "assets", VolumePath: "/io/data", Local: fifo}); !errors.Is(err, files.ErrRefused) {
		t.Errorf("a FIFO: %v", err)
	}
	// Links a compromised service (or an old osgs) left in the volume.
	if _, err := e.Output(ctx, "assets", "root", "sh", "-c", "ln -s /etc/ssl /io/data/ssl && mkdir -p /io/data/d && ln -s /etc/postgresql-common /io/data/d/pg && ln -s ../../../etc /io/data/rel"); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(t.TempDir(), "x.txt")
	os.WriteFile(one, []byte("planted"), 0o644)
	for _, dir := range []string{"/io/data/ssl", "/io/data/d/pg", "/io/data/rel", "/io/data/ssl/private"} {
		if err := files.Put(ctx, e, files.Options{Service: "assets", VolumePath: dir, Local: one, Yes: true}); err == nil {
			t.Errorf("put through %s succeeded", dir)
		}
	}
	// A folder whose subfolder exists in the volume as a link.
	tree := filepath.Join(t.TempDir(), "d")
	os.MkdirAll(filepath.Join(tree, "pg"), 0o755)
	os.WriteFile(filepath.Join(tree, "pg", "pg_service.conf"), []byte("planted"), 0o644)
	if err := files.Put(ctx, e, files.Options{Service: "assets", VolumePath: "/io/data", Local: tree, Yes: true}); !errors.Is(err, files.ErrRefused) {
		t.Errorf("a folder put through a link inside it: %v", err)
	}
	if out, _ := e.Output(ctx, "assets", "root", "sh", "-c", "grep -rl planted /etc || true"); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("written outside the volume: %s", out)
	}
	for _, src := range []string{"/io/data/ssl", "/io/data/d/pg/pg_service.conf", "/io/data/d/pg", "/io/data/rel/passwd"} {
		dst := t.TempDir()
		if err := files.Get(ctx, e, files.Options{Service: "assets", VolumePath: src, Local: dst}); !errors.Is(err, files.ErrRefused) {
			t.Errorf("get through %s: %v", src, err)
		}
		if entries, _ := os.ReadDir(dst); len(entries) != 0 {
			t.Errorf("get through %s wrote %v", src, entries)
		}
	}
	// A whole folder holding the links comes back with the links as links.
	dst := t.TempDir()
	if err := files.Get(ctx, e, files.Options{Service: "assets", VolumePath: "/io/data/d", Local: dst}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "d", "pg")); err != nil || l != "/etc/postgresql-common" {
		t.Errorf("the link came back as %q, %v", l, err)
	}
	e.Output(ctx, "assets", "root", "rm", "-rf", "/io/data/ssl", "/io/data/d", "/io/data/rel")
}

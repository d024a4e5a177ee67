package backup

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/klauspost/compress/zstd"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

func TestFIFOTransport(t *testing.T) {
	ctx, _, e := testenv.Start(t, 10*time.Minute, nil, postgis.Service)
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDumper(ctx, e, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.transport != TransportFIFO {
		t.Fatalf("transport %s on a local engine, want fifo", d.transport)
	}
	// Every helper's anonymous volume (the image declares VOLUME) must go
	// with it, and no helper may stay behind.
	var helperVolumes []string
	track := func(r io.ReadCloser) {
		// The FIFO is private to this user: folder 0700, FIFO 0600.
		f := r.(peeked).src.(*fifoReader)
		dir := f.dir
		for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "stdout"): 0o600} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %v %v, want mode %v", p, fi.Mode(), err, want)
			}
		}
		insp, err := e.Docker().ContainerInspect(ctx, f.id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range insp.Container.Mounts {
			if m.Type == "volume" && m.Name != d.socketVol {
				helperVolumes = append(helperVolumes, m.Name)
			}
		}
	}
	defer func() {
		f := client.Filters{}
		f.Add("label", HelperLabel)
		f.Add("label", api.ProjectLabel+"="+e.ProjectName())
		left, err := e.Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil || len(left.Items) != 0 {
			t.Errorf("helpers left behind: %v %v", len(left.Items), err)
		}
		if len(helperVolumes) == 0 {
			t.Error("tracked no helper volume")
		}
		for _, v := range helperVolumes {
			if _, err := e.Docker().VolumeInspect(ctx, v, client.VolumeInspectOptions{}); err == nil {
				t.Errorf("helper volume %s left behind", v)
			}
		}
	}()

	// An exec whose input fails halfway must fail, though the command
	// itself sees only EOF and exits 0: a COPY would end there too.
	failing := io.MultiReader(strings.NewReader("1\tpartial\n"), iotest.ErrReader(errors.New("disk read error")))
	err = e.Exec(ctx, id, []string{"cat"}, engine.ExecOptions{Stdin: failing, Stdout: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "disk read error") {
		t.Fatalf("exec with failing input: %v, want the read error", err)
	}

	// Both transports compress in the server's image (it has zstd), and
	// a command that fails, before or after writing, fails the stream: not
	// a zstd frame ended cleanly on a cut-short dump.
	exec := *d
	exec.transport = TransportExec
	for _, d := range []*dumper{d, &exec} {
		r, compressed, err := d.streamZstd(ctx, []string{"pg_dumpall", "-h", postgis.Socket, "-U", postgis.Load(e).User, "--globals-only"})
		if err != nil {
			t.Fatal(err)
		}
		if d.transport == TransportFIFO {
			track(r)
		}
		if !compressed {
			t.Errorf("%s: the dump came uncompressed from an image with zstd", d.transport)
		}
		dec, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(dec)
		dec.Close()
		r.Close()
		if err != nil || !bytesContains(out, "CREATE ROLE") {
			t.Fatalf("%s: globals: %v %q", d.transport, err, out)
		}

		for _, argv := range [][]string{{"sh", "-c", "echo partial; exit 3"}, {"no-such-command"}} {
			done := make(chan error, 1)
			go func() {
				r, _, err := d.streamZstd(ctx, argv)
				if err == nil {
					if d.transport == TransportFIFO {
						track(r)
					}
					_, err = io.ReadAll(r)
					r.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				var xe *engine.ExitError
				if !errors.As(err, &xe) || xe.Code == 0 {
					t.Fatalf("%s %v: err = %v, want the command's exit code", d.transport, argv, err)
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s %v: the reader hangs", d.transport, argv)
			}
		}
	}
}

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }

package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// Transport is how dump bytes leave the server's container.
type Transport string

const (
	// TransportFIFO runs the dump in a helper container from the server's
	// image, connected through the shared socket volume, writing into a FIFO
	// on a bind mount that this process reads. The engine does not copy the
	// bytes, which makes it the fast path; it needs an engine on this host.
	TransportFIFO Transport = "fifo"
	// TransportExec runs the dump with exec in the server's container and
	// reads the attach stream: slower, but works with any DOCKER_HOST.
	TransportExec Transport = "exec"
)

// TransportEnv forces a transport (fifo or exec).
const TransportEnv = "OSGS_DUMP_TRANSPORT"

// chooseTransport picks the FIFO path when the engine shares this host's
// kernel and file system: a Unix socket, and the daemon's host name is ours.
func chooseTransport(ctx context.Context, e *engine.Engine) Transport {
	switch Transport(os.Getenv(TransportEnv)) {
	case TransportFIFO:
		return TransportFIFO
	case TransportExec:
		return TransportExec
	}
	if !strings.HasPrefix(e.Docker().DaemonHost(), "unix://") {
		return TransportExec
	}
	info, err := e.Docker().Info(ctx, client.InfoOptions{})
	host, _ := os.Hostname()
	if err != nil || info.Info.Name != host || strings.Contains(info.Info.OperatingSystem, "Docker Desktop") {
		return TransportExec
	}
	return TransportFIFO
}

// dumper starts dump commands in the PostGIS server's context.
type dumper struct {
	e         *engine.Engine
	id        string // the server's container
	image     string // its image ID
	socketVol string // the volume holding its Unix socket
	transport Transport
}

func newDumper(ctx context.Context, e *engine.Engine, id string) (*dumper, error) {
	d := &dumper{e: e, id: id, transport: chooseTransport(ctx, e)}
	if e.Routed(id) {
		// A swarm task on another node: its volumes are not on this host.
		d.transport = TransportExec
	}
	if d.transport == TransportExec {
		return d, nil
	}
	insp, err := e.DockerFor(id).ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	d.image = insp.Container.Image
	for _, m := range insp.Container.Mounts {
		if m.Destination == postgis.Socket && m.Type == mount.TypeVolume {
			d.socketVol = m.Name
		}
	}
	if d.socketVol == "" {
		// A container created before the socket volume existed: run
		// `mage postgis:up` to recreate it; until then, use exec.
		d.transport = TransportExec
	}
	return d, nil
}

// zstdScript runs a dump ("$@") and compresses it where it is made, with
// Debian's zstd at the level of the pipeline an admin would type
// (`pg_dump -Fc -Z0 | zstd -1 -T0`), so the stored archive is the same size
// as that pipeline's: Go's zstd at its fastest level stores 0.7 to 1.6% more
// of a dump (mostly coordinates and hashes, where C zstd -1's entropy coding
// does better, and the higher levels of either do worse), and the engine or
// FIFO carries a third of the bytes. pipefail: a dump that fails halfway
// must fail the stream, not end a valid-looking frame. An image without zstd
// streams the dump as it is, and this process compresses it.
//
// pg_dump's stdout is stdio-buffered in blocks of a pipe's st_blksize
// (4 KiB), and each write wakes the reader: stdbuf makes them 1 MiB
// (measured: the 4 KiB writes cost 2.5 s of a 1.2 GB dump on 2 cores).
const zstdScript = `if command -v zstd >/dev/null 2>&1; then set -o pipefail; stdbuf -o1M "$@" | zstd -1 -T0 -q -c; else exec stdbuf -o1M "$@"; fi`

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// streamZstd runs the dump argv through zstdScript and returns its stdout,
// and whether that is zstd (the image has zstd) rather than the dump as it
// is. The reader returns the command's error instead of EOF when it exits
// non-zero.
func (d *dumper) streamZstd(ctx context.Context, argv []string) (io.ReadCloser, bool, error) {
	var (
		r   io.ReadCloser
		err error
	)
	if d.transport == TransportExec {
		r = dumpStream(ctx, d.e, d.id, append([]string{"bash", "-c", zstdScript, "bash"}, argv...))
	} else if r, err = fifoStream(ctx, d.e, d.image, d.socketVol, "exec > /out/stdout; "+zstdScript, argv); err != nil {
		return nil, false, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(zstdMagic))
	if err != nil {
		r.Close()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%s wrote nothing", argv[0])
		}
		return nil, false, err
	}
	return peeked{br, r}, bytes.Equal(head, zstdMagic), nil
}

// peeked reads a stream through the buffer its head was peeked in.
type peeked struct {
	*bufio.Reader
	src io.ReadCloser
}

func (p peeked) Close() error { return p.src.Close() }

// fifoStream runs argv in a helper container, under bash with script, which
// sends its output into the FIFO /out/stdout that this process reads.
func fifoStream(ctx context.Context, e *engine.Engine, image, socketVol, script string, argv []string) (io.ReadCloser, error) {
	dir, err := os.MkdirTemp("", "osgs-dump-")
	if err != nil {
		return nil, err
	}
	fifo := filepath.Join(dir, "stdout")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mkfifo: %w", err)
	}
	// pg_dump -f on a FIFO fails on fsync; redirecting stdout works.
	id, err := createHelper(ctx, e, image, socketVol, dir, "/out", append([]string{"bash", "-c", script, "bash"}, argv...), "dump")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	f := &fifoReader{e: e, id: id, dir: dir, opened: make(chan struct{}), exited: make(chan struct{})}
	wait := e.Docker().ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.Docker().ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("start dump helper: %w", err)
	}
	go func() {
		select {
		case r := <-wait.Result:
			f.code = int(r.StatusCode)
		case err := <-wait.Error:
			f.waitErr = err
		}
		close(f.exited)
		// A reader still blocked in open (the helper died before opening
		// its end) is released by opening the write end ourselves.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}()
	go func() {
		f.file, f.openErr = os.Open(fifo)
		if f.openErr == nil {
			// A pipe holds 64 KiB; 1 MiB (Linux's default maximum for
			// unprivileged processes) lets each write land whole. Best
			// effort: a smaller pipe still works. (Not through Fd, which
			// would make the FIFO blocking, so Close could not end a read.)
			if rc, err := f.file.SyscallConn(); err == nil {
				_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
			}
		}
		close(f.opened)
	}()
	return f, nil
}

type fifoReader struct {
	e       *engine.Engine
	id, dir string
	opened  chan struct{}
	file    *os.File
	openErr error
	exited  chan struct{}
	code    int
	waitErr error
	once    sync.Once
}

func (f *fifoReader) Read(p []byte) (int, error) {
	<-f.opened
	if f.openErr != nil {
		return 0, f.openErr
	}
	n, err := f.file.Read(p)
	if errors.Is(err, io.EOF) {
		<-f.exited
		if f.waitErr != nil {
			return n, f.waitErr
		}
		if f.code != 0 {
			return n, &engine.ExitError{Cmd: "dump helper", Code: f.code, Stderr: f.stderr()}
		}
	}
	return n, err
}

// stderr returns the end of the helper's output.
func (f *fifoReader) stderr() string {
	logs, err := f.e.Docker().ContainerLogs(context.Background(), f.id, client.ContainerLogsOptions{ShowStderr: true, ShowStdout: true, Tail: "5"})
	if err != nil {
		return ""
	}
	defer logs.Close()
	var b bytes.Buffer
	stdcopy.StdCopy(&b, &b, logs)
	return b.String()
}

// Close stops and removes the helper and the FIFO's folder.
func (f *fifoReader) Close() error {
	f.once.Do(func() {
		_, _ = f.e.Docker().ContainerRemove(context.Background(), f.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		select {
		case <-f.opened:
		default:
			if w, err := os.OpenFile(filepath.Join(f.dir, "stdout"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			<-f.opened
		}
		if f.file != nil {
			f.file.Close()
		}
		os.RemoveAll(f.dir)
	})
	return nil
}

// feed runs argv with src as its standard input and returns its error.
func (d *dumper) feed(ctx context.Context, argv []string, src io.Reader) error {
	if d.transport == TransportExec {
		return d.e.Exec(ctx, d.id, argv, engine.ExecOptions{User: postgis.OSUser, Stdin: src, Stderr: io.Discard})
	}
	return fifoFeed(ctx, d.e, d.image, d.socketVol, argv, src)
}

// fifoFeed runs argv in a helper container reading its stdin from a FIFO
// that this process writes src into.
func fifoFeed(ctx context.Context, e *engine.Engine, image, socketVol string, argv []string, src io.Reader) error {
	dir, err := os.MkdirTemp("", "osgs-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fifo := filepath.Join(dir, "stdin")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("mkfifo: %w", err)
	}
	id, err := createHelper(ctx, e, image, socketVol, dir, "/in", append([]string{"sh", "-c", `exec "$@" < /in/stdin`, "sh"}, argv...), "restore")
	if err != nil {
		return err
	}
	helper := &fifoReader{e: e, id: id}
	defer func() {
		_, _ = e.Docker().ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}()
	wait := e.Docker().ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.Docker().ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start restore helper: %w", err)
	}
	exited := make(chan struct{})
	code, waitErr := 0, error(nil)
	go func() {
		select {
		case r := <-wait.Result:
			code = int(r.StatusCode)
		case err := <-wait.Error:
			waitErr = err
		}
		close(exited)
		// Release our open for writing if the helper never opened its end.
		if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			r.Close()
		}
	}()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	var copyErr error
	if err == nil {
		_, copyErr = io.Copy(w, ctxReader{ctx, src})
		w.Close()
	} else {
		copyErr = err
	}
	<-exited
	switch {
	case waitErr != nil:
		return waitErr
	case code != 0:
		return &engine.ExitError{Cmd: argv[0], Code: code, Stderr: helper.stderr()}
	case copyErr != nil:
		return copyErr
	}
	return nil
}

// createHelper creates (without starting) a helper container from the
// server's image: no network, the server's socket volume, and the FIFO's
// folder at fifoDir. cmd redirects its command's standard stream to the
// FIFO.
//
// The FIFO stays private: its folder is mode 0700 and the FIFO 0600, both
// owned by this process's user, so no other local user can read a dump or
// write SQL into a restore. The helper therefore runs as root, which opens
// them by its capabilities, and which the server's pg_ident maps to the
// superuser over the socket, like the image's postgres user.
func createHelper(ctx context.Context, e *engine.Engine, image, socketVol, dir, fifoDir string, cmd []string, role string) (string, error) {
	res, err := e.Docker().ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: image, Entrypoint: cmd[:1], Cmd: cmd[1:], User: "root",
			Labels: map[string]string{api.ProjectLabel: e.ProjectName(), api.OneoffLabel: "True", "org.osgs.helper": role},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "none",
			Mounts: []mount.Mount{
				{Type: mount.TypeVolume, Source: socketVol, Target: postgis.Socket},
				{Type: mount.TypeBind, Source: dir, Target: fifoDir},
			},
		},
	})
	if err != nil {
		return "", fmt.Errorf("create %s helper: %w", role, err)
	}
	return res.ID, nil
}

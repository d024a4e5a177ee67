package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/term"
)

// ContainerOf returns the ID of the running container of service.
//
// A service this engine does not run may run elsewhere: a task of a swarm
// deployment on another node. With a Locator set, ContainerOf asks it, and
// the ID it returns is routed: Exec, the file copies and DockerFor(id) talk
// to that node's engine.
func (e *Engine) ContainerOf(ctx context.Context, service string) (string, error) {
	id, err := e.localContainerOf(ctx, service)
	var nr *NotRunningError
	if !errors.As(err, &nr) || e.routes.locate == nil {
		return id, err
	}
	at, lerr := e.routes.locate(ctx, service)
	switch {
	case errors.Is(lerr, ErrNotDeployed):
		return "", err
	case lerr != nil:
		return "", lerr
	}
	e.routes.add(at.ID, at.Client)
	return at.ID, nil
}

// localContainerOf is the running container of service on this engine.
func (e *Engine) localContainerOf(ctx context.Context, service string) (string, error) {
	if err := e.CheckServices(service); err != nil {
		return "", err
	}
	if err := e.Connect(ctx); err != nil {
		return "", err
	}
	f := client.Filters{}
	f.Add("label", api.ProjectLabel+"="+e.ProjectName())
	f.Add("label", api.ServiceLabel+"="+service)
	f.Add("label", api.OneoffLabel+"=False")
	res, err := e.docker.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil {
		return "", fmt.Errorf("list containers: %w", err)
	}
	if len(res.Items) == 0 {
		return "", &NotRunningError{Service: service}
	}
	return res.Items[0].ID, nil
}

// NotRunningError reports a service without a running container.
type NotRunningError struct{ Service string }

func (n *NotRunningError) Error() string {
	return fmt.Sprintf("%s is not running: start it with `mage %s:up`", n.Service, n.Service)
}

// ExecOptions configure an exec into a service container.
type ExecOptions struct {
	User   string
	Env    []string
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError is a command in a container that exited non-zero.
type ExitError struct {
	Cmd    string
	Code   int
	Stderr string
}

func (x *ExitError) Error() string {
	msg := fmt.Sprintf("%s exited with code %d", x.Cmd, x.Code)
	if x.Stderr != "" {
		msg += ": " + oneLine(lastLines(x.Stderr, 3))
	}
	return msg
}

func lastLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte(" / ")))
}

// Exec runs cmd in container id without a TTY, streaming stdin and the
// demultiplexed stdout/stderr, and returns an *ExitError when it exits
// non-zero. Arguments are passed as argv, never through a shell.
func (e *Engine) Exec(ctx context.Context, id string, cmd []string, o ExecOptions) error {
	docker := e.DockerFor(id)
	created, err := docker.ExecCreate(ctx, id, client.ExecCreateOptions{
		User: o.User, Env: o.Env, Cmd: cmd,
		AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	att, err := docker.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()

	// The stdin copy runs beside the output. Its read error must reach the
	// caller: the command sees only EOF, which also ends a COPY, so a
	// restore whose input failed halfway would otherwise report success.
	// (Write errors after the command stopped reading are normal; its exit
	// code speaks for them.)
	in := &readErrs{r: o.Stdin}
	stdinDone := make(chan error, 1)
	if o.Stdin != nil {
		go func() {
			_, err := io.Copy(att.Conn, in)
			if err == nil {
				_ = att.CloseWrite()
			} else if in.err != nil {
				// Cut the command off rather than giving it a clean EOF.
				att.Close()
			}
			stdinDone <- in.err
		}()
	} else {
		stdinDone <- nil
	}
	// waitStdin ends the copy (a write to a closed stream fails) and waits
	// for it, so that its read error is never lost and nothing still reads
	// o.Stdin when Exec returns. A copy blocked reading a source that has
	// nothing more to give (the command stopped before its input ended, as
	// a session does on an error) is not waited for: no read failed.
	waitStdin := func() error {
		att.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case err := <-stdinDone:
				return err
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
				if in.reading.Load() {
					return nil
				}
			}
		}
	}
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	var errBuf tailBuffer
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := stdcopy.StdCopy(stdout, io.MultiWriter(stderr, &errBuf), att.Reader); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if inErr := waitStdin(); inErr != nil {
			return fmt.Errorf("exec %s: input: %w", cmd[0], inErr)
		}
		return fmt.Errorf("exec %s: read output: %w", cmd[0], err)
	}
	inErr := waitStdin()
	insp, err := docker.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	if insp.Running {
		return fmt.Errorf("exec %s: output ended while the command still runs", cmd[0])
	}
	if insp.ExitCode != 0 {
		x := &ExitError{Cmd: cmd[0], Code: insp.ExitCode, Stderr: errBuf.String()}
		if inErr != nil {
			return fmt.Errorf("exec %s: input: %w (%w)", cmd[0], inErr, x)
		}
		return x
	}
	if inErr != nil {
		return fmt.Errorf("exec %s: input: %w", cmd[0], inErr)
	}
	return nil
}

// readErrs remembers the first error reading r, other than EOF, and
// whether a read is under way.
type readErrs struct {
	r       io.Reader
	err     error
	reading atomic.Bool
}

func (r *readErrs) Read(p []byte) (int, error) {
	r.reading.Store(true)
	n, err := r.r.Read(p)
	r.reading.Store(false)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// tailBuffer keeps the last 4 KiB written to it, for error messages.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// Output runs cmd in service's running container and returns its stdout.
func (e *Engine) Output(ctx context.Context, service, user string, cmd ...string) ([]byte, error) {
	id, err := e.ContainerOf(ctx, service)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := e.Exec(ctx, id, cmd, ExecOptions{User: user, Stdout: &out}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Interactive runs cmd in service's container attached to the user's
// terminal: with a real TTY when stdin and stdout are terminals, otherwise
// with piped stdin and plain output. It returns an *ExitError on a non-zero exit.
func (e *Engine) Interactive(ctx context.Context, service, user string, cmd ...string) error {
	if err := e.Connect(ctx); err != nil {
		return err
	}
	id, err := e.ContainerOf(ctx, service)
	if err != nil {
		return err
	}
	tty := isTerminal(e.In) && isTerminal(e.Out)
	if e.Routed(id) {
		return e.interactiveAt(ctx, id, user, tty, cmd)
	}
	code, err := e.compose.Exec(ctx, e.ProjectName(), api.RunOptions{
		Service: service, Command: cmd, User: user, Tty: tty, Interactive: true,
	})
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		code, err = sc.StatusCode(), nil
	}
	if err != nil && strings.TrimSpace(err.Error()) == "" {
		return fmt.Errorf("exec %s in %s failed, and the engine gave no reason (%T)", cmd[0], service, err)
	}
	if err != nil {
		return fmt.Errorf("exec %s in %s: %w", cmd[0], service, err)
	}
	if code != 0 {
		return &ExitError{Cmd: cmd[0], Code: code}
	}
	return nil
}

// IsTerminal reports whether v is an *os.File on a terminal.
func IsTerminal(v any) bool { return isTerminal(v) }

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// interactiveAt is Interactive in a container on another engine (a swarm
// task), where compose's exec cannot reach: a plain Exec of the streams
// without a terminal, else a TTY exec with the local terminal in raw mode.
func (e *Engine) interactiveAt(ctx context.Context, id, user string, tty bool, cmd []string) error {
	if !tty {
		return e.Exec(ctx, id, cmd, ExecOptions{User: user, Stdin: e.In, Stdout: e.Out, Stderr: e.Err})
	}
	in, out := e.In.(*os.File), e.Out.(*os.File)
	size := client.ConsoleSize{Height: 24, Width: 80}
	if w, h, err := term.GetSize(int(out.Fd())); err == nil && w > 0 && h > 0 { // a terminal that never had a size says 0x0
		size = client.ConsoleSize{Height: uint(h), Width: uint(w)}
	}
	docker := e.DockerFor(id)
	created, err := docker.ExecCreate(ctx, id, client.ExecCreateOptions{
		User: user, Cmd: cmd, TTY: true, ConsoleSize: size,
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	att, err := docker.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: true, ConsoleSize: size})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	defer att.Close()
	// A cancelled context ends the session: the copies below do not see it.
	defer context.AfterFunc(ctx, func() { att.Close() })()
	// The size goes in a resize too: engines of API 1.41 ignore
	// ExecCreate's ConsoleSize, and a terminal of 0 rows makes psql page
	// every result. SIGWINCH carries the local terminal's changes over.
	stop := make(chan struct{})
	defer close(stop)
	go followSize(ctx, docker, created.ID, out, size, stop)
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(int(in.Fd()), old)
	go func() { _, _ = io.Copy(att.Conn, in) }()
	if _, err := io.Copy(out, att.Reader); err != nil && ctx.Err() == nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	insp, err := docker.ExecInspect(context.WithoutCancel(ctx), created.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	if insp.ExitCode != 0 {
		return &ExitError{Cmd: cmd[0], Code: insp.ExitCode}
	}
	return nil
}

// followSize sizes exec id's terminal as the local one (or as size, when
// the local one has none), at once and on every SIGWINCH, until stop.
func followSize(ctx context.Context, docker client.APIClient, id string, out *os.File, size client.ConsoleSize, stop <-chan struct{}) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	resize := func() error {
		if w, h, err := term.GetSize(int(out.Fd())); err == nil && w > 0 && h > 0 {
			size = client.ConsoleSize{Height: uint(h), Width: uint(w)}
		}
		_, err := docker.ExecResize(ctx, id, client.ExecResizeOptions{Height: size.Height, Width: size.Width})
		return err
	}
	// The exec may not be running yet when the attach returns.
	for i := 0; i < 10 && resize() != nil; i++ {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	for {
		select {
		case <-stop:
			return
		case <-winch:
			_ = resize()
		}
	}
}

package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/debootstrap"
)

// MirrorEnv names another Debian mirror for the base image (a local one,
// for air-gapped sites); in the environment or in .env.
const MirrorEnv = "OSGS_DEBIAN_MIRROR"

// bootstrapImage makes the Debian base image in Go, with nothing installed
// on the host and no root needed: the first stage (internal/debootstrap)
// streams the verified packages' contents into an image import; the second
// stage installs them with dpkg in a container of that image; the finished
// file system is exported and imported again as ref, one clean layer.
func (e *Engine) bootstrapImage(ctx context.Context, ref string) (err error) {
	mirror := os.Getenv(MirrorEnv)
	if mirror == "" {
		mirror = e.Env.Value(MirrorEnv)
	}
	opts := debootstrap.Options{Mirror: mirror, Log: e.Err}
	tag := make([]byte, 6)
	rand.Read(tag)
	stage1 := "osgs-base-stage1:" + hex.EncodeToString(tag)
	bg := context.WithoutCancel(ctx)
	fmt.Fprintf(e.Err, "osgs: making %s from Debian packages (signed index, checked packages; about a minute)\n", ref)

	// First stage: stream the verified packages into an image.
	pr, pw := io.Pipe()
	go func() {
		_, err := debootstrap.Build(ctx, opts, pw)
		pw.CloseWithError(err)
	}()
	if err := e.importTar(ctx, pr, stage1, "osgs debootstrap, first stage", nil); err != nil {
		pr.CloseWithError(err)
		return err
	}
	defer e.docker.ImageRemove(bg, stage1, client.ImageRemoveOptions{Force: true})

	// Second stage: dpkg installs them in a container of that image.
	id, remove, err := e.RunContainer(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: stage1, User: "0:0", Entrypoint: []string{"/bin/sh", debootstrap.SecondStage}, // no passwd yet
			Labels: map[string]string{"org.osgs.helper": "debootstrap"},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		return fmt.Errorf("second stage (dpkg): %w", err)
	}
	defer remove()

	// The finished file system, as one layer, without what the engine put
	// into the container.
	exp, err := e.docker.ContainerExport(ctx, id, client.ContainerExportOptions{})
	if err != nil {
		return fmt.Errorf("export the base: %w", err)
	}
	defer exp.Close()
	drop := func(name string) bool {
		name = strings.TrimPrefix(name, "./")
		return name == ".dockerenv" || strings.HasPrefix(name, "dev/") || strings.HasPrefix(name, "proc/") || strings.HasPrefix(name, "sys/")
	}
	if err := e.importTar(ctx, exp, ref, "osgs debootstrap --variant=minbase bookworm, in Go", drop); err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: imported %s\n", ref)
	return nil
}

// importTar imports a root file system tar as ref, leaving out the entries
// drop names.
func (e *Engine) importTar(ctx context.Context, src io.Reader, ref, message string, drop func(string) bool) error {
	if drop != nil {
		in := src
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(filterTar(in, pw, drop)) }()
		defer pr.Close()
		src = pr
	}
	res, err := e.docker.ImageImport(ctx, client.ImageImportSource{Source: src, SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: []string{`CMD ["bash"]`}, Message: message})
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	out, err := io.ReadAll(res)
	res.Close()
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	if bytes.Contains(out, []byte(`"error"`)) {
		return fmt.Errorf("import %s: %s", ref, oneLine(string(out)))
	}
	if ok, err := e.imageExists(ctx, ref); err != nil || !ok {
		return fmt.Errorf("import %s: the image did not appear (%v)", ref, err)
	}
	return nil
}

func filterTar(r io.Reader, w io.Writer, drop func(string) bool) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if drop(h.Name) {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// logTail is the end of a container's output, for an error message.
func (e *Engine) logTail(id string) string { return logTail(e.docker, id) }

// logTail is the end of container id's output on the engine on, on one line.
func logTail(on client.APIClient, id string) string {
	logs, err := on.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "5"})
	if err != nil {
		return ""
	}
	defer logs.Close()
	var b bytes.Buffer
	stdcopy.StdCopy(&b, &b, logs)
	return oneLine(lastLines(b.String(), 12))
}

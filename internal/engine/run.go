package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// RunContainer creates a short-lived container, starts it and waits until
// it exits. A non-zero exit is an error carrying the end of its output. The
// stopped container is left for the caller (to copy into, or export), and
// remove deletes it with its anonymous volumes, even after ctx ended.
func (e *Engine) RunContainer(ctx context.Context, opts client.ContainerCreateOptions) (id string, remove func(), err error) {
	return e.RunPrepared(ctx, opts, nil)
}

// RunPrepared is RunContainer with prepare called on the created container
// before it starts (to write files into it, such as a secret).
func (e *Engine) RunPrepared(ctx context.Context, opts client.ContainerCreateOptions, prepare func(id string) error) (id string, remove func(), err error) {
	if err := e.Connect(ctx); err != nil {
		return "", nil, err
	}
	return e.RunOn(ctx, e.docker, opts, prepare)
}

// RunOn is RunPrepared on the engine on (a swarm node's): the container is
// routed to it, so DockerFor and Exec reach it.
func (e *Engine) RunOn(ctx context.Context, on client.APIClient, opts client.ContainerCreateOptions, prepare func(id string) error) (id string, remove func(), err error) {
	res, err := on.ContainerCreate(ctx, opts)
	if err != nil {
		return "", nil, err
	}
	e.Route(res.ID, on)
	remove = func() {
		_, _ = on.ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	if prepare != nil {
		if err := prepare(res.ID); err != nil {
			remove()
			return "", nil, err
		}
	}
	wait := on.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := on.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		remove()
		return "", nil, err
	}
	select {
	case r := <-wait.Result:
		if r.StatusCode != 0 {
			err := fmt.Errorf("exited with code %d: %s", r.StatusCode, logTail(on, res.ID))
			remove()
			return "", nil, err
		}
	case err := <-wait.Error:
		remove()
		return "", nil, err
	}
	return res.ID, remove, nil
}

// WriteFile writes data as one file at path in container id through the
// archive API, with mode and owner uid:gid (the container's folder must
// exist).
func (e *Engine) WriteFile(ctx context.Context, id, path string, data []byte, mode int64, uid, gid int) error {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: filepath.Base(path), Mode: mode, Size: int64(len(data)), Uid: uid, Gid: gid, ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := e.DockerFor(id).CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: filepath.Dir(path), Content: &b}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadFile reads one file (at most 16 MiB) out of a container through the
// archive API.
func (e *Engine) ReadFile(ctx context.Context, id, path string) ([]byte, error) {
	res, err := e.DockerFor(id).CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, err
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	if _, err := tr.Next(); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(tr, 16<<20))
}

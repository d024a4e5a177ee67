package backup

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
)

// volumeMount is where helper containers mount the volume; tar entries are
// named data/... after it.
const volumeMount = "/data"

// volumeName is the engine's name of a service's compose volume.
func volumeName(ctx context.Context, e *engine.Engine, service, vol string) (string, string, error) {
	p, err := e.Project(ctx, service)
	if err != nil {
		return "", "", err
	}
	v, ok := p.Volumes[vol]
	if !ok {
		return "", "", fmt.Errorf("%s declares no volume %q", service, vol)
	}
	name := v.Name
	if name == "" {
		name = p.Name + "_" + vol
	}
	return name, p.Services[service].Image, nil
}

// helper creates (without starting) a container of image that mounts volume
// at /data. It carries the project's labels as a one-off, so stack:nuke
// finds it, and is removed by the returned cleanup.
func helper(ctx context.Context, e *engine.Engine, image, volume string, readOnly bool, cmd []string) (string, func(), error) {
	res, err := e.Docker().ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: image, Entrypoint: cmd[:1], Cmd: cmd[1:], User: "root",
			Labels: map[string]string{api.ProjectLabel: e.ProjectName(), api.OneoffLabel: "True", "org.osgs.helper": "backup"},
		},
		HostConfig: &container.HostConfig{
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: volumeMount, ReadOnly: readOnly}},
		},
	})
	if err != nil {
		return "", nil, fmt.Errorf("create helper for volume %s: %w", volume, err)
	}
	cleanup := func() {
		_, _ = e.Docker().ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	return res.ID, cleanup, nil
}

// BackupVolume saves a named volume of service as a tar stream (owners,
// modes, symlinks and mtimes kept) through the engine's archive API.
func BackupVolume(ctx context.Context, e *engine.Engine, set *Set, service string, v catalog.Volume, progress io.Writer) error {
	vol, image, err := volumeName(ctx, e, service, v.Name)
	if err != nil {
		return err
	}
	id, cleanup, err := helper(ctx, e, image, vol, true, []string{"true"})
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := e.Docker().CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: volumeMount})
	if err != nil {
		return fmt.Errorf("read volume %s: %w", vol, err)
	}
	defer res.Content.Close()
	_, err = set.AddStream(service+"/"+v.Name+".tar.zst", ctxReader{ctx, res.Content},
		Entry{Service: service, Kind: KindVolume, Volume: v.Name, Image: image}, progress)
	if err != nil {
		return fmt.Errorf("save volume %s: %w", vol, err)
	}
	return nil
}

// RestoreVolume empties the volume and extracts the archive into it. The
// service is stopped first and started again afterwards, even on failure.
func RestoreVolume(ctx context.Context, e *engine.Engine, setDir string, f Entry) (err error) {
	vol, image, err := volumeName(ctx, e, f.Service, f.Volume)
	if err != nil {
		return err
	}
	states, err := e.States(ctx, f.Service)
	if err != nil {
		return err
	}
	if len(states) == 1 && states[0].State == "running" {
		if err := e.Stop(ctx, f.Service); err != nil {
			return err
		}
		defer func() {
			if uerr := e.Up(context.WithoutCancel(ctx), engine.UpOptions{Services: []string{f.Service}}); uerr != nil && err == nil {
				err = fmt.Errorf("restart %s after restore: %w", f.Service, uerr)
			}
		}()
	}
	// Empty the volume with a helper that runs to completion.
	id, cleanup, err := helper(ctx, e, image, vol, false, []string{"find", volumeMount, "-mindepth", "1", "-delete"})
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := e.Docker().ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("empty volume %s: %w", vol, err)
	}
	wait := e.Docker().ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-wait.Result:
		if r.StatusCode != 0 {
			return fmt.Errorf("empty volume %s: helper exited with %d", vol, r.StatusCode)
		}
	case err := <-wait.Error:
		return fmt.Errorf("empty volume %s: %w", vol, err)
	}
	r, err := openDecompressed(setDir + "/" + f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := e.Docker().CopyToContainer(ctx, id, client.CopyToContainerOptions{
		DestinationPath: "/", Content: zstdErrs{r}, // owners come from the archive
	}); err != nil {
		return fmt.Errorf("extract into volume %s: %w", vol, err)
	}
	fmt.Fprintf(e.Err, "osgs: restored volume %s\n", vol)
	return nil
}

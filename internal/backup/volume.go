package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// helperOptions describe a container of image that mounts volume at /data.
// It carries the project's labels as a one-off, so stack:nuke finds it.
func helperOptions(e *engine.Engine, image, volume string, readOnly bool, cmd []string) client.ContainerCreateOptions {
	return client.ContainerCreateOptions{
		Config: &container.Config{
			Image: image, Entrypoint: cmd[:1], Cmd: cmd[1:], User: "root",
			Labels: map[string]string{api.ProjectLabel: e.ProjectName(), api.OneoffLabel: "True", "org.osgs.helper": "backup"},
		},
		HostConfig: &container.HostConfig{
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: volumeMount, ReadOnly: readOnly}},
		},
	}
}

// helper creates (without starting) a helper container on the engine on,
// removed by the returned cleanup. Its ID is routed to that engine.
func helper(ctx context.Context, e *engine.Engine, on client.APIClient, image, volume string, readOnly bool, cmd []string) (string, func(), error) {
	res, err := on.ContainerCreate(ctx, helperOptions(e, image, volume, readOnly, cmd))
	if err != nil {
		return "", nil, fmt.Errorf("create helper for volume %s: %w", volume, err)
	}
	e.Route(res.ID, on)
	cleanup := func() {
		_, _ = on.ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	return res.ID, cleanup, nil
}

// volumeHome is the engine that holds service's volumes, and the image a
// helper there runs: the node of its running container (a swarm task runs
// on another node, whose engine has the volume and the image by ID), else
// this engine with the catalog's image.
func volumeHome(ctx context.Context, e *engine.Engine, service, image string) (client.APIClient, string, error) {
	id, err := e.ContainerOf(ctx, service)
	var nr *engine.NotRunningError
	switch {
	case errors.As(err, &nr):
		return e.Docker(), image, nil
	case err != nil:
		return nil, "", err
	case !e.Routed(id):
		return e.Docker(), image, nil
	}
	on := e.DockerFor(id)
	insp, err := on.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("inspect %s: %w", service, err)
	}
	return on, insp.Container.Image, nil
}

// BackupVolume saves a named volume of service as a tar stream (owners,
// modes, symlinks and mtimes kept) through the engine's archive API.
func BackupVolume(ctx context.Context, e *engine.Engine, set *Set, service string, v catalog.Volume, progress io.Writer) error {
	vol, image, err := volumeName(ctx, e, service, v.Name)
	if err != nil {
		return err
	}
	on, helperImage, err := volumeHome(ctx, e, service, image)
	if err != nil {
		return err
	}
	id, cleanup, err := helper(ctx, e, on, helperImage, vol, true, []string{"true"})
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := on.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: volumeMount})
	if err != nil {
		return fmt.Errorf("read volume %s: %w", vol, err)
	}
	defer res.Content.Close()
	// The entries are summarized beside the compressor, for verify.
	var sum TarSummary
	t := newTap(func(r io.Reader) (err error) { sum, err = summarizeTar(r); return err })
	rel := service + "/" + v.Name + ".tar.zst"
	_, err = set.AddStream(rel, io.TeeReader(ctxReader{ctx, res.Content}, t),
		Entry{Service: service, Kind: KindVolume, Volume: v.Name, Image: image}, progress)
	if scanErr := t.Close(); err == nil && scanErr != nil {
		err = scanErr
	}
	if err != nil {
		return fmt.Errorf("save volume %s: %w", vol, err)
	}
	set.update(rel, func(e *Entry) { e.Tar = &sum })
	return nil
}

// verifyVolume reads a volume archive to its end and compares its entries
// with the manifest's summary.
func verifyVolume(e *engine.Engine, setDir string, f Entry) error {
	r, err := openDecompressed(e, setDir+"/"+f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := summarizeTar(zstdErrs{r})
	if err != nil {
		return &ChecksumError{Path: f.Path, Reason: err.Error()}
	}
	if f.Tar != nil && got != *f.Tar {
		return &TarMismatchError{Path: f.Path, Got: got, Want: *f.Tar}
	}
	return nil
}

// Restores extract into a staging folder inside the volume, named for the
// restore, and swap it in only when the extraction succeeded.
const (
	stagingPrefix = ".osgs-restore-"
	oldPrefix     = ".osgs-old-"
)

// swapScript moves the volume's current entries aside, moves the staged
// archive's entries (data/...) in, gives the volume root the archive's
// owner and mode, and removes what was moved aside. Renames only: it cannot
// run out of space. POSIX sh and busybox suffice (upstream images).
const swapScript = `set -eu
cd /data
st="$1" old="$2"
touch -r "$st/data" /tmp/root-mtime
mkdir "$old"
for f in * .[!.]* ..?*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	case "$f" in "$st"|"$old") continue ;; esac
	mv -- "$f" "$old/"
done
for f in "$st"/data/* "$st"/data/.[!.]* "$st"/data/..?*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	mv -- "$f" ./
done
chown "$(stat -c %u:%g "$st/data")" /data
chmod "$(stat -c %a "$st/data")" /data
rm -rf -- "$st" "$old"
touch -r /tmp/root-mtime /data
`

// RestoreVolume restores the archive into the volume without risking what
// it holds: the service is stopped (and started again afterwards, even on
// failure), the archive is extracted into a staging folder in the volume,
// and only a complete extraction is swapped in by renames. A failed or
// interrupted restore leaves the old data in place.
func RestoreVolume(ctx context.Context, e *engine.Engine, setDir string, f Entry) (err error) {
	vol, image, err := volumeName(ctx, e, f.Service, f.Volume)
	if err != nil {
		return err
	}
	if id, err := e.ContainerOf(ctx, f.Service); err == nil && e.Routed(id) {
		return fmt.Errorf("%s runs as a swarm task on another node: osgs restores volumes only of services it runs with stack:up, so restore them from a checkout on that node", f.Service)
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
	tag := make([]byte, 6)
	rand.Read(tag)
	staging, old := stagingPrefix+hex.EncodeToString(tag), oldPrefix+hex.EncodeToString(tag)
	// Staging folders of restores that were killed are removed first.
	// The volume root's mtime is kept in the staging folder, so a failed
	// restore can put it back.
	prepare := `rm -rf -- /data/` + stagingPrefix + `* && touch -r /data /tmp/mtime && mkdir /data/"$1" && mv /tmp/mtime /data/"$1"/.osgs-mtime`
	id, cleanup, err := runHelper(ctx, e, image, vol, prepare, staging)
	if err != nil {
		return fmt.Errorf("prepare volume %s: %w", vol, err)
	}
	defer cleanup()
	r, err := openDecompressed(e, setDir+"/"+f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := e.Docker().CopyToContainer(ctx, id, client.CopyToContainerOptions{
		DestinationPath: volumeMount + "/" + staging, Content: zstdErrs{r}, // owners come from the archive
	}); err != nil {
		undo := `mv /data/"$1"/.osgs-mtime /tmp/mtime && rm -rf -- /data/"$1" && touch -r /tmp/mtime /data`
		if _, c, cerr := runHelper(context.WithoutCancel(ctx), e, image, vol, undo, staging); cerr == nil {
			c()
		}
		return fmt.Errorf("extract into volume %s: %w; its data is unchanged", vol, err)
	}
	_, c, err := runHelper(ctx, e, image, vol, swapScript, staging, old)
	if err != nil {
		return fmt.Errorf("swap the restored data into volume %s: %w", vol, err)
	}
	c()
	fmt.Fprintf(e.Err, "osgs: restored volume %s\n", vol)
	return nil
}

// runHelper runs a shell script with args in a helper that mounts volume,
// to completion, and returns the (stopped) helper and its cleanup.
func runHelper(ctx context.Context, e *engine.Engine, image, volume, script string, args ...string) (string, func(), error) {
	return e.RunContainer(ctx, helperOptions(e, image, volume, false, append([]string{"sh", "-c", script, "sh"}, args...)))
}

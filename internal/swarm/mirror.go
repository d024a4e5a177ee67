package swarm

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/swarm/convert"
	"github.com/osgs/osgs/internal/volume"
)

// A mirrored volume (catalog: mirror: true) holds content osgs writes and
// its service only reads, such as QGIS Server's projects. On a swarm each
// node of the service's role keeps a copy, so its replicas can run on
// several nodes. The verbs write to the copy of the task they reach (the
// lowest slot's) and then bring every other copy up to date; a deploy
// does the same from the newest copy.
//
// MirrorMarker, in the volume's root, holds the copy's generation: a
// number that grows with each mirrored write. It decides which copy is
// newest after a node was away.
const MirrorMarker = ".osgs-mirror"

// copyState is what the mirror knows of one node's copy of a volume.
type copyState struct {
	Node    string // hostname
	Has     bool   // the volume exists on the node
	Gen     int64  // its MirrorMarker, 0 when it has none
	Content bool   // it holds anything (read only for unmarked copies)
	Task    bool   // the node runs the task the verbs reach
}

// mirrorSource picks the copy the others take: the highest generation;
// among equals, a copy with content before an empty one (a volume made by
// a task that just started is empty; the service's earlier node may hold
// the data), then the copy the verbs write to, then by hostname. A node
// without the volume is never the source; -1 when no node has it.
func mirrorSource(copies []copyState) int {
	best := -1
	for i, c := range copies {
		if !c.Has {
			continue
		}
		if best < 0 || better(c, copies[best]) {
			best = i
		}
	}
	return best
}

func better(a, b copyState) bool {
	switch {
	case a.Gen != b.Gen:
		return a.Gen > b.Gen
	case a.Content != b.Content:
		return a.Content
	case a.Task != b.Task:
		return a.Task
	}
	return a.Node < b.Node
}

// nextGen is the generation a new write stamps: the time, or one more
// than any copy has if a clock ran ahead.
func nextGen(copies []copyState, now time.Time) int64 {
	g := now.UnixNano()
	for _, c := range copies {
		if c.Gen >= g {
			g = c.Gen + 1
		}
	}
	return g
}

// mirror is the engine's Mirrorer: a verb wrote into volumes (or all the
// mirrored ones) of service through its located task.
func (l *locator) mirror(ctx context.Context, service string, volumes []string) error {
	return l.sync(ctx, service, volumes, true)
}

// mirrorNode is one node that holds, or should hold, the copies.
type mirrorNode struct {
	node   swarm.Node
	client client.APIClient
	target bool // a node of the service's role: it must hold a copy
}

// sync brings the copies of service's mirrored volumes up to date on every
// node of its role. wrote: a verb just wrote to the located task's copy,
// which becomes the newest; else (a deploy) the newest copy is found.
// Services not on the swarm, or pinned to one node, have a single copy.
func (l *locator) sync(ctx context.Context, service string, only []string, wrote bool) error {
	cs, err := l.e.Catalog.Get(service)
	if err != nil {
		return err
	}
	var vols []catalog.Volume
	for _, v := range convert.Mirrored(cs) {
		if len(only) == 0 || slices.Contains(only, v.Name) {
			vols = append(vols, v)
		}
	}
	if len(vols) == 0 {
		return nil
	}
	m, err := l.manager(ctx)
	if err != nil || m == nil {
		return err
	}
	name := convert.Name(l.e.ProjectName(), service)
	si, err := m.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("swarm service %s: %w", name, err)
	}
	s := si.Service
	if _, pinned := pinID(s); pinned {
		return nil
	}
	role, ok := serviceRole(s)
	if !ok {
		return nil
	}
	nodes, taskNode, err := l.mirrorNodes(ctx, m, s, role)
	if err != nil {
		return err
	}
	image := s.Spec.TaskTemplate.ContainerSpec.Image
	for _, v := range vols {
		if err := l.syncVolume(ctx, s, v, image, nodes, taskNode, wrote); err != nil {
			return fmt.Errorf("mirror %s's volume %s: %w", service, v.Name, err)
		}
	}
	return nil
}

// serviceRole is the role a service's placement constraint names.
func serviceRole(s swarm.Service) (convert.Role, bool) {
	if p := s.Spec.TaskTemplate.Placement; p != nil {
		for _, r := range convert.Roles {
			if slices.Contains(p.Constraints, r.Constraint()) {
				return r, true
			}
		}
	}
	return "", false
}

// mirrorNodes are the ready nodes whose engines osgs knows (the role's,
// which must all be reachable, and any other, whose copy may be the newest
// after the service moved), and the node of the task the verbs reach.
func (l *locator) mirrorNodes(ctx context.Context, m client.APIClient, s swarm.Service, role convert.Role) ([]mirrorNode, string, error) {
	list, err := m.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, "", err
	}
	f := client.Filters{}
	f.Add("service", s.ID)
	f.Add("desired-state", "running")
	tasks, err := m.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return nil, "", fmt.Errorf("tasks of %s: %w", s.Spec.Name, err)
	}
	taskNode := ""
	if t, ok := pickTask(tasks.Items); ok {
		taskNode = t.NodeID
	}
	var out []mirrorNode
	for _, n := range list.Items {
		target := slices.Contains(RolesOf(n), role)
		addr := n.Spec.Labels[EngineLabel]
		if err := nodeReady(n); err != nil || addr == "" {
			switch {
			case target && err != nil:
				fmt.Fprintf(l.e.Err, "osgs: node %s is not ready: its copies of %s's volumes are brought up to date by the next swarm:deploy\n", n.Description.Hostname, s.Spec.Labels["org.osgs.service"])
			case target:
				return nil, "", fmt.Errorf("node %s keeps copies of %s's volumes, but osgs does not know its engine: run `mage swarm:join <its engine>` for it once more", n.Description.Hostname, s.Spec.Labels["org.osgs.service"])
			}
			continue
		}
		c, err := l.dial(ctx, addr)
		if err != nil {
			if target {
				return nil, "", fmt.Errorf("node %s, which keeps copies of %s's volumes: %w", n.Description.Hostname, s.Spec.Labels["org.osgs.service"], err)
			}
			continue
		}
		out = append(out, mirrorNode{node: n, client: c, target: target})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].node.Description.Hostname < out[j].node.Description.Hostname })
	return out, taskNode, nil
}

// syncVolume brings every role node's copy of v up to the source's.
func (l *locator) syncVolume(ctx context.Context, s swarm.Service, v catalog.Volume, image string, nodes []mirrorNode, taskNode string, wrote bool) error {
	volName, labels := "", map[string]string{}
	for _, mt := range s.Spec.TaskTemplate.ContainerSpec.Mounts {
		if mt.Type == mount.TypeVolume && mt.Target == v.Path {
			volName = mt.Source
			if mt.VolumeOptions != nil {
				labels = mt.VolumeOptions.Labels
			}
		}
	}
	if volName == "" {
		return fmt.Errorf("the swarm service mounts nothing at %s", v.Path)
	}
	copies := make([]copyState, len(nodes))
	helpers := make([]volume.Helper, len(nodes))
	for i, n := range nodes {
		helpers[i] = volume.Helper{E: l.e, On: n.client, Image: image, Volume: volName, Role: "mirror"}
		copies[i] = copyState{Node: n.node.Description.Hostname, Task: n.node.ID == taskNode}
		if _, err := n.client.VolumeInspect(ctx, volName, client.VolumeInspectOptions{}); err != nil {
			if !errdefs.IsNotFound(err) {
				return fmt.Errorf("node %s: %w", copies[i].Node, err)
			}
			if n.target {
				// A node of the role that has never run a task of it.
				if _, err := n.client.VolumeCreate(ctx, client.VolumeCreateOptions{Name: volName, Labels: labels}); err != nil {
					return fmt.Errorf("create volume %s on node %s: %w", volName, copies[i].Node, err)
				}
			}
			continue
		}
		copies[i].Has = true
		if err := l.helperImage(ctx, n, image); err != nil {
			return err
		}
		gen, content, err := readCopy(ctx, helpers[i], !wrote)
		if err != nil {
			return fmt.Errorf("node %s: %w", copies[i].Node, err)
		}
		copies[i].Gen, copies[i].Content = gen, content
	}
	src := -1
	if wrote {
		src = slices.IndexFunc(copies, func(c copyState) bool { return c.Task })
		if src < 0 || !copies[src].Has {
			return fmt.Errorf("the copy that was written is gone: no task of %s runs", s.Spec.Labels["org.osgs.service"])
		}
	} else {
		src = mirrorSource(copies)
	}
	if src < 0 || (!wrote && copies[src].Gen == 0 && !copies[src].Content) {
		return nil // no copy, or only empty ones: nothing to mirror yet
	}
	gen := copies[src].Gen
	if wrote || gen == 0 {
		gen = nextGen(copies, time.Now())
		if _, c, err := helpers[src].Run(ctx, `printf '%s\n' "$1" > /data/`+MirrorMarker, strconv.FormatInt(gen, 10)); err != nil {
			return fmt.Errorf("mark the copy on node %s: %w", copies[src].Node, err)
		} else {
			c()
		}
	}
	var sent []string
	for i, n := range nodes {
		if i == src || !n.target || (copies[i].Has && copies[i].Gen == gen) {
			continue
		}
		if !copies[i].Has { // nodes with the volume were checked as they were read
			if err := l.helperImage(ctx, n, image); err != nil {
				return err
			}
		}
		r, err := helpers[src].Read(ctx)
		if err != nil {
			return err
		}
		err = helpers[i].Replace(ctx, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", copies[i].Node, err)
		}
		sent = append(sent, copies[i].Node)
	}
	if len(sent) > 0 {
		fmt.Fprintf(l.e.Err, "osgs: copied %s from node %s to %s\n", v.Name, copies[src].Node, strings.Join(sent, ", "))
	}
	return nil
}

// helperImage makes sure node n has the service's image, which its
// helpers run: a node of the role that never ran a task may lack it when
// the images come from a registry.
func (l *locator) helperImage(ctx context.Context, n mirrorNode, image string) error {
	if _, err := n.client.ImageInspect(ctx, image); err == nil {
		return nil
	}
	reg := l.e.Setting(RegistryKey)
	if reg == "" || !strings.Contains(image, "@sha256:") {
		return fmt.Errorf("node %s lacks the image %s: run `mage swarm:deploy`, which brings it there", n.node.Description.Hostname, short(image))
	}
	auth, err := registryAuth(reg, l.e.Setting(RegistryUserKey), l.e.Setting(RegistryPasswordKey))
	if err != nil {
		return err
	}
	res, err := n.client.ImagePull(ctx, image, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("node %s: pull %s: %s", n.node.Description.Hostname, image, oneLine(err))
	}
	defer res.Close()
	if err := res.Wait(ctx); err != nil {
		return fmt.Errorf("node %s: pull %s: %s", n.node.Description.Hostname, image, oneLine(err))
	}
	return nil
}

// readCopy reads a copy's generation and, when asked, whether it holds
// anything: the archive of its root, read only as far as its second entry.
func readCopy(ctx context.Context, h volume.Helper, content bool) (gen int64, has bool, err error) {
	id, cleanup, err := h.Create(ctx, true)
	if err != nil {
		return 0, false, err
	}
	defer cleanup()
	res, err := h.On.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: volume.Mount + "/" + MirrorMarker})
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return 0, false, fmt.Errorf("read %s: %w", MirrorMarker, err)
	default:
		tr := tar.NewReader(res.Content)
		_, err := tr.Next()
		var b []byte
		if err == nil {
			b, err = io.ReadAll(io.LimitReader(tr, 64))
		}
		res.Content.Close()
		if err != nil {
			return 0, false, fmt.Errorf("read %s: %w", MirrorMarker, err)
		}
		gen, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s holds %q, not a generation: remove it (the next deploy picks the copy with content)", MirrorMarker, b)
		}
		return gen, true, nil
	}
	if !content {
		return 0, false, nil
	}
	res, err = h.On.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: volume.Mount})
	if err != nil {
		return 0, false, fmt.Errorf("read the volume: %w", err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	for n := 0; ; n++ {
		if _, err := tr.Next(); errors.Is(err, io.EOF) {
			return 0, false, nil
		} else if err != nil {
			return 0, false, fmt.Errorf("read the volume: %w", err)
		}
		if n == 1 { // data/ itself, then anything in it
			return 0, true, nil
		}
	}
}

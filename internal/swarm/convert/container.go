package convert

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

// Env turns the service's environment into KEY=VALUE lines, sorted.
func Env(m types.MappingWithEquals) []string {
	var out []string
	for k, v := range m {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

// Healthcheck converts the service's healthcheck; nil keeps the image's.
func Healthcheck(h *types.HealthCheckConfig) *container.HealthConfig {
	if h == nil {
		return nil
	}
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	d := func(p *types.Duration) time.Duration {
		if p == nil {
			return 0
		}
		return time.Duration(*p)
	}
	hc := &container.HealthConfig{Test: h.Test, Interval: d(h.Interval), Timeout: d(h.Timeout), StartPeriod: d(h.StartPeriod)}
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc
}

// Mounts converts named volumes, tmpfs and shm_size. A bind mount is
// refused: the host path would not exist on the other nodes.
func Mounts(p *types.Project, s types.ServiceConfig) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			name := v.Source
			if pv, ok := p.Volumes[v.Source]; ok && pv.Name != "" {
				name = pv.Name
			}
			out = append(out, mount.Mount{Type: mount.TypeVolume, Source: name, Target: v.Target, ReadOnly: v.ReadOnly,
				VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{NamespaceLabel: p.Name}}})
		case types.VolumeTypeTmpfs:
			m := mount.Mount{Type: mount.TypeTmpfs, Target: v.Target}
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size)}
			}
			out = append(out, m)
		default:
			return nil, &UnsupportedError{Service: s.Name, What: fmt.Sprintf("it mounts %s %s at %s", v.Type, v.Source, v.Target),
				Instead: "host files do not reach the other nodes; make it a config (or a named volume)"}
		}
	}
	for _, t := range s.Tmpfs {
		out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: strings.SplitN(t, ":", 2)[0]})
	}
	if s.ShmSize > 0 {
		// Swarm's container spec has no shm size: a tmpfs on /dev/shm is it.
		out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: "/dev/shm", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: int64(s.ShmSize)}})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out, nil
}

// SecretRefs points the service at the versioned secrets, where compose
// would have put them (/run/secrets/<target>).
func SecretRefs(s types.ServiceConfig, names map[string]string) ([]*swarm.SecretReference, error) {
	var out []*swarm.SecretReference
	for _, r := range s.Secrets {
		name, ok := names[r.Source]
		if !ok {
			return nil, fmt.Errorf("%s: secret %s is not defined", s.Name, r.Source)
		}
		target := r.Target
		if target == "" {
			target = r.Source
		}
		target = strings.TrimPrefix(target, "/run/secrets/")
		out = append(out, &swarm.SecretReference{SecretName: name, File: fileTarget(target, r.UID, r.GID, r.Mode)})
	}
	return out, nil
}

// ConfigRefs points the service at the versioned configs (compose's
// default target is /<source>).
func ConfigRefs(s types.ServiceConfig, names map[string]string) ([]*swarm.ConfigReference, error) {
	var out []*swarm.ConfigReference
	for _, r := range s.Configs {
		name, ok := names[r.Source]
		if !ok {
			return nil, fmt.Errorf("%s: config %s is not defined", s.Name, r.Source)
		}
		target := r.Target
		if target == "" {
			target = "/" + r.Source
		}
		if !path.IsAbs(target) {
			target = "/" + target
		}
		ft := fileTarget(target, r.UID, r.GID, r.Mode)
		out = append(out, &swarm.ConfigReference{ConfigName: name, File: &swarm.ConfigReferenceFileTarget{Name: ft.Name, UID: ft.UID, GID: ft.GID, Mode: ft.Mode}})
	}
	return out, nil
}

func fileTarget(name, uid, gid string, mode *types.FileMode) *swarm.SecretReferenceFileTarget {
	t := &swarm.SecretReferenceFileTarget{Name: name, UID: "0", GID: "0", Mode: 0o444}
	if uid != "" {
		t.UID = uid
	}
	if gid != "" {
		t.GID = gid
	}
	if mode != nil {
		t.Mode = os.FileMode(*mode)
	}
	return t
}

// Container converts what the task's container runs.
func Container(p *types.Project, s types.ServiceConfig, image string, objs map[Kind]map[string]string) (*swarm.ContainerSpec, error) {
	mounts, err := Mounts(p, s)
	if err != nil {
		return nil, err
	}
	secrets, err := SecretRefs(s, objs[Secret])
	if err != nil {
		return nil, err
	}
	configs, err := ConfigRefs(s, objs[Config])
	if err != nil {
		return nil, err
	}
	c := &swarm.ContainerSpec{
		Image:          image,
		Labels:         map[string]string{NamespaceLabel: p.Name},
		Command:        s.Entrypoint,
		Args:           s.Command,
		Hostname:       s.Hostname,
		Env:            Env(s.Environment),
		Dir:            s.WorkingDir,
		User:           s.User,
		Groups:         s.GroupAdd,
		Init:           s.Init,
		StopSignal:     s.StopSignal,
		ReadOnly:       s.ReadOnly,
		Mounts:         mounts,
		Healthcheck:    Healthcheck(s.HealthCheck),
		Secrets:        secrets,
		Configs:        configs,
		CapabilityAdd:  s.CapAdd,
		CapabilityDrop: s.CapDrop,
	}
	for k, v := range s.Labels {
		c.Labels[k] = v
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		c.StopGracePeriod = &d
	}
	if len(s.Sysctls) > 0 {
		c.Sysctls = map[string]string(s.Sysctls)
	}
	for _, o := range s.SecurityOpt {
		if o == "no-new-privileges:true" || o == "no-new-privileges" {
			c.Privileges = &swarm.Privileges{NoNewPrivileges: true}
		}
	}
	return c, nil
}

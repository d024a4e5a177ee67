package swarm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/swarm/convert"
)

// The registry settings. With SWARM_REGISTRY set, swarm:deploy pushes each
// image from this engine to it and the nodes pull it by digest; without
// it, images are copied to the nodes by save and load.
const (
	RegistryKey         = "SWARM_REGISTRY"          // host[:port][/path]
	RegistryUserKey     = "SWARM_REGISTRY_USER"     // optional
	RegistryPasswordKey = "SWARM_REGISTRY_PASSWORD" // a secret, in .env (mode 0600)
)

// registryRef names ref in registry: "osgs/nginx:1.22" in
// "registry.example.org:5000/gis" is
// "registry.example.org:5000/gis/osgs/nginx:1.22". A ref without a tag
// gets "latest"; a registry that is not a host[:port][/path] is refused.
func registryRef(registryAddr, ref string) (string, error) {
	reg := strings.TrimSuffix(registryAddr, "/")
	if reg == "" || strings.Contains(reg, "://") {
		return "", fmt.Errorf("%s=%q: give the registry as host[:port][/path], without a scheme", RegistryKey, registryAddr)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	out := reg + "/" + reference.Path(named) + ":" + tag
	parsed, err := reference.ParseNamed(out)
	if err != nil || reference.Domain(parsed) != strings.SplitN(reg, "/", 2)[0] {
		return "", fmt.Errorf("%s=%q: give the registry as host[:port][/path] (a host name with a dot or a port, or localhost)", RegistryKey, registryAddr)
	}
	return out, nil
}

// registryAuth is the X-Registry-Auth value of the registry's user, or ""
// when none is set. It goes in request headers only.
func registryAuth(registryAddr, user, password string) (string, error) {
	if user == "" && password == "" {
		return "", nil
	}
	if user == "" || password == "" {
		return "", fmt.Errorf("set both %s and %s, or neither", RegistryUserKey, RegistryPasswordKey)
	}
	b, err := json.Marshal(registry.AuthConfig{Username: user, Password: password, ServerAddress: strings.SplitN(registryAddr, "/", 2)[0]})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// push tags the local image id as to and pushes it; it returns to@digest,
// the name every node pulls. A tag it made only for the push goes again
// (the image stays).
func push(ctx context.Context, docker client.APIClient, id, to, auth string) (string, error) {
	if _, err := docker.ImageInspect(ctx, to); err != nil {
		if _, err := docker.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: to}); err != nil {
			return "", fmt.Errorf("tag %s: %w", to, err)
		}
		defer docker.ImageRemove(context.WithoutCancel(ctx), to, client.ImageRemoveOptions{})
	} else if _, err := docker.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: to}); err != nil {
		return "", fmt.Errorf("tag %s: %w", to, err)
	}
	res, err := docker.ImagePush(ctx, to, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("push %s: %s", to, oneLine(err))
	}
	defer res.Close()
	var digest string
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			return "", fmt.Errorf("push %s: %s", to, oneLine(err))
		}
		if m.Error != nil {
			return "", fmt.Errorf("push %s: %s", to, oneLine(errors.New(m.Error.Message)))
		}
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
	}
	if digest == "" {
		return "", fmt.Errorf("push %s: the engine reported no digest", to)
	}
	return to + "@" + digest, nil
}

// pushAll pushes each image of the plan once, and makes each service's
// spec name it by digest in the registry.
func (c *Cluster) pushAll(ctx context.Context, pl *plan) error {
	pushed := map[string]string{} // push name -> name@digest
	for _, d := range pl.services {
		ref, ok := pushed[d.pushRef]
		if !ok {
			fmt.Fprintf(c.E.Err, "osgs: pushing %s to %s\n", d.ref, pl.registry)
			var err error
			if ref, err = push(ctx, c.E.Docker(), d.imageID, d.pushRef, pl.auth); err != nil {
				return err
			}
			pushed[d.pushRef] = ref
		}
		o := d.opts
		o.Image = ref
		spec, _, err := convert.Service(pl.project, d.svc, o)
		if err != nil {
			return err
		}
		d.spec = spec
	}
	return nil
}

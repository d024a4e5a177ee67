package convert

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

func TestPorts(t *testing.T) {
	for _, c := range []struct {
		name    string
		ports   []types.ServicePortConfig
		want    []uint32
		skipped int
		refused bool
	}{
		{"every address", []types.ServicePortConfig{{HostIP: "0.0.0.0", Published: "8443", Target: 443}}, []uint32{8443}, 0, false},
		{"no address", []types.ServicePortConfig{{Published: "80", Target: 80}}, []uint32{80}, 0, false},
		{"ipv6 any", []types.ServicePortConfig{{HostIP: "::", Target: 80}}, []uint32{80}, 0, false},
		{"loopback stays unpublished", []types.ServicePortConfig{{HostIP: "127.0.0.1", Published: "5432", Target: 5432}}, nil, 1, false},
		{"one address is refused", []types.ServicePortConfig{{HostIP: "10.1.2.3", Published: "5432", Target: 5432}}, nil, 0, true},
		{"bad port", []types.ServicePortConfig{{Published: "x", Target: 1}}, nil, 0, true},
	} {
		s := types.ServiceConfig{Name: "postgis"}
		s.Ports = c.ports
		got, skipped, err := Ports(s)
		var ue *UnsupportedError
		if c.refused != errors.As(err, &ue) {
			t.Errorf("%s: err = %v", c.name, err)
			continue
		}
		if c.refused {
			if !strings.Contains(err.Error(), "0.0.0.0") && !strings.Contains(err.Error(), "port number") {
				t.Errorf("%s: %v does not say what to do instead", c.name, err)
			}
			continue
		}
		var pub []uint32
		for _, p := range got {
			if p.PublishMode != swarm.PortConfigPublishModeHost {
				t.Errorf("%s: %+v is not host mode", c.name, p)
			}
			pub = append(pub, p.PublishedPort)
		}
		if !reflect.DeepEqual(pub, c.want) || len(skipped) != c.skipped {
			t.Errorf("%s: published %v, skipped %v", c.name, pub, skipped)
		}
	}
}

func TestRestart(t *testing.T) {
	three := uint64(3)
	for in, want := range map[string]swarm.RestartPolicy{
		"unless-stopped": {Condition: swarm.RestartPolicyConditionAny},
		"always":         {Condition: swarm.RestartPolicyConditionAny},
		"":               {Condition: swarm.RestartPolicyConditionAny},
		"no":             {Condition: swarm.RestartPolicyConditionNone},
		"on-failure:3":   {Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &three},
	} {
		got := Restart(in)
		if got.Condition != want.Condition || !reflect.DeepEqual(got.MaxAttempts, want.MaxAttempts) {
			t.Errorf("Restart(%q) = %+v", in, got)
		}
	}
}

func TestMounts(t *testing.T) {
	p := &types.Project{Name: "osgs", Volumes: types.Volumes{"postgis-data": {Name: "osgs_postgis-data"}}}
	s := types.ServiceConfig{Name: "postgis"}
	s.ShmSize = 256 << 20
	s.Volumes = []types.ServiceVolumeConfig{
		{Type: types.VolumeTypeVolume, Source: "postgis-data", Target: "/var/lib/postgresql/data"},
		{Type: types.VolumeTypeVolume, Source: "certs", Target: "/etc/letsencrypt", ReadOnly: true},
	}
	got, err := Mounts(p, s)
	if err != nil {
		t.Fatal(err)
	}
	want := []mount.Mount{
		{Type: mount.TypeTmpfs, Target: "/dev/shm", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 256 << 20}},
		{Type: mount.TypeVolume, Source: "certs", Target: "/etc/letsencrypt", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{NamespaceLabel: "osgs"}}},
		{Type: mount.TypeVolume, Source: "osgs_postgis-data", Target: "/var/lib/postgresql/data", VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{NamespaceLabel: "osgs"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mounts = %+v", got)
	}
	s.Volumes = append(s.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: "/srv/data", Target: "/data"})
	var ue *UnsupportedError
	if _, err := Mounts(p, s); !errors.As(err, &ue) || !strings.Contains(err.Error(), "config") {
		t.Fatalf("a bind mount: %v", err)
	}
}

func TestRefs(t *testing.T) {
	mode := types.FileMode(0o400)
	s := types.ServiceConfig{Name: "x"}
	s.Secrets = []types.ServiceSecretConfig{{Source: "pw"}, {Source: "key", Target: "/run/secrets/site.key", UID: "101", Mode: &mode}}
	s.Configs = []types.ServiceConfigObjConfig{{Source: "conf"}, {Source: "toml", Target: "etc/app.toml"}}
	names := map[Kind]map[string]string{Secret: {"pw": "p_pw_1", "key": "p_key_2"}, Config: {"conf": "p_conf_3", "toml": "p_toml_4"}}
	sec, err := SecretRefs(s, names[Secret])
	if err != nil {
		t.Fatal(err)
	}
	if sec[0].SecretName != "p_pw_1" || sec[0].File.Name != "pw" || sec[0].File.Mode != 0o444 ||
		sec[1].File.Name != "site.key" || sec[1].File.UID != "101" || sec[1].File.Mode != 0o400 {
		t.Fatalf("secret refs %+v %+v", sec[0].File, sec[1].File)
	}
	cfg, err := ConfigRefs(s, names[Config])
	if err != nil || cfg[0].File.Name != "/conf" || cfg[1].File.Name != "/etc/app.toml" {
		t.Fatalf("config refs %v", err)
	}
	s.Secrets = append(s.Secrets, types.ServiceSecretConfig{Source: "nope"})
	if _, err := SecretRefs(s, names[Secret]); err == nil {
		t.Fatal("an undefined secret is accepted")
	}
}

func TestObjects(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "start.sh")
	os.WriteFile(file, []byte("#!/bin/sh\n"), 0o644)
	x := types.ServiceConfig{Name: "x"}
	x.Secrets = []types.ServiceSecretConfig{{Source: "pw"}}
	x.Configs = []types.ServiceConfigObjConfig{{Source: "start"}, {Source: "inline"}}
	p := &types.Project{Name: "osgs",
		Environment: types.Mapping{"POSTGRES_PASSWORD": "s3cret"},
		Secrets:     types.Secrets{"pw": {Environment: "POSTGRES_PASSWORD"}, "unused": {Environment: "NOPE"}},
		Configs:     types.Configs{"start": {File: file}, "inline": {Content: "a = 1\n"}},
		Services:    types.Services{"x": x},
	}
	objs, err := Objects(p, digest)
	if err != nil || len(objs) != 3 {
		t.Fatalf("objects = %+v, %v", objs, err)
	}
	n := Names(objs)
	if string(objs[1].Data) != "s3cret" || !strings.HasPrefix(n[Secret]["pw"], "osgs_pw_") || len(n[Secret]["pw"]) != len("osgs_pw_")+12 {
		t.Fatalf("names %v", n)
	}
	// A changed value is a new object: the name changes with the content.
	p.Environment["POSTGRES_PASSWORD"] = "other"
	objs2, _ := Objects(p, digest)
	if Names(objs2)[Secret]["pw"] == n[Secret]["pw"] || Names(objs2)[Config]["start"] != n[Config]["start"] {
		t.Fatal("a changed secret kept its name, or an unchanged config changed its")
	}
	x.Secrets, x.Configs = []types.ServiceSecretConfig{{Source: "unused"}}, nil
	p.Services["x"] = x
	if _, err := Objects(p, digest); err == nil || !strings.Contains(err.Error(), "NOPE is not set") {
		t.Fatalf("a secret from an unset variable: %v", err)
	}
}

func TestService(t *testing.T) {
	interval, start, retries := types.Duration(2*time.Second), types.Duration(120*time.Second), uint64(5)
	grace := types.Duration(2 * time.Minute)
	pw := "x"
	p := &types.Project{Name: "osgs", Volumes: types.Volumes{"postgis-data": {Name: "osgs_postgis-data"}},
		Networks: types.Networks{"database": {Name: "osgs_database"}}}
	s := types.ServiceConfig{Name: "postgis", Restart: "unless-stopped"}
	s.Networks = map[string]*types.ServiceNetworkConfig{"database": nil}
	s.Image, s.StopSignal, s.StopGracePeriod = "osgs/postgis:15", "SIGINT", &grace
	s.Environment = types.MappingWithEquals{"POSTGRES_USER": &pw}
	s.HealthCheck = &types.HealthCheckConfig{Test: []string{"CMD", "/usr/local/bin/osgs-healthcheck"}, Interval: &interval, Retries: &retries, StartPeriod: &start}
	s.Ports = []types.ServicePortConfig{{HostIP: "127.0.0.1", Published: "5432", Target: 5432}}
	s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "postgis-data", Target: "/var/lib/postgresql/data"}}
	o := Options{Image: "sha256:abc", Role: DB, Pin: "node1", Objects: map[Kind]map[string]string{}}
	spec, skipped, err := Service(p, s, o)
	if err != nil {
		t.Fatal(err)
	}
	c := spec.TaskTemplate.ContainerSpec
	switch {
	case spec.Name != "osgs_postgis" || spec.Labels[NamespaceLabel] != "osgs" || c.Labels[NamespaceLabel] != "osgs":
		t.Errorf("names and labels: %s %v", spec.Name, spec.Labels)
	case c.Image != "sha256:abc" || c.StopSignal != "SIGINT" || *c.StopGracePeriod != 2*time.Minute || c.Healthcheck.Retries != 5:
		t.Errorf("container: %+v", c)
	case !reflect.DeepEqual(spec.TaskTemplate.Placement.Constraints, []string{"node.labels.osgs.role.db==true", "node.id==node1"}):
		t.Errorf("placement %v", spec.TaskTemplate.Placement.Constraints)
	case len(skipped) != 1 || len(spec.EndpointSpec.Ports) != 0 || spec.EndpointSpec.Mode != swarm.ResolutionModeDNSRR:
		t.Errorf("endpoint %+v, skipped %v", spec.EndpointSpec, skipped)
	case spec.UpdateConfig.Order != swarm.UpdateOrderStopFirst || spec.UpdateConfig.FailureAction != swarm.UpdateFailureActionRollback || spec.UpdateConfig.Monitor < 132*time.Second:
		t.Errorf("update %+v", spec.UpdateConfig)
	case len(spec.TaskTemplate.Networks) != 1 || spec.TaskTemplate.Networks[0].Target != "osgs_database" || spec.TaskTemplate.Networks[0].Aliases[0] != "postgis":
		t.Errorf("networks %+v", spec.TaskTemplate.Networks)
	}
	// The digest is stable, and moves with any setting.
	again, _, _ := Service(p, s, o)
	if again.Labels[SpecLabel] != spec.Labels[SpecLabel] || spec.Labels[SpecLabel] != Digest(spec) {
		t.Fatal("the digest of an unchanged service changed")
	}
	pw2 := "y"
	s.Environment = types.MappingWithEquals{"POSTGRES_USER": &pw2}
	changed, _, _ := Service(p, s, o)
	if changed.Labels[SpecLabel] == spec.Labels[SpecLabel] {
		t.Fatal("a changed setting kept the digest")
	}
	// A web service starts the new task first and may have replicas.
	o.Role, o.Pin, o.Replicas = Web, "", 3
	s.Ports, s.Volumes = nil, nil
	web, _, _ := Service(p, s, o)
	if *web.Mode.Replicated.Replicas != 3 || web.UpdateConfig.Order != swarm.UpdateOrderStartFirst || len(web.TaskTemplate.Placement.Constraints) != 1 {
		t.Fatalf("web: %+v %+v", web.Mode.Replicated, web.UpdateConfig)
	}
}

// digest is a keyed digest, as swarm:deploy makes with the checkout's key.
func digest() hash.Hash { return hmac.New(sha256.New, []byte("a test key of the deploying host")) }

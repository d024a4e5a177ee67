package swarm

import (
	"errors"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/swarm/convert"
)

func TestConvergence(t *testing.T) {
	two := uint64(2)
	svc := swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Labels: map[string]string{"org.osgs.service": "hello"}},
		Mode:        swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}},
	}}
	task := func(digest string, state swarm.TaskState) swarm.Task {
		return swarm.Task{ServiceID: "s1", DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state},
			Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Labels: map[string]string{convert.SpecLabel: digest}}}}
	}
	other := task("new", swarm.TaskStateRunning)
	other.ServiceID = "s2"
	shut := task("old", swarm.TaskStateRunning)
	shut.Status.State = swarm.TaskStateShutdown
	shut.DesiredState = swarm.TaskStateShutdown
	stopping := task("old", swarm.TaskStateRunning)
	stopping.DesiredState = swarm.TaskStateShutdown
	for _, tc := range []struct {
		name   string
		tasks  []swarm.Task
		digest string
		want   string
	}{
		{"both new tasks run", []swarm.Task{task("new", swarm.TaskStateRunning), task("new", swarm.TaskStateRunning), shut}, "new", ""},
		// Just after the update: the old tasks still run, as many as wanted.
		{"the update has not started", []swarm.Task{task("old", swarm.TaskStateRunning), task("old", swarm.TaskStateRunning)}, "new", "updating"},
		{"halfway", []swarm.Task{task("new", swarm.TaskStateRunning), task("old", swarm.TaskStateRunning)}, "new", "updating"},
		{"a new task is starting (not yet healthy)", []swarm.Task{task("new", swarm.TaskStateRunning), task("new", swarm.TaskStateStarting)}, "new", "runs 1 of 2"},
		{"another service's tasks do not count", []swarm.Task{task("new", swarm.TaskStateRunning), other}, "new", "runs 1 of 2"},
		{"an old task is still stopping", []swarm.Task{task("new", swarm.TaskStateRunning), task("new", swarm.TaskStateRunning), stopping}, "new", "updating"},
		{"unchanged: any running task counts", []swarm.Task{task("old", swarm.TaskStateRunning), task("old", swarm.TaskStateRunning)}, "", ""},
	} {
		got := convergence(svc, tc.tasks, tc.digest)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: convergence = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A service's secret and config references get the IDs of their objects,
// by name; one whose object was not created is an error.
func TestWithObjectIDs(t *testing.T) {
	spec := func() *swarm.ServiceSpec {
		return &swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Secrets: []*swarm.SecretReference{{SecretName: "p_pw_abc"}},
			Configs: []*swarm.ConfigReference{{ConfigName: "p_conf_def"}},
		}}}
	}
	ids := map[string]string{"secret/p_pw_abc": "s1", "config/p_conf_def": "c1", "secret/p_conf_def": "wrong kind"}
	s := spec()
	if err := withObjectIDs(s, ids); err != nil {
		t.Fatal(err)
	}
	if cs := s.TaskTemplate.ContainerSpec; cs.Secrets[0].SecretID != "s1" || cs.Configs[0].ConfigID != "c1" {
		t.Fatalf("ids = %q, %q", cs.Secrets[0].SecretID, cs.Configs[0].ConfigID)
	}
	delete(ids, "config/p_conf_def")
	if err := withObjectIDs(spec(), ids); err == nil || !strings.Contains(err.Error(), "p_conf_def") {
		t.Fatalf("a config that was not created: %v", err)
	}
	if err := withObjectIDs(&swarm.ServiceSpec{}, ids); err != nil {
		t.Fatalf("no container spec: %v", err)
	}
}

func TestRolePhases(t *testing.T) {
	cat := map[string]catalog.Service{
		"postgis":  {Name: "postgis", Database: true},
		"features": {Name: "features", DBRole: &catalog.DBRole{}},
		"hugo":     {Name: "hugo"},
	}
	get := func(n string) (catalog.Service, error) {
		if s, ok := cat[n]; ok {
			return s, nil
		}
		return catalog.Service{}, errors.New("no such service")
	}
	d := func(name string, changed bool) *desired {
		x := &desired{name: name}
		x.spec.Labels = map[string]string{convert.SpecLabel: "new"}
		if !changed {
			x.current = &swarm.Service{}
			x.current.Spec.Labels = map[string]string{convert.SpecLabel: "new"}
		}
		return x
	}
	for _, c := range []struct {
		name        string
		ds          []*desired
		before      bool
		first, rest string
	}{
		{"a new service with a role: the database first", []*desired{d("features", true), d("hugo", true), d("postgis", true)}, true, "postgis", "features,hugo"},
		{"the database unchanged still goes first", []*desired{d("features", true), d("postgis", false)}, true, "postgis", "features"},
		{"the role's service unchanged: one step", []*desired{d("features", false), d("postgis", true)}, true, "", "features,postgis"},
		{"no service with a role", []*desired{d("hugo", true), d("postgis", true)}, true, "", "hugo,postgis"},
		{"no BeforeStart hook", []*desired{d("features", true), d("postgis", true)}, false, "", "features,postgis"},
		{"no database deployed", []*desired{d("features", true)}, true, "", "features"},
	} {
		first, rest := rolePhases(c.ds, get, c.before)
		if got := strings.Join(names(first), ","); got != c.first {
			t.Errorf("%s: first %q, want %q", c.name, got, c.first)
		}
		if got := strings.Join(names(rest), ","); got != c.rest {
			t.Errorf("%s: rest %q, want %q", c.name, got, c.rest)
		}
	}
}

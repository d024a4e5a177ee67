package swarm

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

func TestPickTask(t *testing.T) {
	task := func(id string, slot int, state, desired swarm.TaskState, container string) swarm.Task {
		tk := swarm.Task{ID: id, Slot: slot, DesiredState: desired, Status: swarm.TaskStatus{State: state}}
		if container != "" {
			tk.Status.ContainerStatus = &swarm.ContainerStatus{ContainerID: container}
		}
		return tk
	}
	run, stop := swarm.TaskStateRunning, swarm.TaskStateShutdown
	for _, c := range []struct {
		name  string
		tasks []swarm.Task
		want  string // container; "" for none
	}{
		{"none", nil, ""},
		{"only starting", []swarm.Task{task("a", 1, swarm.TaskStateStarting, run, "c1")}, ""},
		{"running but told to stop", []swarm.Task{task("a", 1, run, stop, "c1")}, ""},
		{"running without a container yet", []swarm.Task{task("a", 1, run, run, "")}, ""},
		{"lowest slot", []swarm.Task{task("b", 2, run, run, "c2"), task("a", 1, run, run, "c1")}, "c1"},
		{"skips the stopping one", []swarm.Task{task("a", 1, run, stop, "c1"), task("b", 2, run, run, "c2")}, "c2"},
		{"same slot: by ID", []swarm.Task{task("y", 1, run, run, "cy"), task("x", 1, run, run, "cx")}, "cx"},
	} {
		got, ok := pickTask(c.tasks)
		if ok != (c.want != "") || ok && got.Status.ContainerStatus.ContainerID != c.want {
			t.Errorf("%s: got %+v, %v; want %q", c.name, got.Status.ContainerStatus, ok, c.want)
		}
	}
}

func TestPinnedNode(t *testing.T) {
	host := map[string]swarm.Node{"n2": {ID: "n2", Description: swarm.NodeDescription{Hostname: "node2"}}}
	svc := func(cons ...string) swarm.Service {
		var s swarm.Service
		s.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: cons}
		return s
	}
	for _, c := range []struct {
		name string
		s    swarm.Service
		want string // hostname; "" for none
	}{
		{"pinned", svc("node.labels.osgs.role.db==true", "node.id==n2"), "node2"},
		{"pinned, with spaces", svc("node.id == n2"), "node2"},
		{"pinned to a node that left", svc("node.id==n9"), ""},
		{"by role only", svc("node.labels.osgs.role.web==true"), ""},
		{"no placement", swarm.Service{}, ""},
	} {
		n, ok := pinnedNode(c.s, host)
		if ok != (c.want != "") || n.Description.Hostname != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, n.Description.Hostname, ok, c.want)
		}
	}
}

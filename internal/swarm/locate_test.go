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

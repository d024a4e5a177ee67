package engine

import "testing"

func TestCells(t *testing.T) {
	for _, tc := range []struct {
		in                     ServiceState
		enabled, state, health string
	}{
		{ServiceState{Enabled: true, State: "running", Health: "healthy"}, "yes", "running", "healthy"},
		{ServiceState{State: "exited", ExitCode: 137}, "no", "exited (137)", "-"},
		{ServiceState{State: "absent"}, "no", "absent", "-"},
	} {
		e, s, h := tc.in.Cells()
		if e != tc.enabled || s != tc.state || h != tc.health {
			t.Errorf("%+v: %q %q %q", tc.in, e, s, h)
		}
	}
}

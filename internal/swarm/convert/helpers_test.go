package convert

import (
	"reflect"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/swarm"
)

func TestEnv(t *testing.T) {
	a, b := "1", "x=y"
	got := Env(types.MappingWithEquals{"B": &b, "A": &a, "UNSET": nil})
	if !reflect.DeepEqual(got, []string{"A=1", "B=x=y"}) {
		t.Errorf("Env = %v", got)
	}
	if Env(nil) != nil {
		t.Error("an empty environment gave lines")
	}
}

func TestHealthcheck(t *testing.T) {
	iv, to, sp, re := types.Duration(2*time.Second), types.Duration(5*time.Second), types.Duration(30*time.Second), uint64(4)
	type want struct {
		test                     []string
		interval, timeout, start time.Duration
		retries                  int
	}
	for name, tc := range map[string]struct {
		in   *types.HealthCheckConfig
		want *want
	}{
		"none keeps the image's": {in: nil},
		"disabled":               {in: &types.HealthCheckConfig{Disable: true}, want: &want{test: []string{"NONE"}}},
		"full": {in: &types.HealthCheckConfig{Test: []string{"CMD", "true"}, Interval: &iv, Timeout: &to, StartPeriod: &sp, Retries: &re},
			want: &want{[]string{"CMD", "true"}, 2 * time.Second, 5 * time.Second, 30 * time.Second, 4}},
		"only a test": {in: &types.HealthCheckConfig{Test: []string{"CMD-SHELL", "exit 0"}}, want: &want{test: []string{"CMD-SHELL", "exit 0"}}},
	} {
		got := Healthcheck(tc.in)
		if tc.want == nil {
			if got != nil {
				t.Errorf("%s: %+v", name, got)
			}
			continue
		}
		w := tc.want
		if got == nil || !reflect.DeepEqual(got.Test, w.test) || got.Interval != w.interval || got.Timeout != w.timeout || got.StartPeriod != w.start || got.Retries != w.retries {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func TestUpdate(t *testing.T) {
	iv, sp, re := types.Duration(10*time.Second), types.Duration(60*time.Second), uint64(5)
	var healthy, disabled types.ServiceConfig
	healthy.HealthCheck = &types.HealthCheckConfig{Test: []string{"CMD", "true"}, Interval: &iv, StartPeriod: &sp, Retries: &re}
	disabled.HealthCheck = &types.HealthCheckConfig{Disable: true, StartPeriod: &sp}
	for name, tc := range map[string]struct {
		s         types.ServiceConfig
		role      Role
		hostPorts bool
		order     swarm.UpdateOrder
		monitor   time.Duration
	}{
		"web service starts the new task first":    {s: types.ServiceConfig{}, role: Web, order: swarm.UpdateOrderStartFirst, monitor: 30 * time.Second},
		"db service stops the old task first":      {s: types.ServiceConfig{}, role: DB, order: swarm.UpdateOrderStopFirst, monitor: 30 * time.Second},
		"a host port stops the old task first":     {s: types.ServiceConfig{}, role: Edge, hostPorts: true, order: swarm.UpdateOrderStopFirst, monitor: 30 * time.Second},
		"watched through start period and retries": {s: healthy, role: Web, order: swarm.UpdateOrderStartFirst, monitor: 60*time.Second + 10*time.Second*6},
		"a disabled healthcheck is not waited for": {s: disabled, role: Web, order: swarm.UpdateOrderStartFirst, monitor: 30 * time.Second},
	} {
		u := Update(tc.s, tc.role, tc.hostPorts, swarm.UpdateFailureActionRollback)
		if u.Order != tc.order || u.Monitor != tc.monitor || u.Parallelism != 1 || u.FailureAction != swarm.UpdateFailureActionRollback {
			t.Errorf("%s: %+v", name, u)
		}
	}
}

func TestNetworks(t *testing.T) {
	p := &types.Project{Name: "osgs", Networks: types.Networks{
		"features":          {Name: "osgs_features"},
		"database_features": {Name: "osgs_database_features"},
		"lan":               {Name: "site-lan", External: true},
	}}
	svc := func(name string, nets ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		s.Networks = map[string]*types.ServiceNetworkConfig{}
		for _, n := range nets {
			s.Networks[n] = nil
		}
		return s
	}
	p.Services = types.Services{
		"features": svc("features", "features", "database_features"),
		"nginx":    svc("nginx", "features", "lan"),
		"postgis":  svc("postgis", "database_features", "database"),
	}
	want := []Network{{Name: "osgs_database"}, {Name: "osgs_database_features"}, {Name: "osgs_features"}, {Name: "site-lan", External: true}}
	if got := Networks(p); !reflect.DeepEqual(got, want) {
		t.Errorf("Networks = %+v", got)
	}
	att, err := Attachments(p, p.Services["features"])
	if err != nil || !reflect.DeepEqual(att, []swarm.NetworkAttachmentConfig{
		{Target: "osgs_database_features", Aliases: []string{"features"}},
		{Target: "osgs_features", Aliases: []string{"features"}},
	}) {
		t.Errorf("Attachments = %+v, %v", att, err)
	}
	host := svc("probe")
	host.NetworkMode = "host"
	if _, err := Attachments(p, host); err == nil {
		t.Error("a network_mode was converted")
	}
}

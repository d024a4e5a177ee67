// Package status builds the stack-wide status table: for every service of
// the catalog, whether it is enabled, its container's state and health, and
// where users reach it; plus warnings such as a certificate due for renewal.
package status

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/watch"
)

// Row is one service's line.
type Row struct {
	engine.ServiceState
	URL string
}

// Rows reports every catalog service.
func Rows(ctx context.Context, e *engine.Engine) ([]Row, error) {
	states, err := e.States(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(states))
	for i, st := range states {
		rows[i] = Row{ServiceState: st, URL: url(e, st.Service)}
	}
	return rows, nil
}

func url(e *engine.Engine, service string) string {
	env := e.Env.Map()
	switch service {
	case postgis.Service:
		s := postgis.Load(e)
		return fmt.Sprintf("postgres://%s:%s/ (TLS)", s.Host, s.Port)
	case "mosquitto":
		host := env["MQTT_BIND"]
		if host == "" || host == "0.0.0.0" {
			host = "localhost"
		}
		return fmt.Sprintf("mqtt://%s:%s mqtts://%s:%s", host, or(env["MQTT_PORT"], "1883"), host, or(env["MQTTS_PORT"], "8883"))
	}
	return nginx.URL(e, service)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Print writes the table to w and warnings to warn.
func Print(w, warn io.Writer, rows []Row, warnings []string) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENABLED\tSTATE\tHEALTH\tURL")
	for _, r := range rows {
		enabled, state, health := r.Cells()
		u := r.URL
		if u == "" {
			u = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Service, enabled, state, health, u)
	}
	tw.Flush()
	for _, m := range warnings {
		fmt.Fprintln(warn, "WARNING:", m)
	}
}

// Warnings lists what needs the administrator's attention.
func Warnings(e *engine.Engine, now time.Time) []string {
	var out []string
	if m := nginx.CertWarning(e.Dir, now); m != "" {
		out = append(out, m)
	}
	return out
}

// Show prints the status table of e's stack.
func Show(ctx context.Context, e *engine.Engine) error {
	rows, err := Rows(ctx, e)
	if err != nil {
		return err
	}
	Print(e.Out, e.Err, rows, Warnings(e, time.Now()))
	// The last backup, the last verified set and the last push.
	root := backup.Root(e)
	st, err := watch.Load(root)
	if err != nil {
		return err
	}
	local, err := backup.List(root)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Out)
	for _, l := range watch.Summary(st, local, time.Now()) {
		fmt.Fprintln(e.Out, l)
	}
	return nil
}

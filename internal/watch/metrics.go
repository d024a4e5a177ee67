package watch

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/osgs/osgs/internal/backup"
)

// MetricsDirKey names node-exporter's textfile collector folder
// (Debian: /var/lib/prometheus/node-exporter).
const MetricsDirKey = "BACKUP_METRICS_DIR"

// WriteMetrics writes osgs_backup_<project>.prom into dir, atomically (as
// the textfile collector wants), from the record and the local sets.
func WriteMetrics(dir, project string, st *State, local []backup.Info) (string, error) {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"project": project}
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		reg.MustRegister(g)
	}
	n, v := newest(local)
	if st.LastSuccess != nil {
		gauge("osgs_backup_last_success_timestamp_seconds", "When the last backup job that succeeded finished.", float64(st.LastSuccess.Finished.Unix()))
		gauge("osgs_backup_last_duration_seconds", "How long the last successful backup job took.", st.LastSuccess.Duration().Seconds())
		gauge("osgs_backup_last_size_bytes", "Stored bytes of the set the last successful job made.", float64(st.LastSuccess.Size))
	}
	if st.LastRun != nil {
		ok := 0.0
		if st.LastRun.OK {
			ok = 1
		}
		gauge("osgs_backup_last_run_success", "1 if the last backup job succeeded, 0 if it failed.", ok)
		gauge("osgs_backup_last_run_timestamp_seconds", "When the last backup job finished.", float64(st.LastRun.Finished.Unix()))
	}
	if n.Name != "" {
		gauge("osgs_backup_newest_set_timestamp_seconds", "When the newest local set was made.", float64(n.Created.Unix()))
		gauge("osgs_backup_newest_set_size_bytes", "Stored bytes of the newest local set.", float64(n.Size))
	}
	if v.Name != "" {
		gauge("osgs_backup_last_verified_timestamp_seconds", "When the newest verified local set was made.", float64(v.Created.Unix()))
	}
	push := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "osgs_backup_last_push_timestamp_seconds", Help: "When a set was last pushed to each destination.", ConstLabels: labels}, []string{"destination"})
	for name, p := range st.Pushes {
		push.WithLabelValues(name).Set(float64(p.At.Unix()))
	}
	reg.MustRegister(push)
	sets := 0
	for _, s := range local {
		if s.Err == nil {
			sets++
		}
	}
	gauge("osgs_backup_sets", "Local backup sets.", float64(sets))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", MetricsDirKey, err)
	}
	path := filepath.Join(dir, "osgs_backup_"+project+".prom")
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return "", fmt.Errorf("write metrics: %w", err)
	}
	return path, nil
}

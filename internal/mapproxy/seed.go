// Package mapproxy fills and empties MapProxy's tile caches with Debian's
// mapproxy-seed, run in the service's own container against the
// configuration it serves (mapproxy:seed, mapproxy:cleanup). The seed and
// cleanup tasks are built by pure functions (tested in seed_test.go) and
// reach mapproxy-seed on its standard input.
package mapproxy

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/refusal"
)

// Service is the catalog name of MapProxy.
const Service = "mapproxy"

// ConfigPath is where the rendered mapproxy.yaml is in the container.
const ConfigPath = "/mapproxy/config/mapproxy.yaml"

// ErrRefused marks bad input: nothing was seeded or removed.
var ErrRefused = refusal.Err

// SeedOptions say what to seed.
type SeedOptions struct {
	// From and To are the zoom levels, inclusive.
	From, To int
	// BBox is minx, miny, maxx, maxy in SRS; nil seeds the grid's extent.
	BBox []float64
	// SRS is the BBox's reference system (EPSG:4326 when empty).
	SRS string
	// Caches are the caches to seed; every cache of the configuration when
	// empty.
	Caches []string
	// Concurrency is the number of parallel requests to the source.
	Concurrency int
}

// ParseLevels reads "N" or "N-M" (0 <= N <= M <= 30).
func ParseLevels(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		b = a
	}
	from, err1 := strconv.Atoi(strings.TrimSpace(a))
	to, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || from < 0 || to < from || to > 30 {
		return 0, 0, fmt.Errorf("%w: levels %q: want N or N-M with 0 <= N <= M <= 30", ErrRefused, s)
	}
	return from, to, nil
}

// ParseBBox reads "minx,miny,maxx,maxy".
func ParseBBox(s string) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("%w: bbox %q: want minx,miny,maxx,maxy", ErrRefused, s)
	}
	out := make([]float64, 4)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bbox %q: %q is not a number", ErrRefused, s, p)
		}
		out[i] = v
	}
	if out[0] >= out[2] || out[1] >= out[3] {
		return nil, fmt.Errorf("%w: bbox %q: min must be below max", ErrRefused, s)
	}
	return out, nil
}

// Caches lists the cache names of a mapproxy.yaml.
func Caches(config []byte) ([]string, error) {
	var c struct {
		Caches map[string]any `yaml:"caches"`
	}
	if err := yaml.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("read %s: %w", ConfigPath, err)
	}
	var names []string
	for n := range c.Caches {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// task names in the generated files.
const (
	seedTask    = "osgs_seed"
	cleanupTask = "osgs_cleanup"
	coverage    = "osgs_area"
)

// SeedConfig is mapproxy-seed's task file for o (its -s file).
func SeedConfig(o SeedOptions) ([]byte, error) {
	seed := map[string]any{
		"caches": o.Caches,
		"levels": map[string]int{"from": o.From, "to": o.To},
	}
	doc := map[string]any{"seeds": map[string]any{seedTask: seed}}
	if o.BBox != nil {
		srs := o.SRS
		if srs == "" {
			srs = "EPSG:4326"
		}
		seed["coverages"] = []string{coverage}
		doc["coverages"] = map[string]any{coverage: map[string]any{"bbox": o.BBox, "srs": srs}}
	}
	return yaml.Marshal(doc)
}

// CleanupConfig is the task file that removes every tile of caches.
func CleanupConfig(caches []string) ([]byte, error) {
	return yaml.Marshal(map[string]any{"cleanups": map[string]any{cleanupTask: map[string]any{
		"caches": caches, "remove_all": true,
	}}})
}

// SeedArgs is the mapproxy-seed command line: the task file is read from
// standard input.
func SeedArgs(task string, concurrency int) []string {
	args := []string{"mapproxy-seed", "-f", ConfigPath, "-s", "/dev/stdin", "--progress-file", "/mapproxy/cache/.osgs-seed-progress"}
	switch task {
	case seedTask:
		args = append(args, "--seed", seedTask, "--continue")
	case cleanupTask:
		args = append(args, "--cleanup", cleanupTask)
	}
	if concurrency > 0 {
		args = append(args, "-c", strconv.Itoa(concurrency))
	}
	return args
}

// checkCaches resolves the caches to work on against the configuration.
func checkCaches(ctx context.Context, e *engine.Engine, want []string) ([]string, error) {
	cfg, err := e.Output(ctx, Service, "", "cat", ConfigPath)
	if err != nil {
		return nil, err
	}
	have, err := Caches(cfg)
	if err != nil {
		return nil, err
	}
	if len(want) == 0 {
		if len(have) == 0 {
			return nil, fmt.Errorf("%w: %s has no caches", ErrRefused, ConfigPath)
		}
		return have, nil
	}
	for _, c := range want {
		if !slices.Contains(have, c) {
			return nil, fmt.Errorf("%w: no cache %q (MapProxy has %s)", ErrRefused, c, strings.Join(have, ", "))
		}
	}
	return want, nil
}

// Seed fills the caches with mapproxy-seed in the running container,
// printing its progress to e.Err. An interrupted seed is resumed by the
// next one (--continue, with a progress file in the cache volume).
func Seed(ctx context.Context, e *engine.Engine, o SeedOptions) error {
	caches, err := checkCaches(ctx, e, o.Caches)
	if err != nil {
		return err
	}
	o.Caches = caches
	task, err := SeedConfig(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: seeding %s, levels %d-%d\n", strings.Join(caches, ", "), o.From, o.To)
	return run(ctx, e, task, SeedArgs(seedTask, o.Concurrency))
}

// Cleanup removes every tile of the caches (all when none is named).
func Cleanup(ctx context.Context, e *engine.Engine, caches []string) error {
	caches, err := checkCaches(ctx, e, caches)
	if err != nil {
		return err
	}
	task, err := CleanupConfig(caches)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: removing every tile of %s\n", strings.Join(caches, ", "))
	return run(ctx, e, task, SeedArgs(cleanupTask, 0))
}

func run(ctx context.Context, e *engine.Engine, task []byte, args []string) error {
	id, err := e.ContainerOf(ctx, Service)
	if err != nil {
		return err
	}
	return e.Exec(ctx, id, args, engine.ExecOptions{Stdin: strings.NewReader(string(task)), Stdout: e.Err, Stderr: e.Err})
}

// Command osgs-tiles is the vector tile server of osgs's tiles service: it
// serves the tables and views of one PostGIS schema as Mapbox vector tiles
// with a TileJSON per layer (internal/tileserver). It runs inside the
// service's container; osgs builds it with the host's Go (x-osgs.go_build).
//
// Its configuration is one JSON file (a compose secret, since it holds the
// database password): {"database_url", "schema", "listen", "prefix",
// "max_age_seconds", "max_zoom", "pool_size"}.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osgs/osgs/internal/tileserver"
)

type config struct {
	DatabaseURL string `json:"database_url"`
	Schema      string `json:"schema"`
	Listen      string `json:"listen"`
	Prefix      string `json:"prefix"`
	MaxAge      int    `json:"max_age_seconds"`
	MaxZoom     int    `json:"max_zoom"`
	PoolSize    int32  `json:"pool_size"`
}

func main() {
	path := flag.String("config", "/run/secrets/tiles_config.json", "configuration file")
	health := flag.Bool("health", false, "ask the running server for its health and exit 0 when it is healthy")
	flag.Parse()
	if err := run(*path, *health); err != nil {
		fmt.Fprintln(os.Stderr, "osgs-tiles:", err)
		os.Exit(1)
	}
}

func run(path string, health bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if c.Listen == "" {
		c.Listen = ":7800"
	}
	if health {
		return checkHealth(c)
	}
	if c.DatabaseURL == "" || c.Schema == "" {
		return fmt.Errorf("%s: database_url and schema are required", path)
	}
	pc, err := pgxpool.ParseConfig(c.DatabaseURL)
	if err != nil {
		return errors.New("database_url does not parse") // its text holds the password
	}
	if c.PoolSize > 0 {
		pc.MaxConns = c.PoolSize
	}
	pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pc.ConnConfig.RuntimeParams["application_name"] = "osgs-tiles"
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return err
	}
	defer pool.Close()
	srv := &http.Server{
		Addr: c.Listen,
		Handler: tileserver.New(pool, tileserver.Options{
			Schema: c.Schema, Prefix: c.Prefix, MaxZoom: c.MaxZoom,
			MaxAge: time.Duration(c.MaxAge) * time.Second,
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("serving", "listen", c.Listen, "prefix", c.Prefix, "schema", c.Schema)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}

// checkHealth is the container's healthcheck: the server answers and its
// database does.
func checkHealth(c config) error {
	host := c.Listen
	if host[0] == ':' {
		host = "127.0.0.1" + host
	}
	prefix := c.Prefix
	if prefix == "" {
		prefix = "/"
	}
	cl := http.Client{Timeout: 4 * time.Second}
	resp, err := cl.Get("http://" + host + prefix + "health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("health: %s", resp.Status)
	}
	return nil
}

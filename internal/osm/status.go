package osm

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/tools"
)

// Status is what the mirror holds and how current it is.
type Status struct {
	DB              string
	File, Clip      string
	SRID            int
	ImportedAt      string
	DataTime        string // newest object, from the file or the last update
	LastUpdate      string
	LastSource      string
	ReplicationURL  string
	Sequence        string // replication sequence applied, "" without replication
	ReplicationTime string
	Counts          map[string]int64
}

// readStatus reads the mirror's record, and refuses when there is none.
func readStatus(ctx context.Context, h *tools.Helper, db string) (*Status, error) {
	rows, err := h.Query(ctx, "postgres", "SELECT 1 FROM pg_database WHERE datname = "+gisdata.Literal(db))
	if err != nil {
		return nil, fmt.Errorf("connect to PostGIS: %w", err)
	}
	if len(rows) == 0 {
		return nil, refuse("no OpenStreetMap mirror: database %s does not exist (run osm:import)", db)
	}
	rows, err = h.Query(ctx, db, fmt.Sprintf(`SELECT to_regclass('%[1]s.%[2]s') IS NOT NULL, to_regclass('%[1]s.planet_osm_replication_status') IS NOT NULL`, Schema, MetaTable))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || rows[0][0] != "t" {
		return nil, refuse("no OpenStreetMap mirror in database %s (run osm:import)", db)
	}
	// The replication state, as "sequence|time", when there is one.
	rep := "''"
	if rows[0][1] == "t" {
		rep = fmt.Sprintf("(SELECT sequence::text || '|' || coalesce(importdate::text, '') FROM %s.planet_osm_replication_status LIMIT 1)", Schema)
	}
	rows, err = h.Query(ctx, db, fmt.Sprintf(`SELECT coalesce(file, ''), coalesce(clip, ''), srid, imported_at::text, coalesce(data_timestamp::text, ''),
  coalesce(last_update::text, ''), coalesce(last_update_source, ''), coalesce(replication_url, ''), coalesce(%s, '') FROM %s.%s`,
		rep, Schema, MetaTable))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows[0]) < 9 {
		return nil, refuse("the mirror's record in %s.%s is empty (run osm:import)", Schema, MetaTable)
	}
	r := rows[0]
	s := &Status{DB: db, File: r[0], Clip: r[1], ImportedAt: r[3], DataTime: r[4], LastUpdate: r[5], LastSource: r[6], ReplicationURL: r[7]}
	s.SRID, _ = strconv.Atoi(r[2])
	if seq, t, ok := strings.Cut(r[8], "|"); ok {
		s.Sequence, s.ReplicationTime = seq, t
	}
	return s, nil
}

// ReadStatus reads the mirror's status and its tables' row counts.
func ReadStatus(ctx context.Context, e *engine.Engine, db string) (*Status, error) {
	o := Options{DB: db}
	if _, _, err := settings(e, &o); err != nil {
		return nil, err
	}
	h, err := tools.Start(ctx, e)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	s, err := readStatus(ctx, h, o.DB)
	if err != nil {
		return nil, err
	}
	if s.Counts, err = counts(ctx, h, o.DB, Schema); err != nil {
		return nil, err
	}
	return s, nil
}

// Print writes the status.
func (s *Status) Print(w io.Writer) {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	fmt.Fprintf(w, "mirror      %s.%s (SRID %d)\n", s.DB, Schema, s.SRID)
	fmt.Fprintf(w, "imported    %s from %s%s\n", s.ImportedAt, s.File, map[bool]string{true: ", clipped to " + s.Clip, false: ""}[s.Clip != ""])
	fmt.Fprintf(w, "data as of  %s\n", or(s.DataTime, "unknown"))
	fmt.Fprintf(w, "last update %s\n", or(strings.TrimSpace(s.LastUpdate+" "+paren(s.LastSource)), "none"))
	if s.Sequence != "" {
		fmt.Fprintf(w, "replication sequence %s (%s) from %s\n", s.Sequence, s.ReplicationTime, or(s.ReplicationURL, "the file's server"))
	} else {
		fmt.Fprintf(w, "replication none: updates come from change files (set %s and import again)\n", KeyReplication)
	}
	for _, t := range Tables {
		fmt.Fprintf(w, "  %-11s %d\n", t, s.Counts[t])
	}
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

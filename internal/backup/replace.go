package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/refusal"
)

// replaceDatabase restores db without risking it: load fills a new, empty
// database (named for db, with a random suffix), and only when load
// succeeded is db renamed away, the new one renamed to db, and the old one
// dropped. A failed load drops the new database and leaves db as it was.
func replaceDatabase(ctx context.Context, e *engine.Engine, id, db string, load func(tmp string) error) error {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	base := db
	if len(base) > 40 { // identifiers are cut at 63 bytes
		base = base[:40]
	}
	tmp := base + "_osgs_new_" + hex.EncodeToString(suffix)
	old := base + "_osgs_old_" + hex.EncodeToString(suffix)
	if _, err := queryIn(ctx, e, id, "postgres", "CREATE DATABASE "+sqlIdent(tmp)+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create the database to restore into: %w", err)
	}
	drop := func(name string) {
		q := "DROP DATABASE IF EXISTS " + sqlIdent(name) + " WITH (FORCE)"
		if _, err := queryIn(context.WithoutCancel(ctx), e, id, "postgres", q); err != nil {
			fmt.Fprintf(e.Err, "osgs: could not drop %s: %v\n", name, err)
		}
	}
	if err := load(tmp); err != nil {
		drop(tmp)
		return fmt.Errorf("%w; database %s is unchanged", err, db)
	}
	exists, err := queryIn(ctx, e, id, "postgres", "SELECT count(*) FROM pg_database WHERE datname = "+sqlLiteral(db))
	if err != nil {
		drop(tmp)
		return err
	}
	if exists == "1" {
		// The new database takes over the old one's owner, privileges and
		// settings, which a dump does not carry.
		if err := carryProperties(ctx, e, id, db, tmp); err != nil {
			drop(tmp)
			return fmt.Errorf("carry %s's owner, privileges and settings over: %w; it is unchanged", db, err)
		}
		// Close db to new sessions, end the open ones (waiting up to 5 s
		// each), then swap the names in one transaction.
		closeOld := "ALTER DATABASE " + sqlIdent(db) + " WITH ALLOW_CONNECTIONS false"
		terminate := "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE datname = " + sqlLiteral(db) + " AND pid <> pg_backend_pid()"
		swap := "BEGIN; ALTER DATABASE " + sqlIdent(db) + " RENAME TO " + sqlIdent(old) + "; ALTER DATABASE " + sqlIdent(tmp) + " RENAME TO " + sqlIdent(db) + "; COMMIT;"
		for _, q := range []string{closeOld, terminate, swap} {
			if _, err := queryIn(ctx, e, id, "postgres", q); err != nil {
				_, _ = queryIn(context.WithoutCancel(ctx), e, id, "postgres", "ALTER DATABASE "+sqlIdent(db)+" WITH ALLOW_CONNECTIONS true")
				drop(tmp)
				return fmt.Errorf("swap in the restored database %s: %w; it is unchanged", db, err)
			}
		}
		drop(old)
		return nil
	}
	if _, err := queryIn(ctx, e, id, "postgres", "ALTER DATABASE "+sqlIdent(tmp)+" RENAME TO "+sqlIdent(db)); err != nil {
		drop(tmp)
		return fmt.Errorf("name the restored database %s: %w", db, err)
	}
	return nil
}

// carryPropertiesSQL gives database :to the owner, the privileges (datacl)
// and the settings (ALTER DATABASE ... SET, and per role in it) of :from.
// List settings such as search_path are stored quoted already and are
// replayed as they are; the others are quoted as literals.
const carryPropertiesSQL = `
SELECT format('ALTER DATABASE %I OWNER TO %I', :'to', pg_get_userbyid(datdba)) FROM pg_database WHERE datname = :'from' \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'to') FROM pg_database WHERE datname = :'from' AND datacl IS NOT NULL \gexec
SELECT format('GRANT %s ON DATABASE %I TO %s%s', a.privilege_type, :'to',
    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
    CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
  FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = :'from' \gexec
SELECT format('ALTER %s SET %s TO %s',
    CASE WHEN s.setrole = 0 THEN format('DATABASE %I', :'to') ELSE format('ROLE %I IN DATABASE %I', pg_get_userbyid(s.setrole), :'to') END,
    split_part(c, '=', 1),
    CASE WHEN split_part(c, '=', 1) IN ('search_path', 'temp_tablespaces', 'session_preload_libraries', 'shared_preload_libraries', 'local_preload_libraries')
      THEN substr(c, strpos(c, '=') + 1) ELSE quote_literal(substr(c, strpos(c, '=') + 1)) END)
  FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c WHERE d.datname = :'from' \gexec
`

func carryProperties(ctx context.Context, e *engine.Engine, id, from, to string) error {
	argv := postgis.PsqlArgs(postgis.Load(e), "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-v", "from="+from, "-v", "to="+to)
	return e.Exec(ctx, id, argv, engine.ExecOptions{User: postgis.OSUser, Stdin: strings.NewReader(carryPropertiesSQL)})
}

// completionMarker is the comment pg_dump (or pg_dumpall) writes last; a
// plain-SQL dump without it was cut short.
func completionMarker(cluster bool) []byte {
	if cluster {
		return []byte("-- PostgreSQL database cluster dump complete")
	}
	return []byte("-- PostgreSQL database dump complete")
}

// IncompleteDumpError is a plain-SQL dump without pg_dump's completion
// marker at its end: cut short, or not a pg_dump script.
type IncompleteDumpError struct{ Path string }

func (i *IncompleteDumpError) Error() string {
	return fmt.Sprintf("%s is incomplete: it lacks pg_dump's closing %q line (cut short?); nothing was restored", i.Path, "PostgreSQL database dump complete")
}

// Is makes an incomplete dump a refusal (exit code 2).
func (i *IncompleteDumpError) Is(target error) bool { return target == refusal.Err }

// checkComplete refuses a plain-SQL dump whose end is not pg_dump's
// completion marker, before anything is touched.
func checkComplete(path string, cluster bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	const tail = 64 << 10
	off := max(fi.Size()-tail, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if !endsComplete(buf, completionMarker(cluster)) {
		return &IncompleteDumpError{Path: path}
	}
	return nil
}

// endsComplete reports whether the marker line is followed only by blank
// lines, SQL comments and psql's \unrestrict (newer pg_dump writes it last).
func endsComplete(tail, marker []byte) bool {
	i := bytes.LastIndex(tail, marker)
	if i < 0 || (i > 0 && tail[i-1] != '\n') {
		return false
	}
	for _, l := range strings.Split(string(tail[i+len(marker):]), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--") && !strings.HasPrefix(l, `\unrestrict `) {
			return false
		}
	}
	return true
}

// completeReader passes a plain-SQL dump through and turns its EOF into an
// error unless the stream ended with the completion marker, so that psql is
// cut off (and its transaction rolled back) when the file was cut short.
type completeReader struct {
	r      io.Reader
	marker []byte
	tail   []byte // the last 64 KiB read
}

func (c *completeReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.tail = append(c.tail, p[:n]...)
	if len(c.tail) > 128<<10 {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-64<<10:]...)
	}
	if errors.Is(err, io.EOF) && !endsComplete(c.tail, c.marker) {
		return n, errors.New("the dump ended before pg_dump's completion marker (cut short?)")
	}
	return n, err
}

package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/pgdump"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/refusal"
)

// Source is what a restore reads: a set, or a single file.
type Source struct {
	SetDir   string    // a set folder, when restoring from a set
	Manifest *Manifest // its manifest
	File     string    // a single file, when not
}

// Resolve finds src: a path to a set folder or file, or the name of a set in root.
func Resolve(root, src string) (*Source, error) {
	cands := []string{src, filepath.Join(root, src)}
	for _, c := range cands {
		info, err := os.Stat(c)
		if err != nil {
			continue
		}
		if info.IsDir() {
			m, err := ReadManifest(c)
			if err != nil {
				return nil, err
			}
			return &Source{SetDir: c, Manifest: m}, nil
		}
		return &Source{File: c}, nil
	}
	return nil, fmt.Errorf("no backup set or file %q (looked in . and %s)", src, root)
}

// Only narrows a set source to one service's files.
func (s *Source) Only(service string) *Source {
	if s.Manifest == nil {
		return s
	}
	m := *s.Manifest
	m.Files = nil
	for _, f := range s.Manifest.Files {
		if f.Service == service {
			m.Files = append(m.Files, f)
		}
	}
	return &Source{SetDir: s.SetDir, Manifest: &m, File: s.File}
}

// plain SQL files from the original OSGS.
var osgsAllDatabases = regexp.MustCompile(`all-databases.*\.sql$`)

// RestorePostGISOptions configure RestorePostGIS.
type RestorePostGISOptions struct {
	Source   *Source
	Database string // restore only this database (or, for a single file, into it)
	Yes      bool   // confirmation to overwrite
}

// RestorePostGIS restores globals and databases. Every checksum is checked
// before anything is touched; without Yes it reports what it would replace.
func RestorePostGIS(ctx context.Context, e *engine.Engine, o RestorePostGISOptions) error {
	if o.Yes {
		lock, err := lockForRestore(e)
		if err != nil {
			return err
		}
		defer lock.Close()
	}
	return restorePostGIS(ctx, e, o)
}

func restorePostGIS(ctx context.Context, e *engine.Engine, o RestorePostGISOptions) error {
	if o.Source.File != "" {
		return restoreFile(ctx, e, o)
	}
	var globals *Entry
	var dbs []Entry
	for _, f := range o.Source.Manifest.Files {
		switch {
		case f.Service != postgis.Service:
		case f.Kind == KindGlobals:
			f := f
			globals = &f
		case f.Kind == KindDatabase && (o.Database == "" || f.Database == o.Database):
			dbs = append(dbs, f)
		}
	}
	if len(dbs) == 0 && globals == nil {
		return fmt.Errorf("%s holds no PostGIS backup", o.Source.SetDir)
	}
	if o.Database != "" && len(dbs) == 0 {
		return fmt.Errorf("%s holds no dump of database %q", o.Source.SetDir, o.Database)
	}
	if err := CheckSignature(e, o.Source.SetDir); err != nil {
		return err
	}
	if err := VerifyChecksums(o.Source.SetDir, o.Source.Manifest, func(f Entry) bool {
		return f.Service == postgis.Service
	}); err != nil {
		return err
	}
	if globals != nil {
		if err := checkScript(e, filepath.Join(o.Source.SetDir, globals.Path)); err != nil {
			return err
		}
	}
	for _, d := range dbs {
		if err := checkDump(e, filepath.Join(o.Source.SetDir, d.Path)); err != nil {
			return err
		}
	}
	if !o.Yes {
		var names []string
		for _, d := range dbs {
			names = append(names, d.Database)
		}
		return &engine.ConfirmError{What: fmt.Sprintf("replace PostGIS roles and database(s) %s from %s", strings.Join(names, ", "), o.Source.SetDir)}
	}
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		return err
	}
	if globals != nil {
		if err := restoreGlobals(ctx, e, id, filepath.Join(o.Source.SetDir, globals.Path)); err != nil {
			return err
		}
	}
	for _, d := range dbs {
		if err := restoreDump(ctx, e, id, filepath.Join(o.Source.SetDir, d.Path), d.Database); err != nil {
			return err
		}
		fmt.Fprintf(e.Err, "osgs: restored database %s\n", d.Database)
	}
	return nil
}

// restoreFile restores a single file: a .dump.zst, or an original OSGS plain-SQL dump.
func restoreFile(ctx context.Context, e *engine.Engine, o RestorePostGISOptions) error {
	path := o.Source.File
	name := logicalName(filepath.Base(path)) // an encrypted set's file too
	db := o.Database
	if db == "" {
		if s := postgis.Load(e); len(s.Databases) > 0 {
			db = s.Databases[0]
		}
	}
	switch {
	case strings.HasSuffix(name, ".zst"):
		if err := checkZstd(e, path); err != nil {
			return err
		}
		check := checkDump
		if strings.HasSuffix(name, ".sql.zst") {
			check = checkScript
		}
		if err := check(e, path); err != nil {
			return err
		}
	case strings.HasSuffix(name, ".sql"):
		if err := checkComplete(path, osgsAllDatabases.MatchString(name)); err != nil {
			return err
		}
		if err := checkScript(e, path); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: not a backup file (want a .dump.zst from osgs, or an OSGS .sql dump)", path)
	}
	target := "database " + db
	if osgsAllDatabases.MatchString(name) {
		target = "every database and role"
	}
	if !o.Yes {
		return &engine.ConfirmError{What: fmt.Sprintf("replace %s from %s", target, path)}
	}
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(name, ".dump.zst"):
		return restoreDump(ctx, e, id, path, db)
	case strings.HasSuffix(name, ".sql.zst"):
		return restoreGlobals(ctx, e, id, path)
	case osgsAllDatabases.MatchString(name):
		if _, err := queryIn(ctx, e, id, "postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname IS NOT NULL AND datname <> 'postgres'"); err != nil {
			return err
		}
		return restoreSQL(ctx, e, id, path, "postgres")
	default:
		// The original's dumps come from `pg_dump --clean` into an existing
		// database; here the replacement is loaded afresh, in one
		// transaction, and swapped in only once it loaded.
		return replaceDatabase(ctx, e, id, db, func(tmp string) error {
			return restoreSQL(ctx, e, id, path, tmp, "-1")
		})
	}
}

var (
	dropStmt       = regexp.MustCompile(`^DROP (DATABASE|ROLE|TABLE|SEQUENCE|VIEW|MATERIALIZED VIEW|INDEX|SCHEMA|EXTENSION|FUNCTION|AGGREGATE|TYPE|DOMAIN|TRIGGER|RULE|POLICY|PUBLICATION|TEXT SEARCH CONFIGURATION|TEXT SEARCH DICTIONARY|FOREIGN TABLE|SERVER|COLLATION|OPERATOR|CAST|TABLESPACE) (?:IF EXISTS )?`)
	dropConstraint = regexp.MustCompile(`^ALTER TABLE (?:IF EXISTS )?ONLY (\S+) DROP CONSTRAINT (?:IF EXISTS )?`)
)

// osgsSQLFilter makes a `pg_dump --clean` or `pg_dumpall --clean` script
// tolerate objects that do not exist yet, as `--if-exists` would have.
func osgsSQLFilter(r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	bw := bufio.NewWriterSize(w, 1<<16)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case dropStmt.MatchString(line):
			line = dropStmt.ReplaceAllString(line, "DROP $1 IF EXISTS ")
		case dropConstraint.MatchString(line):
			line = dropConstraint.ReplaceAllString(line, "ALTER TABLE IF EXISTS ONLY $1 DROP CONSTRAINT IF EXISTS ")
		case strings.HasPrefix(line, "ALTER TABLE ") && !strings.HasPrefix(line, "ALTER TABLE IF EXISTS ") &&
			strings.HasSuffix(line, " DROP DEFAULT;"):
			line = "ALTER TABLE IF EXISTS " + strings.TrimPrefix(line, "ALTER TABLE ")
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// checkZstd decodes a whole .zst file to check its frame checksums, so a
// corrupt or truncated file is refused before a restore begins.
func checkZstd(e *engine.Engine, path string) error {
	r, err := openDecompressed(e, path)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		return &ChecksumError{Path: path, Reason: err.Error()}
	}
	return nil
}

// lockForRestore takes the backups folder's lock for a restore: a backup
// taken meanwhile would save a half-restored state (and the restore's
// temporary database), and a prune could remove the set being restored.
func lockForRestore(e *engine.Engine) (io.Closer, error) {
	return LockDir(Root(e))
}

// checkScript reads a whole plain-SQL file (or a set's globals.sql.zst)
// through pgdump.GuardScript before a restore changes anything, and refuses
// one that holds a psql meta-command or a statement that would run a
// program or reach the server's files.
func checkScript(e *engine.Engine, path string) error {
	var r io.ReadCloser
	var err error
	if strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".age") {
		r, err = openDecompressed(e, path)
	} else {
		r, err = os.Open(path)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if err := pgdump.GuardScript(r, io.Discard); err != nil {
		return scriptError(path, err)
	}
	return nil
}

// checkDump reads a dump's table of contents and refuses one whose SQL
// (what pg_restore runs as the superuser) holds what GuardScript refuses.
func checkDump(e *engine.Engine, path string) error {
	r, err := openDecompressed(e, path)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := pgdump.CheckTOC(zstdErrs{r}); err != nil {
		return scriptError(path, err)
	}
	return nil
}

func scriptError(path string, err error) error {
	var se *pgdump.ScriptError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s: %v", refusal.Err, filepath.Base(path), se)
	}
	return err
}

// guarded passes a script through pgdump.GuardScript as psql reads it, so
// a file changed after checkScript read it still cannot run a command.
func guarded(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		err := pgdump.GuardScript(r, pw)
		var se *pgdump.ScriptError
		if errors.As(err, &se) {
			err = scriptError("the script", err)
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// restoreSQL runs a plain SQL file through psql with ON_ERROR_STOP (and
// extra psql flags, such as -1 for one transaction). The stream must end
// with pg_dump's completion marker, or psql's input fails: a file cut short
// while it is read is refused too.
func restoreSQL(ctx context.Context, e *engine.Engine, id, path, db string, flags ...string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	all := osgsAllDatabases.MatchString(filepath.Base(path))
	f := guarded(&completeReader{r: file, marker: completionMarker(all)})
	defer f.Close()
	s := postgis.Load(e)
	pr, pw := io.Pipe()
	go func() {
		if !all {
			pw.CloseWithError(osgsSQLFilter(f, pw))
			return
		}
		// A pg_dumpall script also drops and recreates roles, the current
		// superuser among them; keep that one as it is.
		mr, mw := io.Pipe()
		go func() { mw.CloseWithError(osgsSQLFilter(f, mw)) }()
		pw.CloseWithError(filterGlobals(mr, pw, s.User))
		mr.Close()
	}()
	defer pr.Close()
	argv := postgis.PsqlArgs(s, db, append([]string{"-v", "ON_ERROR_STOP=1", "-q"}, append(flags, "-f", "-")...)...)
	if err := e.Exec(ctx, id, argv, engine.ExecOptions{User: postgis.OSUser, Stdin: pr, Stderr: io.Discard}); err != nil {
		return fmt.Errorf("restore %s: %w", filepath.Base(path), err)
	}
	fmt.Fprintf(e.Err, "osgs: loaded %s\n", filepath.Base(path))
	return nil
}

// restoreGlobals replays roles and tablespaces. The current superuser's own
// lines are skipped (its password is the one in .env), and CREATE ROLE of a
// role that exists is tolerated, so the script runs with ON_ERROR_STOP.
func restoreGlobals(ctx context.Context, e *engine.Engine, id, path string) error {
	r, err := openDecompressed(e, path)
	if err != nil {
		return err
	}
	defer r.Close()
	s := postgis.Load(e)
	g := guarded(r)
	defer g.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(filterGlobals(g, pw, s.User)) }()
	argv := postgis.PsqlArgs(s, "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-f", "-")
	if err := e.Exec(ctx, id, argv, engine.ExecOptions{User: postgis.OSUser, Stdin: pr, Stderr: e.Err}); err != nil {
		pr.Close()
		return fmt.Errorf("restore roles: %w", err)
	}
	return nil
}

var createRole = regexp.MustCompile(`^CREATE ROLE ("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*);$`)

// filterGlobals rewrites a pg_dumpall --globals-only script for replay into
// a running cluster whose superuser is superuser.
func filterGlobals(r io.Reader, w io.Writer, superuser string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	bw := bufio.NewWriter(w)
	quoted := `"` + strings.ReplaceAll(superuser, `"`, `""`) + `"`
	for sc.Scan() {
		line := sc.Text()
		if m := createRole.FindStringSubmatch(line); m != nil {
			if m[1] == superuser || m[1] == quoted {
				continue
			}
			line = fmt.Sprintf("DO $osgs$BEGIN CREATE ROLE %s; EXCEPTION WHEN duplicate_object THEN NULL; END$osgs$;", m[1])
		} else if isSuperuserLine(line, superuser, quoted) {
			continue
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// isSuperuserLine reports a statement about the current superuser, which a
// running cluster must keep as it is (its password is the one in .env).
func isSuperuserLine(line, superuser, quoted string) bool {
	for _, name := range []string{superuser, quoted} {
		for _, prefix := range []string{"ALTER ROLE " + name + " ", "DROP ROLE " + name + ";", "DROP ROLE IF EXISTS " + name + ";", "COMMENT ON ROLE " + name + " "} {
			if strings.HasPrefix(line, prefix) {
				return true
			}
		}
	}
	return false
}

// queryIn runs one statement with psql in container id and returns its
// unaligned output.
func queryIn(ctx context.Context, e *engine.Engine, id, db, sql string) (string, error) {
	var out strings.Builder
	argv := postgis.PsqlArgs(postgis.Load(e), db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)
	if err := e.Exec(ctx, id, argv, engine.ExecOptions{User: postgis.OSUser, Stdout: &out}); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

// restoreDump streams a .dump.zst into pg_restore --single-transaction
// --exit-on-error, into a new database that replaces db only once it loaded.
func restoreDump(ctx context.Context, e *engine.Engine, id, path, db string) error {
	d, err := newDumper(ctx, e, id)
	if err != nil {
		return err
	}
	s := postgis.Load(e)
	if err := checkDump(e, path); err != nil {
		return err
	}
	return replaceDatabase(ctx, e, id, db, func(tmp string) error {
		r, err := openDecompressed(e, path)
		if err != nil {
			return err
		}
		defer r.Close()
		argv := []string{"pg_restore", "-h", postgis.Socket, "-U", s.User, "-d", tmp, "--single-transaction", "--exit-on-error", "--no-password"}
		if err := d.feed(ctx, argv, ctxReader{ctx, zstdErrs{r}}); err != nil {
			return fmt.Errorf("restore database %s: %w", db, err)
		}
		return nil
	})
}

// zstdErrs names decoding errors as corruption.
type zstdErrs struct{ r io.Reader }

func (z zstdErrs) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && (errors.Is(err, zstd.ErrCRCMismatch) || strings.Contains(err.Error(), "zstd")) {
		err = fmt.Errorf("backup stream is corrupt: %w", err)
	}
	return n, err
}

func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func sqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

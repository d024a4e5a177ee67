package pgdump

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// dumpScript is what pg_dump and pg_dumpall write, with the constructs that
// look like commands inside literals, comments and COPY data.
const dumpScript = `--
-- PostgreSQL database dump
--
\restrict AbC123
SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;
/* a comment with \! id and /* nesting */ still a comment; \! id */
CREATE FUNCTION public.f(a text) RETURNS text
    LANGUAGE plpgsql
    AS $_$BEGIN RETURN a || '\! id'; -- \o |id
END$_$;
CREATE FUNCTION public.g() RETURNS integer LANGUAGE sql AS $$SELECT 1$$;
CREATE TABLE public.places (id integer, name text, "program" text, geom public.geometry(Point,4326));
COMMENT ON TABLE public.places IS 'places: COPY x TO PROGRAM ''id''; \! id';
SELECT E'it\'s \\! ok', $1$;
SET standard_conforming_strings = off;
SELECT 'it\' ; \! in a string --';
SET standard_conforming_strings = on;
COPY public.places (id, name, "program", geom) FROM stdin;
1	a\\! id	x	0101000020E6100000000000000000F03F0000000000000040
2	\! not a command, COPY data	;	\N
\.
SELECT pg_catalog.setval('public.s', 1, false);
ALTER DATABASE gis SET search_path TO '$user', 'public';
ALTER ROLE gis_reader SET statement_timeout TO '5s';
GRANT SELECT ON TABLE public.places TO gis_reader;
\connect gis
\connect -reuse-previous=on "dbname='my db'"
ALTER TABLE ONLY public.places ADD CONSTRAINT places_pkey PRIMARY KEY (id);
\unrestrict AbC123
--
-- PostgreSQL database dump complete
--
`

func TestGuardScriptPassesDumps(t *testing.T) {
	var out bytes.Buffer
	if err := GuardScript(strings.NewReader(dumpScript), &out); err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("\\restrict AbC123\n", "", "\\unrestrict AbC123\n", "").Replace(dumpScript)
	if out.String() != want {
		t.Errorf("the script changed:\n%s", out.String())
	}
	// Read a byte at a time, the same.
	out.Reset()
	if err := GuardScript(&oneByte{strings.NewReader(dumpScript)}, &out); err != nil || out.String() != want {
		t.Errorf("byte by byte: %v", err)
	}
}

type oneByte struct{ r *strings.Reader }

func (o *oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:1]) }

func TestGuardScriptRefuses(t *testing.T) {
	for _, s := range []string{
		"\\! id > /tmp/x\n",
		"SELECT 1;\n\\! id\n",
		"SELECT 1 \\g |id\n",
		"SELECT 1;\n\\o |id\nSELECT 1;\n",
		"\\copy t from program 'id'\n",
		"\\i /etc/passwd\n",
		"\\ir x.sql\n",
		"\\setenv PAGER id\n",
		"\\set x `id`\n",
		"\\.\n",
		"\\connect gis \\\\ \\! id\n",
		"\\connect \"dbname='x' host=evil.example.org\"\n",
		"\\c gis\n\\gexec\n",
		"COPY t TO PROGRAM 'id';\n",
		"copy t from program 'id';\n",
		"COPY (SELECT 1) TO '/tmp/x';\n",
		"COPY t FROM '/etc/passwd';\n",
		"COPY t FROM stdin WITH (FORMAT binary);\n",
		"ALTER SYSTEM SET archive_command = 'id';\n",
		"alter\nsystem set x = 1;\n",
		"CREATE EXTENSION plpython3u;\n",
		"CREATE EXTENSION IF NOT EXISTS \"plperlu\";\n",
		"CREATE LANGUAGE plpythonu;\n",
		"CREATE FUNCTION f() RETURNS int LANGUAGE c AS '/tmp/x.so', 'f';\n",
		"CREATE FUNCTION f() RETURNS int AS 'x' LANGUAGE 'c';\n",
		"CREATE FUNCTION f() RETURNS int LANGUAGE \"plpython3u\" AS $$import os$$;\n",
		"SELECT lo_import('/etc/passwd');\n",
		"SELECT pg_catalog.pg_read_file('/etc/passwd');\n",
		"ALTER ROLE osgs SET session_preload_libraries = 'x';\n",
		"LOAD '/tmp/x.so';\n",
		"SET standard_conforming_strings = on;\nSELECT '\\' ; \\! id\n",
		"SELECT set_config('standard_conforming_strings', 'off', false);\n",
		"SET client_encoding = 'SJIS';\n",
		// psql reads COPY data from the next line, whatever follows the COPY.
		"COPY t FROM stdin; SELECT\n'\n\\.\n\\! id\n",
		"COPY t FROM stdin;\n1\n\\.\n\\! id\n",
		"SELECT 1; -- ok\n  \\!id\n",
	} {
		var out bytes.Buffer
		err := GuardScript(strings.NewReader(s), &out)
		var se *ScriptError
		if !errors.As(err, &se) {
			t.Errorf("%q accepted (%v)", s, err)
			continue
		}
		if strings.Contains(out.String(), "\\!") {
			t.Errorf("%q: the refused command was written: %q", s, out.String())
		}
	}
}

// FuzzGuardScript: no script crashes or hangs the lexer, and one it passes
// comes out as it went in, less \restrict lines, whatever the reads' size.
func FuzzGuardScript(f *testing.F) {
	f.Add(dumpScript)
	f.Add("COPY t FROM stdin;\n1\n\\.\n")
	f.Add("SELECT $a$ \\! $a$;\n")
	f.Fuzz(func(t *testing.T, s string) {
		var a, b bytes.Buffer
		errA := GuardScript(strings.NewReader(s), &a)
		errB := GuardScript(&oneByte{strings.NewReader(s)}, &b)
		if (errA == nil) != (errB == nil) || a.String() != b.String() {
			t.Fatalf("chunking changed the result: %v / %v", errA, errB)
		}
		if errA == nil && a.Len() > len(s) {
			t.Fatalf("the output grew")
		}
	})
}

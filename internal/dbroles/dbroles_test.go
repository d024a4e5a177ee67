package dbroles

import (
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
)

func TestForService(t *testing.T) {
	svc := catalog.Service{Name: "qgis-server", DBRole: &catalog.DBRole{Name: "qgis_server", Password: "PW", Schemas: "SCHEMAS", Write: "WRITE"}}
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     *Grant
		err      string
	}{
		{"read-only by default", map[string]string{"PW": "abc", "SCHEMAS": "public", "POSTGRES_USER": "osgs"},
			&Grant{Role: "qgis_server", Password: "abc", Schemas: []string{"public"}, Superuser: "osgs"}, ""},
		{"writes when the setting says so", map[string]string{"PW": "abc", "SCHEMAS": " public, data ", "WRITE": "TRUE", "POSTGRES_USER": "osgs"},
			&Grant{Role: "qgis_server", Password: "abc", Schemas: []string{"public", "data"}, Write: true, Superuser: "osgs"}, ""},
		{"no password", map[string]string{"SCHEMAS": "public"}, nil, "password"},
		{"a quote in the password", map[string]string{"PW": "a'b", "SCHEMAS": "public"}, nil, "password"},
		{"no schema", map[string]string{"PW": "abc", "SCHEMAS": " , "}, nil, "no schema"},
		{"an injected schema", map[string]string{"PW": "abc", "SCHEMAS": "public; DROP TABLE x"}, nil, "plain SQL name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ForService(svc, tc.settings)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || g.Role != tc.want.Role || g.Password != tc.want.Password || strings.Join(g.Schemas, ",") != strings.Join(tc.want.Schemas, ",") || g.Write != tc.want.Write || g.Superuser != tc.want.Superuser {
				t.Fatalf("got %+v %v, want %+v", g, err, tc.want)
			}
		})
	}
	if g, err := ForService(catalog.Service{Name: "hugo"}, nil); g != nil || err != nil {
		t.Fatalf("a service without a role: %v %v", g, err)
	}
}

func TestDatabaseSQL(t *testing.T) {
	g := &Grant{Role: "qgis_server", Password: "abc", Schemas: []string{"public"}, Superuser: "osgs"}
	ro := g.DatabaseSQL("gis")
	for _, want := range []string{`GRANT CONNECT ON DATABASE "gis" TO qgis_server;`, `GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO qgis_server`,
		`ALTER DEFAULT PRIVILEGES FOR ROLE "osgs" IN SCHEMA "public" GRANT SELECT ON TABLES TO qgis_server`, `REVOKE INSERT, UPDATE, DELETE, TRUNCATE`} {
		if !strings.Contains(ro, want) {
			t.Errorf("read-only script lacks %q", want)
		}
	}
	if strings.Contains(ro, "GRANT INSERT") {
		t.Error("a read-only role is granted INSERT")
	}
	g.Write = true
	if rw := g.DatabaseSQL("gis"); !strings.Contains(rw, "GRANT INSERT, UPDATE, DELETE ON ALL TABLES") || strings.Contains(rw, "REVOKE") {
		t.Error("the writing role's script")
	}
	if strings.Contains(ro, "CREATE SCHEMA") {
		t.Error("a role without create: makes its schemas")
	}
	g.Create = true
	if c := g.DatabaseSQL("gis"); !strings.Contains(c, `CREATE SCHEMA IF NOT EXISTS "public" AUTHORIZATION "osgs";`) ||
		strings.Index(c, "CREATE SCHEMA") > strings.Index(c, "GRANT USAGE") {
		t.Errorf("a role with create: must make its schema before the grants:\n%s", c)
	}
	if r := g.RoleSQL(); strings.Contains(r, "SUPERUSER ") && !strings.Contains(r, "NOSUPERUSER") {
		t.Error(r)
	}
}

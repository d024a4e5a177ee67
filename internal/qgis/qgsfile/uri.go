package qgsfile

import (
	"strings"
	"unicode"
)

// URI is a data source as QgsDataSourceUri reads it: the key='value' form
// of the postgres, postgresraster and spatialite providers. Keys holds every
// key=value pair in order (a repeated key's last value wins, as in QGIS);
// Table, Schema and SQL are the parts QGIS reads in a form of their own.
type URI struct {
	Keys   map[string]string
	Order  []string
	Schema string
	Table  string
	Geom   string
	SQL    string
}

// ParseURI reads s exactly as QgsDataSourceUri's constructor does (QGIS
// 3.22 to 3.40, src/core/qgsdatasourceuri.cpp): blanks separate pairs, a
// key ends at '=' or a blank, a value is quoted with ' or " (a backslash
// escapes the quote and itself) or runs to the next blank, "table=" takes
// "schema"."table" (geom), and "sql=" takes the rest. QGIS keeps
// "username" as "user"; so does ParseURI.
func ParseURI(s string) URI {
	u := URI{Keys: map[string]string{}}
	r := []rune(s)
	i := 0
	for i < len(r) {
		skipBlanks(r, &i)
		if i < len(r) && r[i] == '=' {
			i++
			continue
		}
		start := i
		for i < len(r) && r[i] != '=' && !isSpace(r[i]) {
			i++
		}
		name := string(r[start:i])
		skipBlanks(r, &i)
		if i == len(r) || r[i] != '=' {
			continue
		}
		i++
		if name == "sql" {
			skipBlanks(r, &i)
			u.SQL = string(r[i:])
			break
		}
		val := getValue(r, &i)
		if name == "table" {
			u.Table = val
			if i < len(r) && r[i] == '.' {
				i++
				u.Schema, u.Table = val, getValue(r, &i)
			}
			if i < len(r) && r[i] == '(' {
				i++
				start := i
				for i < len(r) && r[i] != ')' {
					if r[i] == '\\' {
						i++
					}
					i++
				}
				u.Geom = string(r[start:min(i, len(r))])
				i++
			}
			continue
		}
		if name == "username" {
			name = "user"
		}
		if _, ok := u.Keys[name]; !ok {
			u.Order = append(u.Order, name)
		}
		u.Keys[name] = val
	}
	return u
}

// isSpace is QChar::isSpace: Unicode's separators and the ASCII blanks.
func isSpace(c rune) bool {
	return unicode.IsSpace(c) || unicode.In(c, unicode.Zs, unicode.Zl, unicode.Zp)
}

func skipBlanks(r []rune, i *int) {
	for *i < len(r) && isSpace(r[*i]) {
		*i++
	}
}

// getValue is QgsDataSourceUri::getValue.
func getValue(r []rune, i *int) string {
	skipBlanks(r, i)
	var v strings.Builder
	if *i < len(r) && (r[*i] == '\'' || r[*i] == '"') {
		delim := r[*i]
		*i++
		for {
			if *i >= len(r) {
				return v.String()
			}
			if r[*i] == '\\' {
				*i++
				if *i == len(r) {
					continue
				}
				if r[*i] != delim && r[*i] != '\\' {
					*i--
				}
			} else if r[*i] == delim {
				*i++
				break
			}
			v.WriteRune(r[*i])
			*i++
		}
	} else {
		for *i < len(r) {
			if isSpace(r[*i]) {
				break
			}
			if r[*i] == '\\' {
				*i++
				if *i == len(r) {
					break
				}
				if r[*i] != '\\' && r[*i] != '\'' {
					*i--
				}
			}
			v.WriteRune(r[*i])
			*i++
		}
	}
	skipBlanks(r, i)
	return v.String()
}

package envfile

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// roundTripSeeds are values that broke or could break quoting: both quote
// kinds with $ (a rewrite used to double every $), backslashes before
// quotes, trailing backslashes, control characters and odd spaces.
var roundTripSeeds = []string{
	"", "plain", "a b", "it's $HOME", `a'b$c"d\e`, `x\`, `\'`, `\"`, "$$", `\$`, "${X}", "a\nb", "a\r", "\tx",
	" lead", "trail ", "#hash", "a #b", "a=b", "`cmd`", "\u00a0nbsp", "\x00\x01", "é$'", `\0`, `\012`, "\"\"",
}

// FuzzRoundTrip checks that every value osgs writes reads back exactly,
// through osgs's parser and through compose-go's, which docker compose and
// the Compose SDK use on the same file; and that a second write is
// byte-identical to the first.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range roundTripSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) {
			t.Skip("values are text")
		}
		w := &File{}
		w.Set("K", v)
		w.Set("NEXT", "1")
		out := w.Bytes()
		g, err := Parse(".env", out)
		if err != nil {
			t.Fatalf("osgs cannot read its own %q: %v", out, err)
		}
		if got := g.Value("K"); got != v {
			t.Fatalf("osgs read %q back as %q (file %q)", v, got, out)
		}
		if again := g.Bytes(); string(again) != string(out) {
			t.Fatalf("a rewrite changed %q into %q", out, again)
		}
		m, err := dotenv.UnmarshalBytesWithLookup(out, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("compose cannot read %q: %v", out, err)
		}
		if m["K"] != v || m["NEXT"] != "1" {
			t.Fatalf("compose read %q back as %q, NEXT=%q (file %q)", v, m["K"], m["NEXT"], out)
		}
	})
}

// FuzzParse feeds arbitrary files to the parser: it must never panic, must
// never quote a line in its error, and what it accepts must survive a
// rewrite with the same values.
func FuzzParse(f *testing.F) {
	f.Add("# c\nA=1\nexport B = two words # note\nC='x # y'\nD=\"q\\\"uote\"\nE=\n")
	f.Add("A=\"a\\$b$$c\\\\\"\nB='\\'\n")
	f.Add("A='unterminated\n")
	f.Add("1A=2\n")
	f.Fuzz(func(t *testing.T, in string) {
		g, err := Parse(".env", []byte(in))
		if err != nil {
			for _, l := range strings.Split(in, "\n") {
				if len(l) > 12 && strings.Contains(err.Error(), l) {
					t.Fatalf("error quotes the line %q: %v", l, err)
				}
			}
			return
		}
		h, err := Parse(".env", g.Bytes())
		if err != nil {
			t.Fatalf("rewrite of an accepted file does not parse: %v", err)
		}
		for k, v := range g.Map() {
			if !utf8.ValidString(v) {
				continue
			}
			if h.Value(k) != v {
				t.Fatalf("%s: %q became %q after a rewrite", k, v, h.Value(k))
			}
		}
	})
}

// TestTempFileIsGitignored: the atomic writer's temporary .env must be
// covered by the checkout's .gitignore, so a crash never leaves a secret
// file that git would add.
func TestTempFileIsGitignored(t *testing.T) {
	gi, err := os.Open(filepath.Join("..", "..", ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer gi.Close()
	name := strings.Replace(TempPattern(".env"), "*", "1234567", 1)
	sc := bufio.NewScanner(gi)
	for sc.Scan() {
		p := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "/")
		if ok, _ := filepath.Match(p, name); ok && !strings.HasPrefix(p, "#") && !strings.HasPrefix(p, "!") {
			return
		}
	}
	t.Fatalf("%s is not covered by .gitignore", name)
}

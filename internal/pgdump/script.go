package pgdump

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// ScriptError is a construct a plain-SQL restore refuses, at its line.
type ScriptError struct {
	Line int
	What string
}

func (e *ScriptError) Error() string {
	return fmt.Sprintf("line %d: %s; a dump from pg_dump never holds it, and osgs will not run it as the superuser", e.Line, e.What)
}

// GuardScript copies a plain-SQL script (pg_dump's or pg_dumpall's) from r
// to w as psql would read it, and stops with a *ScriptError, before the
// construct reaches w, at the first thing a dump does not hold that would
// run a program or reach the server's files: a psql meta-command other than
// \connect to a database (pg_dumpall's) and \restrict/\unrestrict (which it
// drops: its own check replaces them), COPY other than FROM stdin (TO
// PROGRAM, to or from a file), ALTER SYSTEM, LOAD, a function or language
// in anything but SQL and PL/pgSQL, an untrusted language's extension, the
// server-file functions and the preload-library settings. It lexes as psql
// does: quotes, E” strings, dollar quotes, comments, parentheses, and the
// data of COPY FROM stdin up to \. are not read as commands.
//
// A superuser's PL/pgSQL can still build such a statement at run time
// (EXECUTE); only a set's signature (or the admin's trust in the file)
// covers that.
func GuardScript(r io.Reader, w io.Writer) error {
	s := &scriptLexer{r: bufio.NewReaderSize(r, 1<<16), w: bufio.NewWriterSize(w, 1<<16), line: 1, stdStrings: true}
	if err := s.run(); err != nil && err != errEnd {
		return err
	}
	if err := s.flushTail(); err != nil {
		return err
	}
	return s.w.Flush()
}

type scriptLexer struct {
	r          *bufio.Reader
	w          *bufio.Writer
	line       int
	unit       bytes.Buffer // the statement read so far, not yet written
	words      bytes.Buffer // its text outside literals, for the checks
	unitLine   int
	depth      int
	stdStrings bool
	copyData   bool // the next line starts COPY data
}

func (s *scriptLexer) run() error {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return s.eof(err)
		}
		if s.unit.Len() == 0 && s.words.Len() == 0 {
			s.unitLine = s.line
		}
		if err := s.step(c); err != nil {
			return err
		}
	}
}

// step reads one byte of SQL (not of COPY data).
func (s *scriptLexer) step(c byte) error {
	switch {
	case c == '\n':
		s.put(c)
		s.line++
		if s.copyData {
			// psql reads COPY data from the next line on, whatever
			// follows the COPY on its own line; a statement begun there
			// goes on after the data, and is checked when it ends.
			if _, err := s.w.Write(s.unit.Bytes()); err != nil {
				return err
			}
			s.unit.Reset()
			return s.readCopyData()
		}
	case c == '-' && s.peek() == '-':
		s.literal(c)
		return s.until('\n', false)
	case c == '/' && s.peek() == '*':
		return s.blockComment()
	case c == '\'':
		e := s.prevIsE()
		s.put(c)
		return s.quoted('\'', e || !s.stdStrings)
	case c == '"':
		s.put(c)
		return s.quoted('"', false)
	case c == '$' && !identByte(s.prev()):
		return s.dollar()
	case c == '\\':
		return s.meta()
	case c == '(':
		s.depth++
		s.put(c)
	case c == ')':
		s.depth = max(s.depth-1, 0)
		s.put(c)
	case c == ';' && s.depth == 0:
		s.put(c)
		return s.endStatement()
	default:
		s.put(c)
	}
	return nil
}

func (s *scriptLexer) put(c byte) {
	s.unit.WriteByte(c)
	s.words.WriteByte(c)
}

func (s *scriptLexer) peek() byte {
	b, err := s.r.Peek(1)
	if err != nil {
		return 0
	}
	return b[0]
}

func (s *scriptLexer) prev() byte {
	b := s.words.Bytes()
	if len(b) == 0 {
		return ' '
	}
	return b[len(b)-1]
}

// prevIsE: the quote opens an E” string (E or e right before it, not the
// end of a longer word).
func (s *scriptLexer) prevIsE() bool {
	b := s.words.Bytes()
	n := len(b)
	return n > 0 && (b[n-1] == 'E' || b[n-1] == 'e') && (n == 1 || !identByte(b[n-2]))
}

func identByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// literal copies a byte of a literal: into the statement, not its words.
func (s *scriptLexer) literal(c byte) {
	s.unit.WriteByte(c)
	if c == '\n' {
		s.line++
	}
}

// until copies a comment to (and with) the end byte; keep says whether it
// stays in the statement's words.
func (s *scriptLexer) until(end byte, keep bool) error {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return s.eof(err)
		}
		if c == end {
			s.put(c)
			if c == '\n' {
				s.line++
			}
			return nil
		}
		if keep {
			s.put(c)
		} else {
			s.literal(c)
		}
	}
}

func (s *scriptLexer) blockComment() error {
	s.literal('/')
	depth := 0
	prev := byte('/')
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return s.eof(err)
		}
		s.literal(c)
		switch {
		case prev == '/' && c == '*':
			depth++
			c = 0
		case prev == '*' && c == '/':
			depth--
			if depth == 0 {
				s.words.WriteByte(' ')
				return nil
			}
			c = 0
		}
		prev = c
	}
}

// quoted copies a quoted literal or identifier; backslash says whether a
// backslash escapes the next byte (E” strings, or standard_conforming_strings off).
func (s *scriptLexer) quoted(q byte, backslash bool) error {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return s.eof(err)
		}
		s.literal(c)
		switch {
		case backslash && c == '\\':
			n, err := s.r.ReadByte()
			if err != nil {
				return s.eof(err)
			}
			s.literal(n)
		case c == q && s.peek() == q:
			n, _ := s.r.ReadByte()
			s.literal(n)
			if q == '"' {
				s.words.WriteByte(c)
			}
		case c == q:
			s.words.WriteString(string(q) + string(q))
			return nil
		case q == '"':
			s.words.WriteByte(c) // an identifier's name is checked; a string's text is not
		}
	}
}

var dollarTag = regexp.MustCompile(`^\$([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$`)

// dollar copies a dollar-quoted string ($$...$$, $tag$...$tag$); a $ that
// opens none ($1) is an ordinary byte.
func (s *scriptLexer) dollar() error {
	head, _ := s.r.Peek(64)
	tag := dollarTag.Find(append([]byte{'$'}, head...))
	if tag == nil {
		s.put('$')
		return nil
	}
	s.r.Discard(len(tag) - 1)
	s.unit.Write(tag)
	s.words.WriteString(" $$ ")
	var body []byte
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return s.eof(err)
		}
		s.literal(c)
		body = append(body, c)
		if c == '$' && bytes.HasSuffix(body, tag) {
			return nil
		}
		if len(body) > 4096 {
			body = body[len(body)-len(tag):]
		}
	}
}

// errEnd stops the lexer at the end of its input.
var errEnd = fmt.Errorf("end of script")

func (s *scriptLexer) eof(err error) error {
	if err == io.EOF {
		return errEnd
	}
	return err
}

// flushTail writes what is left after the last statement (comments,
// blanks, or a last statement psql would run at the end of its input).
func (s *scriptLexer) flushTail() error {
	if strings.TrimSpace(s.words.String()) != "" {
		if err := s.check(); err != nil {
			return err
		}
	}
	_, err := s.w.Write(s.unit.Bytes())
	s.unit.Reset()
	s.words.Reset()
	return err
}

// connectRE is the \connect pg_dumpall writes: a database by name, or
// -reuse-previous=on "dbname='name'".
var connectRE = regexp.MustCompile(`^\\(connect|c)[ \t]+(-reuse-previous=on[ \t]+"dbname='(?:[^'"\\]|'')*'"|"(?:[^"\\=]|"")*"|[A-Za-z0-9_.-]+)(?:[ \t]+-)?[ \t]*\r?$`)

// restrictRE is newer pg_dump's \restrict and \unrestrict.
var restrictRE = regexp.MustCompile(`^\\(un)?restrict[ \t]+[A-Za-z0-9]+[ \t]*\r?$`)

// meta reads a psql meta-command, from its backslash to the end of its
// line: a \connect to a database is written, \restrict and \unrestrict
// are dropped, anything else is refused.
func (s *scriptLexer) meta() error {
	line := []byte{'\\'}
	end := ""
	for {
		c, err := s.r.ReadByte()
		if err != nil && err != io.EOF {
			return err
		}
		if err == io.EOF {
			break
		}
		if c == '\n' {
			end = "\n"
			break
		}
		line = append(line, c)
	}
	cmd := string(line)
	blank := strings.TrimSpace(s.words.String()) == ""
	switch {
	case restrictRE.MatchString(cmd) && blank:
	case connectRE.MatchString(cmd) && blank:
		s.unit.WriteString(cmd + end)
		s.stdStrings = true
	default:
		name, _, _ := strings.Cut(cmd, " ")
		return &ScriptError{Line: s.line, What: fmt.Sprintf("the psql meta-command %.40q", name)}
	}
	s.line++
	if err := s.write(); err != nil {
		return err
	}
	if s.copyData {
		return s.readCopyData()
	}
	return nil
}

func (s *scriptLexer) write() error {
	_, err := s.w.Write(s.unit.Bytes())
	s.unit.Reset()
	s.words.Reset()
	return err
}

var (
	copyRE       = regexp.MustCompile(`^COPY\b`)
	fromStdinRE  = regexp.MustCompile(`\bFROM\s+STDIN\b`)
	stdStringsRE = regexp.MustCompile(`(?i)^\s*SET\s+(SESSION\s+)?STANDARD_CONFORMING_STRINGS\s*(=|TO)\s*'?(ON|OFF|TRUE|FALSE)'?\s*;`)
	encodingRE   = regexp.MustCompile(`(?i)\bCLIENT_ENCODING\s*(=|TO)\s*'?([A-Z0-9_]+)`)
	langRE       = regexp.MustCompile(`\bLANGUAGE\s+("?[A-Z0-9_]+"?|'')`)
	extensionRE  = regexp.MustCompile(`\bCREATE\s+EXTENSION\s+(IF\s+NOT\s+EXISTS\s+)?"?([A-Z0-9_-]+)`)
)

// copyRefusedRE are what a COPY statement may not hold.
var copyRefusedRE = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`\b(FROM|TO)\s+PROGRAM\b`), "COPY with PROGRAM"},
	{regexp.MustCompile(`\b(FROM|TO)\s+'`), "COPY to or from a server file"},
	{regexp.MustCompile(`\bBINARY\b|\bFORMAT\s+"?BINARY`), "COPY in binary format"},
}

// refusedRE are statements and names a dump never holds that run a
// program, load a library or reach the server's files.
var refusedRE = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`\bALTER\s+SYSTEM\b`), "ALTER SYSTEM"},
	{regexp.MustCompile(`^LOAD\b`), "LOAD of a library"},
	{regexp.MustCompile(`\bCREATE\s+(OR\s+REPLACE\s+)?(TRUSTED\s+)?(PROCEDURAL\s+)?LANGUAGE\b`), "CREATE LANGUAGE"},
	{regexp.MustCompile(`\b(LO_IMPORT|LO_EXPORT|PG_READ_FILE|PG_READ_BINARY_FILE|PG_LS_DIR|PG_FILE_WRITE|PG_FILE_RENAME|PG_FILE_UNLINK|PG_LOGDIR_LS|PG_FILE_SYNC|DBLINK_CONNECT_U)\b`), "a function that reads or writes the server's files"},
	{regexp.MustCompile(`\b(SHARED|SESSION|LOCAL)_PRELOAD_LIBRARIES\b|\b(DYNAMIC_LIBRARY_PATH|ARCHIVE_COMMAND|RESTORE_COMMAND|ARCHIVE_LIBRARY|SSL_PASSPHRASE_COMMAND)\b`), "a setting that loads a library or runs a program"},
}

// untrusted are extensions that run programs or reach the server's files.
var untrusted = map[string]bool{"PLPYTHON3U": true, "PLPYTHONU": true, "PLPYTHON2U": true, "PLPERLU": true, "PLTCLU": true, "PLSH": true, "FILE_FDW": true, "ADMINPACK": true, "PG_EXECUTE_SERVER_PROGRAM": true}

// endStatement checks the statement that a ';' ended and writes it.
func (s *scriptLexer) endStatement() error {
	if err := s.check(); err != nil {
		return err
	}
	w := strings.Join(strings.Fields(strings.ToUpper(s.words.String())), " ")
	if copyRE.MatchString(w) && fromStdinRE.MatchString(w) {
		s.copyData = true
	}
	return s.write()
}

// check refuses the statement read so far if it holds what a dump never
// does (refusedRE, languages, extensions, string-lexing settings).
func (s *scriptLexer) check() error {
	w := strings.Join(strings.Fields(strings.ToUpper(s.words.String())), " ")
	refuse := func(what string) error { return &ScriptError{Line: s.unitLine, What: what} }
	if copyRE.MatchString(w) {
		for _, r := range copyRefusedRE {
			if r.re.MatchString(w) {
				return refuse(r.what)
			}
		}
		if !fromStdinRE.MatchString(w) {
			return refuse("COPY other than FROM stdin")
		}
	}
	for _, r := range refusedRE {
		if r.re.MatchString(w) {
			return refuse(r.what)
		}
	}
	if m := langRE.FindStringSubmatch(w); m != nil {
		if l := strings.Trim(m[1], `"`); l != "SQL" && l != "PLPGSQL" {
			return refuse("a function in language " + strings.ToLower(l))
		}
	}
	if m := extensionRE.FindStringSubmatch(w); m != nil && untrusted[m[2]] {
		return refuse("the extension " + strings.ToLower(m[2]))
	}
	raw := s.unit.String()
	if strings.Contains(strings.ToUpper(raw), "STANDARD_CONFORMING_STRINGS") {
		m := stdStringsRE.FindStringSubmatch(strings.TrimSpace(raw))
		if m == nil {
			return refuse("a change of standard_conforming_strings other than SET")
		}
		v := strings.ToUpper(m[3])
		s.stdStrings = v == "ON" || v == "TRUE"
	}
	if m := encodingRE.FindStringSubmatch(raw); m != nil {
		switch strings.ToUpper(m[2]) {
		case "SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "GB18030", "UHC", "JOHAB", "WIN932", "WIN936", "WIN949", "WIN950":
			return refuse("client_encoding " + m[2] + " (a byte of a character can look like a quote or a backslash)")
		}
	}
	return nil
}

// readCopyData writes COPY data through, line by line, up to and with its
// end marker \. (or the end of the input).
func (s *scriptLexer) readCopyData() error {
	s.copyData = false
	start := true
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(chunk) > 0 {
			end := start && (bytes.Equal(chunk, []byte("\\.\n")) || bytes.Equal(chunk, []byte("\\.\r\n")) || (err == io.EOF && bytes.Equal(chunk, []byte("\\."))))
			if _, werr := s.w.Write(chunk); werr != nil {
				return werr
			}
			start = chunk[len(chunk)-1] == '\n'
			if start {
				s.line++
			}
			if end {
				return nil
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			start = false
		case err != nil:
			return s.eof(err)
		}
	}
}

// Package haproxycfg reads HAProxy's configuration language and converts it
// to strata's YAML configuration: the engine of `strata import`.
//
// Parse follows section 2 of HAProxy's configuration manual (2.6): lines cut
// into words with weak ("…") and strong ('…') quoting and backslash escapes,
// environment variables expanded inside double quotes ("$VAR", "${VAR}",
// "${VAR-default}", "${VAR[*]}" and the pseudo-variables .FILE, .LINE and
// .SECTION), conditional blocks (.if/.elif/.else/.endif with defined(),
// feature(), streq(), strneq(), version_atleast(), version_before(), !, &&,
// || and parentheses) and the .diag/.notice/.warning/.alert messages, then
// grouped into sections. Convert turns the sections into strata's
// configuration and a Report of everything it could not express.
//
// # Why is the package under cmd/strata and not core/config?
//
// The importer is a tool of the command, not a part of the engine: nothing
// that serves traffic needs it. Living beside the command, its tests may
// also run the very validation `strata check` runs (cmd/strata/internal/assemble), which
// a package under core may not import.
//
// # Why does a trailing backslash continue a line?
//
// HAProxy 2.6 has no line continuation: it keeps a trailing backslash as a
// character. A backslash at the very end of a line is nevertheless far more
// likely to be meant as a continuation (shell habit, or a later HAProxy),
// so strata joins the next line to it and says so in the report.
package haproxycfg

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Line is one logical line of a section: a keyword and its arguments, after
// quoting, escaping and expansion.
type Line struct {
	Num   int      // number of its first physical line, from 1
	Words []string // never empty
	// Comment holds the comment lines just before it and the comment at
	// its end, without '#', one per line; the converter carries them over.
	Comment string
}

// Section is one section: its header and its lines, in file order.
type Section struct {
	Kind    string // global, defaults, frontend, backend, listen, userlist, resolvers, peers, …
	Name    string // "" for global and an unnamed defaults
	From    string // `from NAME`: the defaults section it takes its settings from
	Line    int    // line of the header
	Comment string // as Line.Comment, for the header
	Lines   []Line
}

// Message is something the parser or converter says about a line.
type Message struct {
	Line  int
	Level string // diag, notice, warning (from the file's own directives) or note
	Text  string
}

// File is a parsed configuration.
type File struct {
	Sections []*Section
	Messages []Message // .diag, .notice and .warning directives met, and parser notes
}

// Options tune Parse.
type Options struct {
	// Name is the file name, for .FILE and messages.
	Name string
	// LookupEnv reads environment variables; nil reads the process's.
	LookupEnv func(string) (string, bool)
	// Version is the HAProxy version that version_atleast and
	// version_before compare with; default "2.6".
	Version string
	// Features are those feature() reports as present; nil means
	// DefaultFeatures.
	Features []string
	// FileDir, when set, makes relative certificate and CA file names
	// absolute, joined to it: the directory HAProxy reads them from (its
	// current directory, unless the global section's default-path says
	// otherwise). Set it when the YAML is written elsewhere, since strata
	// reads relative names from its configuration file's directory.
	FileDir string
}

// DefaultFeatures are the features of a usual HAProxy 2.6 build.
var DefaultFeatures = []string{"OPENSSL", "PCRE2", "ZLIB", "LUA", "PROMEX", "LINUX_SPLICE", "TPROXY", "CPU_AFFINITY", "GETADDRINFO"}

// ParseError lists the syntax errors of a file, each with its line.
type ParseError struct {
	List []LineError
}

// LineError is one syntax error.
type LineError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	for i, le := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "line %d: %s", le.Line, le.Msg)
	}
	return b.String()
}

// sectionKinds are the section keywords of HAProxy 2.6. Those the converter
// does not know are kept, and reported by it.
var sectionKinds = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"userlist": true, "resolvers": true, "peers": true, "program": true, "cache": true,
	"http-errors": true, "ring": true, "mailers": true, "log-forward": true, "fcgi-app": true,
}

// namedProxy are the sections whose header is NAME [from DEFAULTS].
var namedProxy = map[string]bool{"frontend": true, "backend": true, "listen": true, "defaults": true}

// maxLineErrors stops a binary file from producing a flood of errors.
const maxLineErrors = 50

// Parse reads a configuration. On a syntax error it returns a *ParseError
// listing every error found (at most 50) and no File.
func Parse(src []byte, opt Options) (*File, error) {
	p := &parser{opt: opt, f: &File{}}
	if p.opt.LookupEnv == nil {
		p.opt.LookupEnv = os.LookupEnv
	}
	if p.opt.Version == "" {
		p.opt.Version = "2.6"
	}
	if p.opt.Features == nil {
		p.opt.Features = DefaultFeatures
	}
	p.run(src)
	if len(p.errs) > 0 {
		return nil, &ParseError{List: p.errs}
	}
	return p.f, nil
}

type parser struct {
	opt     Options
	comment string   // the comment split met last, "" when none
	pending []string // comment lines waiting for the next line
	f       *File
	errs    []LineError
	cur     *Section
	cond    []condFrame
}

func (p *parser) errorf(line int, format string, args ...any) {
	if len(p.errs) < maxLineErrors {
		p.errs = append(p.errs, LineError{line, fmt.Sprintf(format, args...)})
	}
}

func (p *parser) run(src []byte) {
	lines := bytes.Split(src, []byte("\n"))
	for i := 0; i < len(lines); i++ {
		num := i + 1
		text := strings.TrimSuffix(string(lines[i]), "\r")
		var words []string
		var err error
		for {
			var more bool
			words, more, err = p.split(text, num)
			if !more || i+1 >= len(lines) {
				break
			}
			// A backslash ends the line: join the next one (see the
			// package documentation).
			i++
			p.note(num, "line continued on the next one with a trailing backslash; HAProxy 2.6 would keep the backslash")
			text = text[:len(text)-1] + strings.TrimSuffix(string(lines[i]), "\r")
		}
		if err != nil {
			p.errorf(num, "%v", err)
			continue
		}
		if len(words) == 0 {
			if p.comment != "" && p.active() {
				p.pending = append(p.pending, p.comment)
			}
			continue
		}
		comment := append(p.pending, p.comment)
		p.pending = nil
		p.line(num, words, strings.TrimSpace(strings.Join(comment, "\n")))
	}
	if n := len(p.cond); n > 0 {
		p.errorf(p.cond[n-1].line, ".if without .endif")
	}
}

func (p *parser) note(line int, text string) {
	p.f.Messages = append(p.f.Messages, Message{Line: line, Level: "note", Text: text})
}

// active reports whether lines are currently taken (not in a false branch).
func (p *parser) active() bool {
	n := len(p.cond)
	return n == 0 || p.cond[n-1].taking
}

func (p *parser) line(num int, words []string, comment string) {
	if strings.HasPrefix(words[0], ".") && p.directive(num, words) {
		return
	}
	if !p.active() {
		return
	}
	kw := words[0]
	if sectionKinds[kw] {
		p.section(num, words, comment)
		return
	}
	if p.cur == nil {
		p.errorf(num, "%q outside any section: start one with global, defaults, frontend, backend or listen", kw)
		return
	}
	p.cur.Lines = append(p.cur.Lines, Line{Num: num, Words: words, Comment: comment})
}

func (p *parser) section(num int, words []string, comment string) {
	s := &Section{Kind: words[0], Line: num, Comment: comment}
	args := words[1:]
	if namedProxy[s.Kind] {
		if len(args) >= 2 && args[len(args)-2] == "from" {
			s.From = args[len(args)-1]
			args = args[:len(args)-2]
		}
		if len(args) > 1 {
			p.errorf(num, "%s takes a name and optionally `from DEFAULTS`, got %q", s.Kind, strings.Join(words[1:], " "))
			return
		}
	}
	if len(args) > 0 {
		s.Name = args[0]
	}
	if s.Name == "" && s.Kind != "global" && s.Kind != "defaults" {
		p.errorf(num, "%s needs a name", s.Kind)
		return
	}
	p.cur = s
	p.f.Sections = append(p.f.Sections, s)
}

// directive handles a line starting with '.'; false when it is none of the
// directives (it is then an ordinary keyword).
func (p *parser) directive(num int, words []string) bool {
	arg := strings.Join(words[1:], " ")
	switch words[0] {
	case ".if":
		f := condFrame{line: num, parent: p.active()}
		if f.parent {
			f.taking = p.eval(num, words[1:])
			f.done = f.taking
		}
		p.cond = append(p.cond, f)
	case ".elif", ".else":
		n := len(p.cond)
		if n == 0 {
			p.errorf(num, "%s without .if", words[0])
			return true
		}
		f := &p.cond[n-1]
		if f.sawElse {
			p.errorf(num, "%s after .else", words[0])
			return true
		}
		if words[0] == ".else" {
			f.sawElse = true
			if len(words) > 1 {
				p.errorf(num, ".else takes no argument")
			}
			f.taking = f.parent && !f.done
		} else {
			f.taking = f.parent && !f.done && p.eval(num, words[1:])
		}
		f.done = f.done || f.taking
	case ".endif":
		if len(p.cond) == 0 {
			p.errorf(num, ".endif without .if")
			return true
		}
		p.cond = p.cond[:len(p.cond)-1]
	case ".diag", ".notice", ".warning":
		if p.active() {
			p.f.Messages = append(p.f.Messages, Message{Line: num, Level: words[0][1:], Text: arg})
		}
	case ".alert":
		if p.active() {
			p.errorf(num, "alert: %s", arg)
		}
	default:
		return false
	}
	return true
}

type condFrame struct {
	line    int  // of the .if
	parent  bool // the enclosing level takes lines
	taking  bool // the current branch takes lines
	done    bool // a branch of this level was taken
	sawElse bool
}

// split cuts one line into words (section 2.2 of the manual). more is true
// when the line ends with a backslash that continues it.
func (p *parser) split(s string, num int) (words []string, more bool, err error) {
	p.comment = ""
	var cur []byte
	inWord := false
	dq, sq := false, false
	flush := func() {
		if inWord {
			words = append(words, string(cur))
		}
		cur, inWord = nil, false
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case sq:
			if c == '\'' {
				sq = false
			} else {
				cur = append(cur, c)
			}
			i++
		case c == '\\':
			if i+1 == len(s) {
				if dq {
					return nil, false, fmt.Errorf("unterminated double quote")
				}
				return nil, true, nil
			}
			b, n, e := unescape(s[i:])
			if e != nil {
				return nil, false, e
			}
			cur = append(cur, b...)
			inWord = true
			i += n
		case c == '"':
			dq = !dq
			inWord = true
			i++
		case c == '\'' && !dq:
			sq = true
			inWord = true
			i++
		case c == '$' && dq:
			vals, n, e := p.expand(s[i:], num)
			if e != nil {
				return nil, false, e
			}
			for j, v := range vals {
				if j > 0 {
					flush()
				}
				cur = append(cur, v...)
				inWord = true
			}
			i += n
		case (c == ' ' || c == '\t') && !dq:
			flush()
			i++
		case c == '#' && !dq:
			flush()
			p.comment = cleanComment(s[i+1:])
			return words, false, nil
		default:
			cur = append(cur, c)
			inWord = true
			i++
		}
	}
	if sq {
		return nil, false, fmt.Errorf("unterminated single quote")
	}
	if dq {
		return nil, false, fmt.Errorf("unterminated double quote")
	}
	flush()
	return words, false, nil
}

// unescape reads the escape sequence at the start of s (s[0] is '\\') and
// returns the bytes it stands for and its length. An unknown sequence keeps
// the backslash, as HAProxy does, so that "\." and "\1" reach regular
// expressions intact.
func unescape(s string) ([]byte, int, error) {
	switch c := s[1]; c {
	case ' ', '\t', '#', '\\', '\'', '"', '$':
		return []byte{c}, 2, nil
	case 'n':
		return []byte{'\n'}, 2, nil
	case 'r':
		return []byte{'\r'}, 2, nil
	case 't':
		return []byte{'\t'}, 2, nil
	case 'x':
		if len(s) < 4 {
			return nil, 0, fmt.Errorf("truncated \\x sequence")
		}
		v, err := strconv.ParseUint(s[2:4], 16, 8)
		if err != nil {
			return nil, 0, fmt.Errorf("invalid \\x sequence %q: want two hexadecimal digits", s[:4])
		}
		return []byte{byte(v)}, 4, nil
	default:
		return []byte{'\\', c}, 2, nil
	}
}

// expand reads the variable reference at the start of s (s[0] is '$')
// inside double quotes, and returns its value: several values for
// "${VAR[*]}", which become separate words. A '$' not followed by a name is
// kept.
func (p *parser) expand(s string, num int) (vals []string, n int, err error) {
	if len(s) > 1 && s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return nil, 0, fmt.Errorf("unterminated ${ in %q", s)
		}
		body := s[2:end]
		name, def, hasDef := strings.Cut(body, "-")
		split := false
		if !hasDef {
			name, split = strings.CutSuffix(name, "[*]")
		}
		if !validVarName(name) {
			return nil, 0, fmt.Errorf("invalid variable name %q", name)
		}
		v, ok := p.lookup(name, num)
		if !ok && hasDef {
			v = def
		}
		if split {
			return strings.Fields(v), end + 1, nil
		}
		return []string{v}, end + 1, nil
	}
	j := 1
	if j < len(s) && s[j] == '.' {
		j++
	}
	for j < len(s) && isVarChar(s[j]) {
		j++
	}
	name := s[1:j]
	if !validVarName(name) {
		return []string{"$"}, 1, nil
	}
	v, _ := p.lookup(name, num)
	return []string{v}, j, nil
}

func (p *parser) lookup(name string, num int) (string, bool) {
	switch name {
	case ".FILE":
		return p.opt.Name, true
	case ".LINE":
		return strconv.Itoa(num), true
	case ".SECTION":
		if p.cur == nil {
			return "", true
		}
		if p.cur.Name == "" {
			return p.cur.Kind, true
		}
		return p.cur.Name, true
	}
	return p.opt.LookupEnv(name)
}

func isVarChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validVarName: letters, digits and '_', not starting with a digit; or a
// pseudo-variable, starting with '.'.
func validVarName(name string) bool {
	rest := strings.TrimPrefix(name, ".")
	if rest == "" || rest[0] >= '0' && rest[0] <= '9' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isVarChar(rest[i]) {
			return false
		}
	}
	return true
}

// cleanComment makes a comment safe to carry into YAML: valid UTF-8,
// control characters as spaces.
func cleanComment(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0xfeff {
			return ' '
		}
		return r
	}, s))
}

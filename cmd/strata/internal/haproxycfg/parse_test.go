package haproxycfg

import (
	"reflect"
	"strings"
	"testing"
)

var testEnv = map[string]string{
	"HOST":  "10.0.0.1",
	"PORT":  "8080",
	"EMPTY": "",
	"LIST":  "a b  c",
	"SSL":   "yes",
}

func lookupTestEnv(k string) (string, bool) {
	v, ok := testEnv[k]
	return v, ok
}

func parseTest(t *testing.T, src string) (*File, error) {
	t.Helper()
	return Parse([]byte(src), Options{Name: "test.cfg", LookupEnv: lookupTestEnv})
}

// TestParse_Words checks section 2.2 and 2.3 of HAProxy's manual: how one
// line is cut into words.
func TestParse_Words(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{"spaces and tabs", "a  b\tc", []string{"a", "b", "c"}},
		{"comment", "a b # c d", []string{"a", "b"}},
		{"hash inside a word starts a comment", "a b#c", []string{"a", "b"}},
		{"escaped space", `log-format %t\ %s`, []string{"log-format", "%t %s"}},
		{"escaped hash", `a \#b`, []string{"a", "#b"}},
		{"escaped backslash", `a \\b`, []string{"a", `\b`}},
		{"escaped quotes", `a \'b\"`, []string{"a", `'b"`}},
		{"control escapes", `a \n\r\t`, []string{"a", "\n\r\t"}},
		{"hex escape", `a \x41\x2f`, []string{"a", "A/"}},
		{"unknown escape kept for regexes", `a ^\.(\d+)\1`, []string{"a", `^\.(\d+)\1`}},
		{"double quotes group", `a "b c" d`, []string{"a", "b c", "d"}},
		{"double quotes keep hash and single quote", `a "b # 'c'"`, []string{"a", "b # 'c'"}},
		{"escape inside double quotes", `a "b \"c\" \$d"`, []string{"a", `b "c" $d`}},
		{"single quotes are verbatim", `a 'b \n "c" $HOST #'`, []string{"a", `b \n "c" $HOST #`}},
		{"quotes joined in one word", `log-format "%{+Q}o %t"' %s'\ %{-Q}r`, []string{"log-format", "%{+Q}o %t %s %{-Q}r"}},
		{"manual regsub, escaped quotes", `http-request set-path %[path,regsub(\"(foo|bar)\",blah,g)]`, []string{"http-request", "set-path", `%[path,regsub("(foo|bar)",blah,g)]`}},
		{"manual regsub, single quotes", `http-request set-path '%[path,regsub("^/(here)(/|$)","my/\1",g)]'`, []string{"http-request", "set-path", `%[path,regsub("^/(here)(/|$)","my/\1",g)]`}},
		{"empty quoted word kept", `a "" b`, []string{"a", "", "b"}},
		{"env in double quotes", `bind "${HOST}:$PORT"`, []string{"bind", "10.0.0.1:8080"}},
		{"env not expanded unquoted", `a $HOST`, []string{"a", "$HOST"}},
		{"env not expanded in single quotes", `a '${HOST}'`, []string{"a", "${HOST}"}},
		{"unset env is empty", `a "x${NOPE}y"`, []string{"a", "xy"}},
		{"default for unset", `a "${NOPE-127.0.0.1}:514"`, []string{"a", "127.0.0.1:514"}},
		{"default not used for empty", `a "${EMPTY-zz}"`, []string{"a", ""}},
		{"list expansion", `a "${LIST[*]}"`, []string{"a", "a", "b", "c"}},
		{"dollar without a name kept", `a "5$ $"`, []string{"a", "5$ $"}},
		{"pseudo variables", `a "${.FILE}:${.LINE}"`, []string{"a", "test.cfg:1"}},
		{"trailing spaces", "a b   ", []string{"a", "b"}},
		{"only a comment", "   # nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &parser{opt: Options{Name: "test.cfg", LookupEnv: lookupTestEnv}, f: &File{}}
			got, more, err := p.split(tt.line, 1)
			if err != nil || more {
				t.Fatalf("split(%q): more=%v err=%v", tt.line, more, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("split(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

// TestParse_Errors checks that malformed input is refused with its line.
func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"unterminated single quote", "global\n  a 'b\n", "line 2: unterminated single quote"},
		{"unterminated double quote", "global\n  a \"b\n", "line 2: unterminated double quote"},
		{"bad hex", "global\n  a \\xZZ\n", `line 2: invalid \x sequence "\\xZZ"`},
		{"truncated hex", "global\n  a \\x4\n", `line 2: truncated \x sequence`},
		{"unterminated brace", "global\n  a \"${HOST\"\n", "line 2: unterminated ${"},
		{"bad variable name", "global\n  a \"${1X}\"\n", `line 2: invalid variable name "1X"`},
		{"keyword outside a section", "maxconn 10\n", `line 1: "maxconn" outside any section`},
		{"frontend without name", "frontend\n", "line 1: frontend needs a name"},
		{"endif without if", "global\n.endif\n", "line 2: .endif without .if"},
		{"else without if", ".else\n", "line 1: .else without .if"},
		{"if without endif", ".if 1\nglobal\n", "line 1: .if without .endif"},
		{"elif after else", ".if 0\n.else\n.elif 1\n.endif\n", "line 3: .elif after .else"},
		{"unknown predicate", ".if nope(1)\n.endif\n", "line 1: condition \"nope(1)\": unknown predicate nope()"},
		{"garbage term", ".if yes\n.endif\n", `line 1: condition "yes": "yes" is neither an integer nor a predicate`},
		{"missing paren", ".if (1\n.endif\n", "line 1: condition \"(1\": missing )"},
		{"alert fails", ".alert \"SSL support is mandatory\"\n", "line 1: alert: SSL support is mandatory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseTest(t, tt.src)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", f)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestParse_Conditions checks .if/.elif/.else/.endif (section 2.4).
func TestParse_Conditions(t *testing.T) {
	tests := []struct {
		name string
		cond string
		want bool
	}{
		{"one", "1", true},
		{"zero", "0", false},
		{"empty string", `"${EMPTY}"`, false},
		{"unset variable", `"${NOPE}"`, false},
		{"non-empty number", `"${PORT}"`, true},
		{"defined", "defined(HOST)", true},
		{"defined empty", "defined(EMPTY)", true},
		{"not defined", "defined(NOPE)", false},
		{"negation", "!defined(NOPE)", true},
		{"streq", `streq("$SSL",yes)`, true},
		{"strneq", `strneq("$SSL",yes)`, false},
		{"feature", "feature(OPENSSL)", true},
		{"missing feature", "feature(QUIC)", false},
		{"version_atleast older", "version_atleast(2.4-dev19)", true},
		{"version_atleast same", "version_atleast(2.6)", true},
		{"version_atleast newer", "version_atleast(2.8)", false},
		{"version_atleast dev of same", "version_atleast(2.6-dev1)", true},
		{"version_before", "version_before(3.0)", true},
		{"version_before same", "version_before(2.6.0)", false},
		{"and binds tighter", "1 || 0 && 0", true},
		{"and", "1 && 0", false},
		{"parentheses", "(1 || 0) && 0", false},
		{"manual example", `feature(OPENSSL) && (streq("$SSL",yes) || streq("$SSL_ONLY",yes))`, true},
		{"negated group", "!(0 || 0)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "global\n.if " + tt.cond + "\n  maxconn 1\n.else\n  maxconn 2\n.endif\n"
			f, err := parseTest(t, src)
			if err != nil {
				t.Fatal(err)
			}
			got := f.Sections[0].Lines[0].Words[1] == "1"
			if got != tt.want {
				t.Errorf(".if %s took the %v branch, want %v", tt.cond, got, tt.want)
			}
		})
	}
}

// TestParse_NestedConditions: inner levels of a false branch are skipped
// whatever their conditions, .elif chains take the first true branch, and
// messages are kept only from taken branches.
func TestParse_NestedConditions(t *testing.T) {
	src := `global
.if 0
  .if 1
    maxconn 1
  .else
    maxconn 2
  .endif
  .alert "never reached"
.elif 0
  maxconn 3
.elif defined(HOST)
  .if 0
    maxconn 4
  .elif 1
    maxconn 5
    .notice "picked five"
  .elif 1
    maxconn 6
  .endif
.else
  maxconn 7
  .warning "not this one"
.endif
  .diag "done"
`
	f, err := parseTest(t, src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range f.Sections[0].Lines {
		got = append(got, strings.Join(l.Words, " "))
	}
	if want := []string{"maxconn 5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	want := []Message{{Line: 16, Level: "notice", Text: "picked five"}, {Line: 24, Level: "diag", Text: "done"}}
	if !reflect.DeepEqual(f.Messages, want) {
		t.Errorf("messages = %+v, want %+v", f.Messages, want)
	}
}

// TestParse_Sections checks section headers: names, `from`, line numbers.
func TestParse_Sections(t *testing.T) {
	src := `# a comment before anything
global
  daemon
defaults base
  mode http
defaults tcpish from base
frontend web from base
  bind :80
backend app
listen stats
userlist admins
resolvers dns
peers mypeers
`
	f, err := parseTest(t, src)
	if err != nil {
		t.Fatal(err)
	}
	type sec struct{ Kind, Name, From string }
	var got []sec
	for _, s := range f.Sections {
		got = append(got, sec{s.Kind, s.Name, s.From})
	}
	want := []sec{
		{"global", "", ""}, {"defaults", "base", ""}, {"defaults", "tcpish", "base"},
		{"frontend", "web", "base"}, {"backend", "app", ""}, {"listen", "stats", ""},
		{"userlist", "admins", ""}, {"resolvers", "dns", ""}, {"peers", "mypeers", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sections = %+v, want %+v", got, want)
	}
	if l := f.Sections[3].Lines[0]; l.Num != 8 || !reflect.DeepEqual(l.Words, []string{"bind", ":80"}) {
		t.Errorf("frontend line = %+v", l)
	}
}

// TestParse_Continuation: a trailing backslash joins the next line, with a
// note, since HAProxy 2.6 has no continuation; an escaped backslash at the
// end does not.
func TestParse_Continuation(t *testing.T) {
	f, err := parseTest(t, "global\n  log-format a \\\n b\n  x y\\\\\n")
	if err != nil {
		t.Fatal(err)
	}
	lines := f.Sections[0].Lines
	if len(lines) != 2 || !reflect.DeepEqual(lines[0].Words, []string{"log-format", "a", "b"}) || lines[0].Num != 2 {
		t.Fatalf("lines = %+v", lines)
	}
	if !reflect.DeepEqual(lines[1].Words, []string{"x", `y\`}) {
		t.Errorf("escaped backslash: %q", lines[1].Words)
	}
	if len(f.Messages) != 1 || f.Messages[0].Line != 2 || f.Messages[0].Level != "note" {
		t.Errorf("messages = %+v, want one note on line 2", f.Messages)
	}
}

// FuzzParse: Parse never panics, and a file it accepts has sections with
// non-empty lines whose numbers grow.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"global\n  maxconn 10\n",
		"frontend web\n  bind \"${HOST}:80\" ssl crt '/a b.pem'\n  acl x path_beg /a # c\n",
		".if defined(HOST) && (streq(\"$SSL\",yes) || 0)\nglobal\n.elif 1\n.else\n.endif\n",
		"defaults d from e\nbackend b\n  server s \\x41:1 check\n  log-format %t\\ %s\\\n x\n",
		"listen l\n  http-request set-path '%[path,regsub(\"^/(a)\",\"\\1\",g)]'\n.notice \"n\"\n",
		"global\n  a \"${LIST[*]}\" \"${X-d}\" \"$\" '\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, Options{LookupEnv: lookupTestEnv})
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		last := 0
		for _, s := range file.Sections {
			for _, l := range s.Lines {
				if len(l.Words) == 0 || l.Num <= last {
					t.Fatalf("line %+v after %d", l, last)
				}
				last = l.Num
			}
		}
	})
}

// TestParse_Comments: comment lines before a line or a section, and the
// comment at its end, are kept with it; a '#' inside quotes is no comment.
func TestParse_Comments(t *testing.T) {
	f, err := parseTest(t, "# file header\n\n# the proxy\nfrontend web # public\n  # first\n  # second\n  bind :80 # http\n  acl a \"x#y\"\n")
	if err != nil {
		t.Fatal(err)
	}
	s := f.Sections[0]
	if s.Comment != "file header\nthe proxy\npublic" {
		t.Errorf("section comment = %q", s.Comment)
	}
	if got := s.Lines[0].Comment; got != "first\nsecond\nhttp" {
		t.Errorf("bind comment = %q", got)
	}
	if got := s.Lines[1]; got.Comment != "" || got.Words[2] != "x#y" {
		t.Errorf("acl = %+v", got)
	}
}

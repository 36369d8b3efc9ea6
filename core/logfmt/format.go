package logfmt

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The presets, as HAProxy 2.6 defines them (src/log.c: default_http_log_format,
// default_tcp_log_format, default_https_log_format).
const (
	HTTPLog  = `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`
	TCPLog   = `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`
	HTTPSLog = `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc`
)

// Presets names the formats a configuration may give by name.
var Presets = []string{"httplog", "tcplog", "httpslog", "json"}

// Format is a compiled log format. It is immutable.
type Format struct {
	src   string
	nodes []node
	json  bool // one JSON object per line: nodes are vars with keys
	// host and pid are printed by %H and %pid, read once.
	host string
	pid  string
	pidN int
}

// String returns the format as written (or the preset's name).
func (f *Format) String() string { return f.src }

// flag bits of a variable.
type flags uint8

const (
	flagQuote  flags = 1 << iota // +Q
	flagHex                      // +X
	flagEscape                   // +E
)

type nodeKind uint8

const (
	nodeText nodeKind = iota
	nodeSep
	nodeVar
)

type node struct {
	kind nodeKind
	text string // nodeText
	v    varCode
	fl   flags
	key  string // json preset
}

// Parse compiles s: a preset name or a format with % variables. The error
// says what is wrong and where, for the configuration's error message.
func Parse(s string) (*Format, error) {
	switch s {
	case "httplog":
		return compile(s, HTTPLog)
	case "tcplog":
		return compile(s, TCPLog)
	case "httpslog":
		return compile(s, HTTPSLog)
	case "json":
		return jsonFormat(), nil
	}
	return compile(s, s)
}

func compile(name, s string) (*Format, error) {
	f := &Format{src: name}
	f.host, _ = os.Hostname()
	f.pidN = os.Getpid()
	f.pid = strconv.Itoa(f.pidN)
	var global flags
	text := func(t string) {
		if n := len(f.nodes); n > 0 && f.nodes[n-1].kind == nodeText {
			f.nodes[n-1].text += t
			return
		}
		f.nodes = append(f.nodes, node{kind: nodeText, text: t})
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if n := len(f.nodes); n == 0 || f.nodes[n-1].kind != nodeSep {
				f.nodes = append(f.nodes, node{kind: nodeSep})
			}
			i++
		case c == '\\' && i+1 < len(s):
			// HAProxy's configuration escapes: "\ " is a space that is
			// text, not a separator.
			text(s[i+1 : i+2])
			i += 2
		case c != '%':
			j := i
			for j < len(s) && s[j] != '%' && s[j] != ' ' && s[j] != '\t' && s[j] != '\\' {
				j++
			}
			if j == i {
				j++ // a backslash that ends the format is text
			}
			text(s[i:j])
			i = j
		case i+1 < len(s) && s[i+1] == '%':
			text("%")
			i += 2
		default:
			n, add, del, next, err := parseVar(s, i)
			if err != nil {
				return nil, err
			}
			i = next
			if n.v == varOptions {
				global = (global | add) &^ del
				continue
			}
			n.fl = (global | add) &^ del
			f.nodes = append(f.nodes, n)
		}
	}
	return f, nil
}

// parseVar reads the variable at s[i] ('%'): %{flags}name, %name or
// %[expr]. It returns the node, the flags it adds and removes, and the
// index after it.
func parseVar(s string, i int) (n node, add, del flags, next int, err error) {
	start := i
	i++ // '%'
	if i < len(s) && s[i] == '{' {
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return n, 0, 0, 0, fmt.Errorf("at offset %d: %%{ without }", start)
		}
		add, del, err = parseFlags(s[i+1 : i+end])
		if err != nil {
			return n, 0, 0, 0, fmt.Errorf("at offset %d: %w", start, err)
		}
		i += end + 1
	}
	if i < len(s) && s[i] == '[' {
		end := strings.IndexByte(s[i:], ']')
		if end < 0 {
			return n, 0, 0, 0, fmt.Errorf("at offset %d: %%[ without ]", start)
		}
		expr := strings.TrimSpace(s[i+1 : i+end])
		v, ok := exprVars[expr]
		if !ok {
			return n, 0, 0, 0, fmt.Errorf("at offset %d: sample expression %%[%s] is not supported in a log format; supported: %s", start, expr, strings.Join(sortedKeys(exprVars), ", "))
		}
		return node{kind: nodeVar, v: v}, add, del, i + end + 1, nil
	}
	// The longest variable name that matches: %Tr and %TR, %tr and
	// %trg, %H and %HM are distinct.
	best := ""
	for name := range varNames {
		if len(name) > len(best) && strings.HasPrefix(s[i:], name) {
			best = name
		}
	}
	if best == "" {
		j := i
		for j < len(s) && isAlnum(s[j]) {
			j++
		}
		return n, 0, 0, 0, fmt.Errorf("at offset %d: unknown variable %%%s (write %%%% for a literal %%)", start, s[i:j])
	}
	return node{kind: nodeVar, v: varNames[best]}, add, del, i + len(best), nil
}

// parseFlags reads "+Q", "-Q,+X", "+Q+E"…: the flags added and removed.
func parseFlags(s string) (add, del flags, err error) {
	for i := 0; i < len(s); {
		switch s[i] {
		case ',', ' ':
			i++
			continue
		case '+', '-':
		default:
			return 0, 0, fmt.Errorf("flags %q: write +Q, +X or +E (a '-' removes one)", s)
		}
		if i+1 >= len(s) {
			return 0, 0, fmt.Errorf("flags %q: a flag letter must follow %c", s, s[i])
		}
		var b flags
		switch s[i+1] {
		case 'Q':
			b = flagQuote
		case 'X':
			b = flagHex
		case 'E':
			b = flagEscape
		default:
			return 0, 0, fmt.Errorf("flags %q: unknown flag %c (Q, X or E)", s, s[i+1])
		}
		if s[i] == '+' {
			add, del = add|b, del&^b
		} else {
			add, del = add&^b, del|b
		}
		i += 2
	}
	return add, del, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

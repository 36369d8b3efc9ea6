package config

import (
	"strings"
)

// Error is one problem found in a configuration.
type Error struct {
	// Path names the offending value: "frontends.web.timeouts.client",
	// "frontends.web.http_request[2]", or FILE:LINE for a YAML syntax
	// error.
	Path string
	// Msg says what is wrong, in lower case.
	Msg string
	// Fix says how to put it right; it may be empty.
	Fix string
	// Source says where the offending value was set: "strata.yaml:12",
	// "env STRATA_GLOBAL__MAXCONN" or "--set"; "" when unknown. It is not
	// part of Error(), so that messages stay the same whichever layer set
	// the value; a command may print it in front.
	Source string
}

// Error returns Path + ": " + Msg, followed by "; " + Fix when there is a
// fix.
func (e *Error) Error() string {
	s := e.Path + ": " + e.Msg
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

// Errors lists every problem found in a configuration. Load returns it,
// never a partial configuration; the rule compiler returns it too, so a
// command prints configuration problems in one way.
type Errors struct {
	List []*Error
}

// Error returns one line per error, in the order they were found.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x.Error())
	}
	return b.String()
}

// Unwrap returns the errors of the list, for errors.As and errors.Is.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, x := range e.List {
		out[i] = x
	}
	return out
}

// Covers reports whether path is at, inside or around a value that has an
// error of e already: an error found there by a later check (a rule of a
// broken frontend, the address of a server whose address is malformed, a
// backend whose settings are wrong) is a consequence, not news.
func (e *Errors) Covers(path string) bool {
	for _, x := range e.List {
		if within(path, x.Path) || within(x.Path, path) {
			return true
		}
	}
	return false
}

// within reports whether path is base or a value inside it.
func within(path, base string) bool {
	if !strings.HasPrefix(path, base) {
		return false
	}
	rest := path[len(base):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

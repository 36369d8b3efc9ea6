package haproxycfg

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Level says how much of a line survived the conversion.
type Level int

const (
	// NotConverted: the line's behaviour is lost; --strict fails.
	NotConverted Level = iota
	// Changed: converted, with a difference worth knowing.
	Changed
	// Ignored: the line tunes HAProxy's process (daemon, user, chroot, …)
	// and means nothing for strata's behaviour.
	Ignored
	// Info: the file's own .diag, .notice and .warning messages, and parser
	// notes.
	Info
)

func (l Level) String() string {
	switch l {
	case NotConverted:
		return "not converted"
	case Changed:
		return "changed"
	case Ignored:
		return "ignored"
	}
	return "info"
}

// Entry is one line of the report.
type Entry struct {
	Line        int
	Level       Level
	Directive   string // the line as written (words joined)
	Reason      string
	Alternative string // the strata way to the same effect; "" when none
}

// Report is what the conversion could not carry over as is.
type Report struct {
	Entries []Entry
}

// NotConverted counts the entries whose behaviour was lost.
func (r *Report) NotConverted() int {
	n := 0
	for _, e := range r.Entries {
		if e.Level == NotConverted {
			n++
		}
	}
	return n
}

func (r *Report) add(e Entry) {
	for _, x := range r.Entries {
		// A defaults line applies to every proxy: say it once.
		if x.Line == e.Line && x.Reason == e.Reason {
			return
		}
	}
	r.Entries = append(r.Entries, e)
}

// Write prints the report, in line order, one entry per line:
//
//	haproxy.cfg:12: not converted: compression algo gzip: strata does not compress responses (instead: …)
func (r *Report) Write(w io.Writer, file string) error {
	es := append([]Entry(nil), r.Entries...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	for _, e := range es {
		s := fmt.Sprintf("%s:%d: %s: %s: %s", file, e.Line, e.Level, e.Directive, e.Reason)
		if e.Alternative != "" {
			s += " (instead: " + e.Alternative + ")"
		}
		if _, err := fmt.Fprintln(w, strings.ReplaceAll(s, "\n", " ")); err != nil {
			return err
		}
	}
	n := r.NotConverted()
	_, err := fmt.Fprintf(w, "%s: %d line(s) not converted, %d entr(ies) in all\n", file, n, len(es))
	return err
}

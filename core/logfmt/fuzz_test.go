package logfmt

import (
	"bytes"
	"testing"
)

// FuzzParse: any format string either fails to compile with an error or
// compiles to a format that renders a line without panicking, ending with
// exactly one newline.
func FuzzParse(f *testing.F) {
	for _, s := range []string{HTTPLog, TCPLog, HTTPSLog, "json", "%{+Q}o %r", "%{+X}ci:%cp", `\ %%[x]`, "%[ssl_fc_err,hex]", "%{", "%["} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := Parse(s)
		if err != nil {
			return
		}
		r := sampleRecord()
		r.URI = []byte("/\x00\xff\"#{|}")
		line := fm.Append(nil, r)
		if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1+bytes.Count([]byte(s), []byte("\n")) {
			t.Fatalf("format %q rendered %q", s, line)
		}
	})
}

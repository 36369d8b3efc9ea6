package h1

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// maxSeedLen keeps the corpus's limit-busting cases out of the fuzz seeds:
// mutating and minimising 16 KiB inputs only slows the fuzzer down, and the
// fuzz targets exercise the limits with small ones.
const maxSeedLen = 2048

// corpusCase is one line of testdata/smuggling.txt (format described at the
// top of that file).
type corpusCase struct {
	kind   string // request, response, chunked
	method string // for responses
	name   string
	expect string // ok, more, or a status
	data   []byte
	line   int
}

func loadCorpus(tb testing.TB) []corpusCase {
	tb.Helper()
	f, err := os.Open("testdata/smuggling.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		c, err := parseCorpusLine(line)
		if err != "" {
			tb.Fatalf("smuggling.txt:%d: %s", n, err)
		}
		if names[c.name] {
			tb.Fatalf("smuggling.txt:%d: duplicate name %s", n, c.name)
		}
		names[c.name] = true
		c.line = n
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return cases
}

func parseCorpusLine(line string) (c corpusCase, err string) {
	var fields [3]string
	for i := range fields {
		line = strings.TrimLeft(line, " \t")
		j := strings.IndexAny(line, " \t")
		if j < 0 {
			return c, "want KIND NAME EXPECT DATA"
		}
		fields[i], line = line[:j], line[j:]
	}
	c.kind, c.name, c.expect = fields[0], fields[1], fields[2]
	c.method = "GET"
	if k, m, ok := strings.Cut(c.kind, "/"); ok {
		c.kind, c.method = k, m
	}
	switch c.kind {
	case "request", "response", "chunked":
	default:
		return c, "unknown kind " + c.kind
	}
	if c.expect != "ok" && c.expect != "more" {
		if _, e := strconv.Atoi(c.expect); e != nil {
			return c, "bad EXPECT " + c.expect
		}
	}
	for {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			break
		}
		q, e := strconv.QuotedPrefix(line)
		if e != nil {
			return c, "bad quoted string at " + line
		}
		s, _ := strconv.Unquote(q)
		line = line[len(q):]
		if strings.HasPrefix(line, "*") {
			j := 1
			for j < len(line) && '0' <= line[j] && line[j] <= '9' {
				j++
			}
			n, e := strconv.Atoi(line[1:j])
			if e != nil {
				return c, "bad repeat count at " + line
			}
			s = strings.Repeat(s, n)
			line = line[j:]
		}
		c.data = append(c.data, s...)
	}
	if len(c.data) == 0 {
		return c, "no DATA"
	}
	return c, ""
}

// outcome runs a case and describes the result as EXPECT would.
func (c *corpusCase) outcome(t testing.TB) string {
	var err error
	switch c.kind {
	case "request":
		var r Request
		err = ParseRequest(&r, c.data, nil)
	case "response":
		var r Response
		err = ParseResponse(&r, c.data, nil, []byte(c.method))
	case "chunked":
		whole, wdone, werr := scanAll(c.data, 0)
		bytewise, bdone, berr := scanAll(c.data, 1)
		if whole != bytewise || wdone != bdone || werr != berr {
			t.Fatalf("whole: %d %t %v; byte by byte: %d %t %v", whole, wdone, werr, bytewise, bdone, berr)
		}
		switch {
		case werr != nil:
			err = werr
		case !wdone:
			err = ErrIncomplete
		case whole != len(c.data):
			return "ok but done after " + strconv.Itoa(whole) + " bytes"
		}
	}
	switch s := statusOf(t, err); s {
	case 0:
		return "ok"
	case incomplete:
		return "more"
	default:
		return strconv.Itoa(s) + " (" + err.Error() + ")"
	}
}

func TestCorpus_Smuggling(t *testing.T) {
	cases := loadCorpus(t)
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.outcome(t)
			if got != c.expect && !strings.HasPrefix(got, c.expect+" (") {
				t.Fatalf("smuggling.txt:%d: got %s, want %s", c.line, got, c.expect)
			}
		})
	}
}

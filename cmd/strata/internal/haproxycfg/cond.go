package haproxycfg

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// eval evaluates the condition of an .if or .elif (section 2.4 of the
// manual). The words have been through quoting and expansion already; an
// error is reported on the line and counts as false.
func (p *parser) eval(num int, words []string) bool {
	if len(words) == 1 && words[0] == "" {
		return false // an empty string is false
	}
	c := &condParser{p: p, s: strings.Join(words, " ")}
	v, err := c.or()
	if err == nil {
		c.space()
		if c.i < len(c.s) {
			err = fmt.Errorf("unexpected %q", c.s[c.i:])
		}
	}
	if err != nil {
		p.errorf(num, "condition %q: %v", c.s, err)
		return false
	}
	return v
}

type condParser struct {
	p *parser
	s string
	i int
}

func (c *condParser) space() {
	for c.i < len(c.s) && (c.s[c.i] == ' ' || c.s[c.i] == '\t') {
		c.i++
	}
}

func (c *condParser) eat(tok string) bool {
	c.space()
	if strings.HasPrefix(c.s[c.i:], tok) {
		c.i += len(tok)
		return true
	}
	return false
}

// or: and { "||" and }. Every term is evaluated (a predicate error is an
// error whatever the other terms give).
func (c *condParser) or() (bool, error) {
	v, err := c.and()
	for err == nil && c.eat("||") {
		var w bool
		w, err = c.and()
		v = v || w
	}
	return v, err
}

func (c *condParser) and() (bool, error) {
	v, err := c.term()
	for err == nil && c.eat("&&") {
		var w bool
		w, err = c.term()
		v = v && w
	}
	return v, err
}

func (c *condParser) term() (bool, error) {
	if c.eat("!") {
		v, err := c.term()
		return !v, err
	}
	if c.eat("(") {
		v, err := c.or()
		if err != nil {
			return false, err
		}
		if !c.eat(")") {
			return false, fmt.Errorf("missing )")
		}
		return v, nil
	}
	c.space()
	start := c.i
	for c.i < len(c.s) && strings.IndexByte(" \t()!&|", c.s[c.i]) < 0 {
		c.i++
	}
	name := c.s[start:c.i]
	if c.i < len(c.s) && c.s[c.i] == '(' {
		end := strings.IndexByte(c.s[c.i:], ')')
		if end < 0 {
			return false, fmt.Errorf("missing ) after %s(", name)
		}
		args := strings.Split(c.s[c.i+1:c.i+end], ",")
		c.i += end + 1
		return c.predicate(name, args)
	}
	if name == "" {
		return false, fmt.Errorf("missing term")
	}
	n, err := strconv.Atoi(name)
	if err != nil {
		return false, fmt.Errorf("%q is neither an integer nor a predicate", name)
	}
	return n != 0, nil
}

func (c *condParser) predicate(name string, args []string) (bool, error) {
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d argument(s), got %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "defined":
		if err := want(1); err != nil {
			return false, err
		}
		_, ok := c.p.opt.LookupEnv(args[0])
		return ok, nil
	case "feature":
		if err := want(1); err != nil {
			return false, err
		}
		return slices.Contains(c.p.opt.Features, args[0]), nil
	case "streq", "strneq":
		if err := want(2); err != nil {
			return false, err
		}
		return (args[0] == args[1]) == (name == "streq"), nil
	case "version_atleast", "version_before":
		if err := want(1); err != nil {
			return false, err
		}
		atLeast := compareVersions(c.p.opt.Version, args[0]) >= 0
		return atLeast == (name == "version_atleast"), nil
	}
	return false, fmt.Errorf("unknown predicate %s(): use defined, feature, streq, strneq, version_atleast or version_before", name)
}

// compareVersions compares HAProxy versions such as "2.6", "2.4.22" and
// "2.4-dev19": numeric components in order, missing ones zero; a -devN
// release comes before the release itself.
func compareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for len(pa) < len(pb) {
		pa = append(pa, 0)
	}
	for len(pb) < len(pa) {
		pb = append(pb, 0)
	}
	for i := range pa {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// versionParts turns "2.4-dev19" into [2 4 -1000000+19]: a development
// release sorts below the release, in the order of its number.
func versionParts(v string) []int {
	main, suffix, _ := strings.Cut(v, "-")
	var out []int
	for f := range strings.SplitSeq(main, ".") {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	for len(out) < 3 {
		out = append(out, 0)
	}
	if d, ok := strings.CutPrefix(suffix, "dev"); ok {
		n, _ := strconv.Atoi(d)
		out = append(out, -1000000+n)
	} else {
		out = append(out, 0)
	}
	return out
}

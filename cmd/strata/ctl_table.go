package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/track"
)

// ctlTableUsage is the part of `strata ctl help` about stick tables.
const ctlTableUsage = `  strata ctl [flags] table show [TABLE [FILTER...]]        tables, or the entries of one as "show table" prints them
  strata ctl [flags] table clear TABLE [KEY | FILTER...]   remove an entry, or every unused entry (that matches)
  strata ctl [flags] table set TABLE KEY NAME=VALUE...     set values (gpt0=1 gpc1=5), creating the entry
`

const ctlTableHelp = `Table filters, as HAProxy's "show table": data.TYPE OP VALUE, where OP is
eq, ne, lt, le, gt or ge (several are ANDed), or key KEY. Keys are written
as the table holds them: an address, an integer, the string, or binary in
hexadecimal. Values are named as "show table" names them: conn_cur,
http_req_rate, gpc0, gpc1_rate, gpt0.
`

// table runs `strata ctl table …`.
func (c *ctlClient) table(o *ctlOutput, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("table: want show, clear or set\n\n%s%s", ctlTableUsage, ctlTableHelp)
	}
	verb, rest := args[0], args[1:]
	switch {
	case verb == "show" && len(rest) == 0:
		return c.tableList(o)
	case verb == "show":
		q, err := tableFilters(rest[1:])
		if err != nil {
			return err
		}
		return c.tableShow(o, rest[0], q)
	case verb == "clear" && len(rest) == 2:
		return c.tableDelete(o, rest[0], rest[1])
	case verb == "clear" && len(rest) >= 1:
		q, err := tableFilters(rest[1:])
		if err != nil {
			return err
		}
		return c.tableClear(o, rest[0], q)
	case verb == "set" && len(rest) >= 3:
		return c.tableSet(o, rest[0], rest[1], rest[2:])
	}
	return fmt.Errorf("table %s: wrong arguments\n\n%s%s", strings.Join(args, " "), ctlTableUsage, ctlTableHelp)
}

// tableFilters turns "data.conn_cur gt 0 key 10.0.0.1" into a query.
func tableFilters(words []string) (url.Values, error) {
	q := url.Values{}
	for len(words) > 0 {
		switch {
		case words[0] == "key" && len(words) >= 2:
			q.Add("key", words[1])
			words = words[2:]
		case strings.HasPrefix(words[0], "data.") && len(words) >= 3:
			q.Add("filter", strings.Join(words[:3], " "))
			words = words[3:]
		default:
			return nil, fmt.Errorf("filter %q: write data.TYPE OP VALUE (data.http_req_rate gt 10) or key KEY", strings.Join(words, " "))
		}
	}
	return q, nil
}

func tablePath(name string) string { return "/v1/tables/" + url.PathEscape(name) }

func (c *ctlClient) tableList(o *ctlOutput) error {
	var list []track.TableInfo
	b, err := c.get("/v1/tables", &list)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	tw := o.table()
	fmt.Fprintln(tw, "TABLE\tTYPE\tSIZE\tUSED\tEXPIRE\tSTORE")
	for _, t := range list {
		typ := t.Type
		if t.Len > 0 {
			typ += " len " + strconv.Itoa(t.Len)
		}
		exp := "never"
		if t.ExpireMS > 0 {
			exp = strconv.FormatInt(t.ExpireMS, 10) + "ms"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", t.Name, typ, t.Size, t.Used, exp, strings.Join(t.Store, ","))
	}
	return tw.Flush()
}

func (c *ctlClient) tableShow(o *ctlOutput, name string, q url.Values) error {
	var d track.TableDump
	path := tablePath(name)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	b, err := c.get(path, &d)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	fmt.Fprintln(o.w, d.Header)
	for _, e := range d.Entries {
		fmt.Fprintln(o.w, e.Show)
	}
	return nil
}

func (c *ctlClient) tableDelete(o *ctlOutput, name, key string) error {
	b, err := c.call("DELETE", tablePath(name)+"/entries/"+url.PathEscape(key), nil)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	_, err = fmt.Fprintf(o.w, "%s: entry %s removed\n", name, key)
	return err
}

func (c *ctlClient) tableClear(o *ctlOutput, name string, q url.Values) error {
	path := tablePath(name) + "/entries"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	b, err := c.call("DELETE", path, nil)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	var r track.ClearResult
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	msg := fmt.Sprintf("%s: %d entries removed", name, r.Removed)
	if r.InUse > 0 {
		msg += fmt.Sprintf(", %d kept because trackers hold them", r.InUse)
	}
	_, err = fmt.Fprintln(o.w, msg)
	return err
}

func (c *ctlClient) tableSet(o *ctlOutput, name, key string, pairs []string) error {
	u := track.EntryUpdate{Data: map[string]int64{}}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || k == "" || err != nil {
			return fmt.Errorf("%q: write NAME=VALUE, e.g. gpt0=1", p)
		}
		u.Data[k] = n
	}
	b, err := c.call("POST", tablePath(name)+"/entries/"+url.PathEscape(key), u)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	var e track.Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	_, err = fmt.Fprintln(o.w, e.Show)
	return err
}

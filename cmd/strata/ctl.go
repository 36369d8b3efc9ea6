package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/proxy"
)

const ctlUsage = `strata ctl — talk to a running strata through its runtime API

Usage:
  strata ctl [flags] stats                                 frontends and backends with their counters
  strata ctl [flags] servers [BACKEND]                     servers: status, weight, streams, queue, checks
  strata ctl [flags] server show BACKEND/SERVER            one server in detail
  strata ctl [flags] server set BACKEND/SERVER [--state ready|drain|maint] [--weight N]
  strata ctl [flags] reload                                read the configuration files again and swap
  strata ctl [flags] plugin reload NAME                    load plugin NAME again and swap
` + ctlTableUsage + `
Flags (anywhere on the line):
  --admin ADDR    the admin API: host:port, http://host:port or unix:/path
  --token TOKEN   its bearer token
  -c FILE         read global.admin.listen and global.admin.token from a
                  configuration file (repeatable, as for strata run)
  --json          print the API's JSON instead of a table

The address and token come from the flags, else from -c FILE, else from the
environment: STRATA_ADMIN and STRATA_TOKEN.

States: ready takes new streams; drain takes no new streams but keeps
persistent ones; maint takes nothing. Health checks go on in every state.
A change lasts until it is changed again.

` + ctlTableHelp

// runCtl is `strata ctl`.
func runCtl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var files multiFlag
	addr := fs.String("admin", "", "")
	token := fs.String("token", "", "")
	fs.Var(&files, "c", "")
	asJSON := fs.Bool("json", false, "")
	state := fs.String("state", "", "")
	weight := fs.String("weight", "", "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")

	// Flags may come before, between and after the words of the command.
	var words []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			fmt.Fprintf(stderr, "strata ctl: %v\n\n%s", err, ctlUsage)
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		words, rest = append(words, rest[0]), rest[1:]
	}
	if *help || len(words) == 0 || words[0] == "help" {
		fmt.Fprint(stdout, ctlUsage)
		if len(words) == 0 && !*help {
			return 2
		}
		return 0
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "strata ctl: "+format+"\n\n%s", append(a, ctlUsage)...)
		return 2
	}
	if (*state != "" || *weight != "") && !(len(words) >= 2 && words[0] == "server" && words[1] == "set") {
		return usageErr("--state and --weight go with `server set`")
	}

	cl, err := newCtlClient(*addr, *token, files)
	if err != nil {
		fmt.Fprintln(stderr, "strata ctl:", err)
		return 2
	}
	out := &ctlOutput{w: stdout, json: *asJSON}
	switch {
	case words[0] == "stats" && len(words) == 1:
		err = cl.stats(out)
	case words[0] == "servers" && len(words) <= 2:
		be := ""
		if len(words) == 2 {
			be = words[1]
		}
		err = cl.servers(out, be)
	case words[0] == "server" && len(words) == 3 && words[1] == "show":
		err = cl.serverShow(out, words[2])
	case words[0] == "server" && len(words) == 3 && words[1] == "set":
		if *state == "" && *weight == "" {
			return usageErr("server set needs --state and/or --weight")
		}
		err = cl.serverSet(out, words[2], *state, *weight)
	case words[0] == "reload" && len(words) == 1:
		err = cl.reload(out, "") // reload.go
	case words[0] == "plugin" && len(words) == 3 && words[1] == "reload":
		err = cl.reload(out, words[2])
	case words[0] == "table":
		err = cl.table(out, words[1:]) // ctl_table.go
	default:
		return usageErr("unknown command %q", strings.Join(words, " "))
	}
	if err != nil {
		fmt.Fprintln(stderr, "strata ctl:", err)
		return 1
	}
	return 0
}

// ctlClient calls the runtime API.
type ctlClient struct {
	base  string // scheme://host
	token string
	hc    *http.Client
}

// newCtlClient finds the admin address and token: flags, then the
// configuration files, then the environment.
func newCtlClient(addr, token string, files []string) (*ctlClient, error) {
	if len(files) > 0 && (addr == "" || token == "") {
		cfg, err := config.Load(config.Sources{Files: files, Env: os.Environ()})
		if err != nil {
			return nil, err
		}
		if addr == "" {
			addr = cfg.Global.Admin.Listen
		}
		if token == "" {
			token = cfg.Global.Admin.Token
		}
	}
	if addr == "" {
		addr = os.Getenv("STRATA_ADMIN")
	}
	if token == "" {
		token = os.Getenv("STRATA_TOKEN")
	}
	if addr == "" {
		return nil, errors.New("no admin address: give --admin ADDR, -c FILE with global.admin.listen, or STRATA_ADMIN")
	}
	cl := &ctlClient{token: token, hc: &http.Client{Timeout: 10 * time.Second}}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		cl.base = "http://strata"
		cl.hc.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
		return cl, nil
	}
	scheme := "http"
	if rest, ok := strings.CutPrefix(addr, "https://"); ok {
		scheme, addr = "https", rest
	} else {
		addr = strings.TrimPrefix(addr, "http://")
	}
	addr = strings.TrimSuffix(addr, "/")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin address %q: want host:port, http://host:port or unix:/path", addr)
	}
	// A wildcard listen address is reached through the loopback.
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	cl.base = scheme + "://" + net.JoinHostPort(host, port)
	return cl, nil
}

// apiError is an answer of the API other than 2xx.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status) }

// call sends a request and returns the body of a 2xx answer.
func (c *ctlClient) call(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &apiError{Status: resp.StatusCode, Msg: e.Error}
	}
	return b, nil
}

// get fetches path into v and returns the raw body too.
func (c *ctlClient) get(path string, v any) ([]byte, error) {
	b, err := c.call("GET", path, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("unexpected answer from %s: %w", path, err)
	}
	return b, nil
}

// ctlOutput writes tables, or the API's JSON with --json.
type ctlOutput struct {
	w    io.Writer
	json bool
}

func (o *ctlOutput) raw(b []byte) error {
	_, err := o.w.Write(b)
	return err
}

func (o *ctlOutput) table() *tabwriter.Writer {
	return tabwriter.NewWriter(o.w, 0, 0, 2, ' ', 0)
}

func (c *ctlClient) stats(o *ctlOutput) error {
	var st proxy.Stats
	b, err := c.get("/v1/stats", &st)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	tw := o.table()
	fmt.Fprintln(tw, "FRONTEND\tMODE\tSTATE\tSESSIONS\tCUR\tSTREAMS\t2XX\t4XX\t5XX\tBYTES IN\tBYTES OUT")
	for _, f := range st.Frontends {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", f.Name, f.Mode, f.State,
			f.Sessions, f.CurSessions, f.Streams, f.Status["2xx"], f.Status["4xx"], f.Status["5xx"],
			humanBytes(f.BytesIn), humanBytes(f.BytesOut))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "BACKEND\tMODE\tBALANCE\tUP\tCUR\tQUEUE\tSTREAMS\t2XX\t4XX\t5XX\tCONN ERR\tREDISP")
	for _, be := range st.Backends {
		balance := be.Balance
		if be.HashType != "" {
			balance += " (" + be.HashType + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", be.Name, be.Mode, balance,
			be.ServersUp, len(be.Servers), be.CurStreams, be.Queue, be.Streams,
			be.Status["2xx"], be.Status["4xx"], be.Status["5xx"], be.ConnErrors, be.Redispatches)
	}
	return tw.Flush()
}

func (c *ctlClient) servers(o *ctlOutput, only string) error {
	var list []proxy.BackendStats
	path := "/v1/backends"
	if only != "" {
		var one proxy.BackendStats
		b, err := c.get(path+"/"+url.PathEscape(only), &one)
		if err != nil {
			return err
		}
		if o.json {
			return o.raw(b)
		}
		list = append(list, one)
	} else {
		b, err := c.get(path, &list)
		if err != nil {
			return err
		}
		if o.json {
			return o.raw(b)
		}
	}
	tw := o.table()
	fmt.Fprintln(tw, "BACKEND\tSERVER\tADDRESS\tSTATUS\tSTATE\tHEALTH\tWEIGHT\tCUR\tMAX\tLIMIT\tQUEUE\tSTREAMS\t5XX\tRETRIES\tCHECK")
	for _, be := range list {
		for _, s := range be.Servers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n",
				be.Name, s.Name, s.Address, s.Summary, s.State, s.Health, weightText(s),
				s.Current, s.MaxCurrent, limitText(s.MaxConn), s.Queue, s.Streams, s.Status["5xx"],
				s.Retries, checkText(s))
		}
	}
	return tw.Flush()
}

// splitServer reads BACKEND/SERVER.
func splitServer(name string) (string, string, error) {
	be, srv, ok := strings.Cut(name, "/")
	if !ok || be == "" || srv == "" {
		return "", "", fmt.Errorf("%q: write BACKEND/SERVER, e.g. app/s1", name)
	}
	return be, srv, nil
}

func serverPath(be, srv string) string {
	return "/v1/backends/" + url.PathEscape(be) + "/servers/" + url.PathEscape(srv)
}

func (c *ctlClient) serverShow(o *ctlOutput, name string) error {
	be, srv, err := splitServer(name)
	if err != nil {
		return err
	}
	var s proxy.ServerStats
	b, err := c.get(serverPath(be, srv), &s)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	return showServer(o, &s)
}

func (c *ctlClient) serverSet(o *ctlOutput, name, state, weight string) error {
	be, srv, err := splitServer(name)
	if err != nil {
		return err
	}
	var u proxy.ServerUpdate
	if state != "" {
		u.State = &state
	}
	if weight != "" {
		w, err := strconv.Atoi(weight)
		if err != nil {
			return fmt.Errorf("--weight %q: want a number from 0 to 256", weight)
		}
		u.Weight = &w
	}
	b, err := c.call("PUT", serverPath(be, srv), u)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	var s proxy.ServerStats
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.w, "%s/%s: state %s, weight %d, status %s\n", s.Backend, s.Name, s.State, s.Weight, s.Summary)
	return err
}

func showServer(o *ctlOutput, s *proxy.ServerStats) error {
	tw := o.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("server", s.Backend+"/"+s.Name)
	row("address", s.Address)
	row("status", s.Summary)
	row("state", s.State)
	row("health", s.Health)
	row("weight", weightText(*s))
	row("backup", strconv.FormatBool(s.Backup))
	row("maxconn", limitText(s.MaxConn))
	row("streams now / max", fmt.Sprintf("%d / %d", s.Current, s.MaxCurrent))
	row("queue now / max", fmt.Sprintf("%d / %d", s.Queue, s.QueueMax))
	row("idle connections", strconv.Itoa(s.IdleConns))
	row("streams", strconv.FormatInt(s.Streams, 10))
	row("responses", responsesText(s.Status))
	row("connections opened", strconv.FormatInt(s.Sessions, 10))
	row("connect errors", strconv.FormatInt(s.ConnErrors, 10))
	row("retries / redispatches", fmt.Sprintf("%d / %d", s.Retries, s.Redispatches))
	row("check", checkText(*s))
	if s.Check.Enabled {
		row("check rise / fall", fmt.Sprintf("%d / %d (now %d ok, %d failed in a row)", s.Check.Rise, s.Check.Fall, s.Check.Successes, s.Check.Failures))
		if s.Check.Last.Desc != "" {
			row("last check", s.Check.Last.Desc)
		}
	}
	if s.Check.Observed != "" {
		row("down by passive checks", s.Check.Observed)
	}
	if !s.Check.Since.IsZero() {
		row("health since", s.Check.Since.Format(time.RFC3339))
	}
	return tw.Flush()
}

func weightText(s proxy.ServerStats) string {
	if s.Weight != s.InitialWeight {
		return fmt.Sprintf("%d (of %d)", s.Weight, s.InitialWeight)
	}
	return strconv.Itoa(s.Weight)
}

func limitText(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func checkText(s proxy.ServerStats) string {
	l := s.Check.Last
	if l.Status == "" {
		if s.Check.Observed != "" {
			return "passive: down"
		}
		if !s.Check.Enabled {
			return "-"
		}
		return "pending"
	}
	t := l.Status
	if l.Code != 0 {
		t += "/" + strconv.Itoa(l.Code)
	}
	return t + " " + strconv.FormatFloat(s.Check.DurationMS, 'f', 1, 64) + "ms"
}

func responsesText(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if m[k] != 0 {
			parts = append(parts, k+" "+strconv.FormatInt(m[k], 10))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// humanBytes prints a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

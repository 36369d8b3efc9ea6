package stick

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DataType is a kind of value a table stores for each entry. The order is
// HAProxy's (stktable_data_types), so that Dump lists values in the order of
// HAProxy's "show table".
type DataType uint8

const (
	DataServerID     DataType = iota // server_id: signed 32-bit server id
	DataGPT0                         // gpt0: legacy tag, same as gpt[0]
	DataGPC0                         // gpc0: legacy counter, same as gpc[0]
	DataGPC0Rate                     // gpc0_rate(p): legacy, same as gpc_rate[0]
	DataConnCnt                      // conn_cnt: trackers started
	DataConnRate                     // conn_rate(p)
	DataConnCur                      // conn_cur: trackers currently holding the entry
	DataSessCnt                      // sess_cnt
	DataSessRate                     // sess_rate(p)
	DataHTTPReqCnt                   // http_req_cnt
	DataHTTPReqRate                  // http_req_rate(p)
	DataHTTPErrCnt                   // http_err_cnt
	DataHTTPErrRate                  // http_err_rate(p)
	DataBytesInCnt                   // bytes_in_cnt: from the client
	DataBytesInRate                  // bytes_in_rate(p)
	DataBytesOutCnt                  // bytes_out_cnt: to the client
	DataBytesOutRate                 // bytes_out_rate(p)
	DataGPC1                         // gpc1: legacy counter, same as gpc[1]
	DataGPC1Rate                     // gpc1_rate(p): legacy, same as gpc_rate[1]
	DataHTTPFailCnt                  // http_fail_cnt
	DataHTTPFailRate                 // http_fail_rate(p)
	DataGPT                          // gpt(n): array of 32-bit tags
	DataGPC                          // gpc(n): array of counters
	DataGPCRate                      // gpc_rate(n,p): array of rates
	numDataTypes
)

// MaxArray is the largest element count of an array data type (HAProxy's
// STKTABLE_MAX_DT_ARRAY_SIZE).
const MaxArray = 100

// MaxPeriod is the longest rate period. Periods are computed on 32-bit
// millisecond ticks as in HAProxy, whose timers stop at the same value.
const MaxPeriod = math.MaxInt32 * time.Millisecond

type dataKind uint8

const (
	kindCounter dataKind = iota // unsigned counter, 64-bit here
	kindSigned                  // server_id
	kindTag                     // gpt: 32-bit unsigned
	kindRate                    // freq counter, two words
)

var dataInfo = [numDataTypes]struct {
	name  string
	kind  dataKind
	array bool
}{
	DataServerID:     {"server_id", kindSigned, false},
	DataGPT0:         {"gpt0", kindTag, false},
	DataGPC0:         {"gpc0", kindCounter, false},
	DataGPC0Rate:     {"gpc0_rate", kindRate, false},
	DataConnCnt:      {"conn_cnt", kindCounter, false},
	DataConnRate:     {"conn_rate", kindRate, false},
	DataConnCur:      {"conn_cur", kindCounter, false},
	DataSessCnt:      {"sess_cnt", kindCounter, false},
	DataSessRate:     {"sess_rate", kindRate, false},
	DataHTTPReqCnt:   {"http_req_cnt", kindCounter, false},
	DataHTTPReqRate:  {"http_req_rate", kindRate, false},
	DataHTTPErrCnt:   {"http_err_cnt", kindCounter, false},
	DataHTTPErrRate:  {"http_err_rate", kindRate, false},
	DataBytesInCnt:   {"bytes_in_cnt", kindCounter, false},
	DataBytesInRate:  {"bytes_in_rate", kindRate, false},
	DataBytesOutCnt:  {"bytes_out_cnt", kindCounter, false},
	DataBytesOutRate: {"bytes_out_rate", kindRate, false},
	DataGPC1:         {"gpc1", kindCounter, false},
	DataGPC1Rate:     {"gpc1_rate", kindRate, false},
	DataHTTPFailCnt:  {"http_fail_cnt", kindCounter, false},
	DataHTTPFailRate: {"http_fail_rate", kindRate, false},
	DataGPT:          {"gpt", kindTag, true},
	DataGPC:          {"gpc", kindCounter, true},
	DataGPCRate:      {"gpc_rate", kindRate, true},
}

// String returns the name used in "store" specifications.
func (dt DataType) String() string {
	if dt < numDataTypes {
		return dataInfo[dt].name
	}
	return "data(" + strconv.Itoa(int(dt)) + ")"
}

// IsRate reports whether dt is a rate over a period.
func (dt DataType) IsRate() bool { return dt < numDataTypes && dataInfo[dt].kind == kindRate }

// IsArray reports whether dt is an array (gpt, gpc, gpc_rate).
func (dt DataType) IsArray() bool { return dt < numDataTypes && dataInfo[dt].array }

// ParseDataType returns the data type called name ("conn_cur", "gpc_rate").
func ParseDataType(name string) (DataType, error) {
	for dt := DataType(0); dt < numDataTypes; dt++ {
		if dataInfo[dt].name == name {
			return dt, nil
		}
	}
	return 0, fmt.Errorf("%w %q", ErrDataType, name)
}

// DataSpec is one stored data type: what "store" lists in a stick-table
// definition.
type DataSpec struct {
	Type   DataType
	N      int           // element count of an array type; 1 otherwise
	Period time.Duration // rate types only; whole milliseconds
}

// String returns the specification in the form ParseStore accepts:
// "conn_cur", "http_req_rate(10s)", "gpc(2)", "gpc_rate(2,10s)".
func (s DataSpec) String() string {
	var b strings.Builder
	b.WriteString(s.Type.String())
	var args []string
	if s.Type.IsArray() {
		args = append(args, strconv.Itoa(s.N))
	}
	if s.Type.IsRate() {
		args = append(args, formatPeriod(s.Period))
	}
	if len(args) > 0 {
		b.WriteByte('(')
		b.WriteString(strings.Join(args, ","))
		b.WriteByte(')')
	}
	return b.String()
}

// validate checks a spec built by hand (ParseStore output always passes).
func (s DataSpec) validate() error {
	if s.Type >= numDataTypes {
		return fmt.Errorf("%w %s", ErrDataType, s.Type)
	}
	if s.Type.IsArray() {
		if s.N < 1 || s.N > MaxArray {
			return fmt.Errorf("%w: %s: array size %d out of range 1-%d", ErrDataArg, s.Type, s.N, MaxArray)
		}
	} else if s.N != 1 && s.N != 0 {
		return fmt.Errorf("%w: %s is not an array", ErrDataArg, s.Type)
	}
	if s.Type.IsRate() {
		if s.Period < time.Millisecond || s.Period > MaxPeriod || s.Period%time.Millisecond != 0 {
			return fmt.Errorf("%w: %s: period %v must be whole milliseconds between 1ms and %v", ErrDataArg, s.Type, s.Period, MaxPeriod)
		}
	} else if s.Period != 0 {
		return fmt.Errorf("%w: %s takes no period", ErrDataArg, s.Type)
	}
	return nil
}

// norm returns s with N set to 1 for scalar types.
func (s DataSpec) norm() DataSpec {
	if !s.Type.IsArray() {
		s.N = 1
	}
	return s
}

// ParseStore parses one "store" item: "conn_cur", "conn_rate(10s)", "gpc(2)",
// "gpc_rate(2,10s)", "gpt(1)". Periods take HAProxy's time units (us, ms,
// s, m, h, d; a bare number is milliseconds) and must come to at least 1ms.
func ParseStore(spec string) (DataSpec, error) {
	spec = strings.TrimSpace(spec)
	name, args, hasArgs := spec, "", false
	if i := strings.IndexByte(spec, '('); i >= 0 {
		if !strings.HasSuffix(spec, ")") {
			return DataSpec{}, fmt.Errorf("%w: %q: missing closing parenthesis", ErrDataArg, spec)
		}
		name, args, hasArgs = spec[:i], spec[i+1:len(spec)-1], true
	}
	dt, err := ParseDataType(name)
	if err != nil {
		return DataSpec{}, err
	}
	var list []string
	if hasArgs {
		list = strings.Split(args, ",")
		for i := range list {
			list[i] = strings.TrimSpace(list[i])
		}
	}
	s := DataSpec{Type: dt, N: 1}
	if dt.IsArray() {
		if len(list) == 0 || list[0] == "" {
			return DataSpec{}, fmt.Errorf("%w: %s: missing array size", ErrDataArg, name)
		}
		n, err := strconv.Atoi(list[0])
		if err != nil || n < 1 || n > MaxArray {
			return DataSpec{}, fmt.Errorf("%w: %s: array size %q out of range 1-%d", ErrDataArg, name, list[0], MaxArray)
		}
		s.N = n
		list = list[1:]
	}
	if dt.IsRate() {
		if len(list) == 0 || list[0] == "" {
			return DataSpec{}, fmt.Errorf("%w: %s: missing period", ErrDataArg, name)
		}
		p, err := parsePeriod(list[0])
		if err != nil {
			return DataSpec{}, fmt.Errorf("%w: %s: %v", ErrDataArg, name, err)
		}
		s.Period = p
		list = list[1:]
	}
	if len(list) > 0 {
		return DataSpec{}, fmt.Errorf("%w: %s: unexpected argument %q", ErrDataArg, name, strings.Join(list, ","))
	}
	return s, nil
}

// ParseStores parses a comma-separated "store" list, as HAProxy's "store"
// keyword accepts: "conn_cur,gpc_rate(2,10s),http_req_rate(10s)".
func ParseStores(list string) ([]DataSpec, error) {
	var out []DataSpec
	depth, start := 0, 0
	for i := 0; i <= len(list); i++ {
		if i < len(list) {
			switch list[i] {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		item := strings.TrimSpace(list[start:i])
		start = i + 1
		if item == "" {
			return nil, fmt.Errorf("%w: empty item in store list %q", ErrDataArg, list)
		}
		s, err := ParseStore(item)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parsePeriod parses HAProxy's time syntax with milliseconds as the default
// unit.
func parsePeriod(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid period %q", s)
	}
	v, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid period %q", s)
	}
	var unit time.Duration
	switch s[i:] {
	case "", "ms":
		unit = time.Millisecond
	case "us":
		unit = time.Microsecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("invalid unit in period %q", s)
	}
	if v > int64(MaxPeriod/unit) {
		return 0, fmt.Errorf("period %q too long, maximum is %v", s, MaxPeriod)
	}
	d := time.Duration(v) * unit
	// Ticks are milliseconds: a sub-millisecond rest is rounded up.
	d = (d + time.Millisecond - 1).Truncate(time.Millisecond)
	if d < time.Millisecond {
		return 0, fmt.Errorf("period %q too short, minimum is 1ms", s)
	}
	return d, nil
}

// formatPeriod writes d with the largest unit that divides it exactly.
func formatPeriod(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d >= u.d && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Package logfmt compiles HAProxy log formats (`log-format`, the `%`
// variables of HAProxy 2.6's configuration manual, section 8.2.4) and
// renders access-log lines from a Record.
//
// A Format is compiled once, when a configuration is built, and is then
// immutable: any number of goroutines may call Append at once. Append
// writes into the caller's buffer and allocates nothing, so a proxy can log
// every request from a pooled buffer.
//
// The presets httplog, tcplog and httpslog are HAProxy's `option httplog`,
// `option tcplog` and `option httpslog` formats word for word, so that a
// line strata writes for a request is the line HAProxy writes for it (the
// values of timers and ports aside) and HAProxy's log parsers read it. The
// preset json has the fields of httplog as one JSON object per line, with
// the trace and span ids of the stream when it was traced.
//
// Rendering follows HAProxy's rules (src/log.c, sess_build_logline):
//   - blanks in the format are separators: a run of them prints one space,
//     and none right after another separator, so a variable that prints
//     nothing (%hr without captures) leaves no double space;
//   - a string variable with no value prints "-" ("" with +Q);
//   - a timer that was not reached prints -1;
//   - the request line (%r, %HU, …) escapes control characters, bytes
//     above 126, '"' and '#' as #XX; captured headers (%hr, %hs) also
//     '{', '|' and '}';
//   - flags: %{+Q} quotes strings, %{+X} prints integers in upper-case
//     hexadecimal, %{+E} escapes '"', '\' and ']' with a backslash; %{+Q}o
//     (the variable o) sets the flags of every variable after it.
//
// Only a few sample expressions (%[...]) are understood: those that
// httpslog uses (fc_err, ssl_fc_err,hex, ssl_c_err, ssl_c_ca_err,
// ssl_fc_is_resumed, ssl_fc_sni) and a few of the same kind; another
// expression is an error when the format is compiled, naming it.
package logfmt

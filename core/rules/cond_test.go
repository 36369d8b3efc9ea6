package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestCond_Logic(t *testing.T) {
	env := httpEnv()
	defs := []struct{ name, src string }{
		{"is_api", "path_beg /api/"},
		{"is_get", "method GET"},
		{"is_post", "method POST"},
		{"from_lan", "src 10.0.0.0/8"},
		// two definitions of one name are OR'ed
		{"static", "path_end .png"},
		{"static", "path_beg /static/"},
	}
	for _, d := range defs {
		if err := env.DefineACL(d.name, d.src); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		method string
		path   string
		cond   string
		want   bool
	}{
		{"single", "GET", "/api/x", "if is_api", true},
		{"unless", "GET", "/api/x", "unless is_api", false},
		{"implicit and true", "GET", "/api/x", "if is_api is_get", true},
		{"implicit and false", "POST", "/api/x", "if is_api is_get", false},
		{"negation", "POST", "/api/x", "if is_api !is_get", true},
		{"negation separate word", "POST", "/api/x", "if is_api ! is_get", true},
		{"double negation", "GET", "/api/x", "if !!is_get", true},
		{"or", "POST", "/x", "if is_get || is_post", true},
		{"or keyword", "POST", "/x", "if is_get or is_post", true},
		{"or binds looser than and", "POST", "/x", "if is_api is_get || is_post", true},
		{"and groups", "POST", "/api/x", "if is_get is_api || is_post from_lan", false},
		{"named OR'ed first def", "GET", "/a.png", "if static", true},
		{"named OR'ed second def", "GET", "/static/a", "if static", true},
		{"named OR'ed neither", "GET", "/a.gif", "if static", false},
		{"negated named", "GET", "/a.gif", "if !static", true},
		{"anonymous", "GET", "/x", "if { path /x }", true},
		{"negated anonymous", "GET", "/x", "if !{ path /x }", false},
		{"negated anonymous separate", "GET", "/x", "if ! { path /x } || is_get", true},
		{"anonymous and named", "GET", "/api/x", "if { method GET } is_api", true},
		{"predefined", "GET", "/x", "if METH_GET TRUE", true},
		{"predefined false", "GET", "/x", "if FALSE || METH_POST", false},
		{"unless or", "PUT", "/x", "unless is_get || is_post", true},
		{"predefined http url", "GET", "/x", "if HTTP_URL_SLASH HTTP_1.1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustCompile(t, HTTPRequest, "allow "+tc.cond, env)
			ctx := httpCtx(newRequest(tc.method, tc.path))
			if got := r.Eval(ctx).Kind == Allow; got != tc.want {
				t.Errorf("%s = %v, want %v", tc.cond, got, tc.want)
			}
		})
	}
}

func TestCond_Errors(t *testing.T) {
	env := httpEnv()
	if err := env.DefineACL("is_api", "path_beg /api/"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, rule, want string
		is               error
	}{
		{"unknown acl suggests", "allow if is_apy", `unknown ACL "is_apy"; did you mean is_api?`, ErrUnknownACL},
		{"fetch as acl", "allow if path_beg(x)", "write { path_beg(x) ... }", ErrUnknownACL},
		{"empty condition", "allow if", `"if" needs a condition`, ErrSyntax},
		{"dangling or", "allow if is_api ||", "condition ends", ErrSyntax},
		{"leading or", "allow if || is_api", "needs a condition before it", ErrSyntax},
		{"missing brace", "allow if { path /x", "missing '}'", ErrSyntax},
		{"glued closing brace", "allow if { path /x}", `write "/x }"`, ErrSyntax},
		{"glued opening brace", "allow if {path /x }", `write "{ path"`, ErrSyntax},
		{"empty braces", "allow if { }", "empty anonymous ACL", ErrSyntax},
		{"stray closing brace", "allow if is_api }", "'}' without '{'", ErrSyntax},
		{"dangling bang", "allow if is_api !", "'!' needs an ACL", ErrSyntax},
		{"nested if", "allow if is_api if is_api", `"if" inside a condition`, ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(HTTPRequest, tc.rule, env)
			if err == nil {
				t.Fatal("compiled, want error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.rule) {
				t.Errorf("error %q does not name the rule", err)
			}
		})
	}
}

func TestEnv_DefineACL(t *testing.T) {
	env := httpEnv()
	tests := []struct {
		name, acl, src, want string
	}{
		{"ok", "ok", "path /x", ""},
		{"bad name", "a b", "path /x", "names may only contain"},
		{"empty", "e", "  ", "empty definition"},
		{"bad definition", "bad", "path -m nope x", "acl bad"},
		{"quote", "q", `path "x`, "unterminated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := env.DefineACL(tc.acl, tc.src)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

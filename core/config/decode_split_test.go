package config

import (
	"reflect"
	"testing"
)

func TestSplitTopLevel(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "plain", in: "a,b", want: []string{"a", "b"}},
		{name: "parenthesised comma kept", in: "conn_cur, gpc_rate(2,10s)", want: []string{"conn_cur", " gpc_rate(2,10s)"}},
		{name: "nested", in: "f(a,(b,c)),d", want: []string{"f(a,(b,c))", "d"}},
		{name: "unbalanced close", in: "a),b", want: []string{"a)", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitTopLevel(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

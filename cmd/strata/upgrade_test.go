package main

import (
	"slices"
	"testing"
)

// TestSuccessorArgs: the new binary of a SIGUSR2 upgrade gets this
// process's arguments with one --upgrade-from, this pid file, whichever
// way an earlier one was written.
func TestSuccessorArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"first upgrade", []string{"run", "--pidfile", "/run/s.pid", "-c", "a.yaml"},
			[]string{"run", "--pidfile", "/run/s.pid", "-c", "a.yaml", "--upgrade-from", "/run/s.pid"}},
		{"an upgraded process", []string{"run", "-c", "a.yaml", "--pidfile", "/run/s.pid", "--upgrade-from", "/run/s.pid"},
			[]string{"run", "-c", "a.yaml", "--pidfile", "/run/s.pid", "--upgrade-from", "/run/s.pid"}},
		{"one dash and =", []string{"run", "-upgrade-from=/old.pid", "--pidfile=/run/s.pid"},
			[]string{"run", "--pidfile=/run/s.pid", "--upgrade-from", "/run/s.pid"}},
		{"a value that looks like the flag stays", []string{"run", "--set", "x=upgrade-from", "--pidfile", "/run/s.pid"},
			[]string{"run", "--set", "x=upgrade-from", "--pidfile", "/run/s.pid", "--upgrade-from", "/run/s.pid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := successorArgs(tt.args, "/run/s.pid"); !slices.Equal(got, tt.want) {
				t.Errorf("successorArgs(%q) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

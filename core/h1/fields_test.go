package h1

import "testing"

func testFields() []Field {
	f := func(n, v string) Field { return Field{Name: []byte(n), Value: []byte(v)} }
	return []Field{
		f("Host", "h"),
		f("X-A", "1"),
		f("x-b", "2"),
		f("X-a", "3"),
		f("X-AB", "4"),
		f("x-a", "5"),
	}
}

func TestLookup(t *testing.T) {
	fields := testFields()
	tests := []struct {
		name   string
		field  string
		occ    int
		want   string
		wantOK bool
	}{
		{"first", "x-a", 1, "1", true},
		{"second", "X-A", 2, "3", true},
		{"third", "x-A", 3, "5", true},
		{"past the end", "x-a", 4, "", false},
		{"last", "x-a", -1, "5", true},
		{"second from last", "x-a", -2, "3", true},
		{"third from last", "x-a", -3, "1", true},
		{"before the start", "x-a", -4, "", false},
		{"zero occurrence", "x-a", 0, "", false},
		{"prefix does not match", "x", 1, "", false},
		{"absent", "cookie", 1, "", false},
		{"single", "HOST", -1, "h", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Lookup(fields, tt.field, tt.occ)
			if ok != tt.wantOK || string(got) != tt.want {
				t.Fatalf("Lookup(%q, %d) = %q, %t; want %q, %t", tt.field, tt.occ, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCount(t *testing.T) {
	fields := testFields()
	for _, tt := range []struct {
		name  string
		field string
		want  int
	}{
		{"several", "X-A", 3},
		{"one", "x-ab", 1},
		{"none", "x-c", 0},
		{"empty name", "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Count(fields, tt.field); got != tt.want {
				t.Fatalf("Count(%q) = %d, want %d", tt.field, got, tt.want)
			}
		})
	}
}

func TestHasToken(t *testing.T) {
	tests := []struct {
		name  string
		value string
		token string
		want  bool
	}{
		{"alone", "close", "close", true},
		{"case", "Keep-Alive", "keep-alive", true},
		{"in list", "keep-alive, Upgrade", "upgrade", true},
		{"OWS", " \tfoo\t ,  bar  ", "bar", true},
		{"first of list", "foo,bar", "foo", true},
		{"empty elements", ",,foo,,", "foo", true},
		{"substring", "closed", "close", false},
		{"superstring", "clo", "close", false},
		{"inner space", "keep alive", "keep-alive", false},
		{"empty value", "", "close", false},
		{"empty token", "a,,b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HasToken([]byte(tt.value), tt.token); got != tt.want {
				t.Fatalf("HasToken(%q, %q) = %t", tt.value, tt.token, got)
			}
		})
	}
}

func TestValidField(t *testing.T) {
	for _, tt := range []struct {
		name  string
		field string
		want  bool
	}{
		{"token", "X-Forwarded-For", true},
		{"empty", "", false},
		{"space", "X Y", false},
		{"colon", "X:", false},
		{"crlf", "X\r\n", false},
	} {
		t.Run("name "+tt.name, func(t *testing.T) {
			if got := ValidFieldName([]byte(tt.field)); got != tt.want {
				t.Fatalf("ValidFieldName(%q) = %t", tt.field, got)
			}
		})
	}
	for _, tt := range []struct {
		name  string
		value string
		want  bool
	}{
		{"plain", "a b\tc", true},
		{"empty", "", true},
		{"obs-text", "caf\xc3\xa9", true},
		{"leading space", " a", false},
		{"trailing tab", "a\t", false},
		{"CRLF injection", "a\r\nX-Evil: 1", false},
		{"LF", "a\nb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7f", false},
	} {
		t.Run("value "+tt.name, func(t *testing.T) {
			if got := ValidFieldValue([]byte(tt.value)); got != tt.want {
				t.Fatalf("ValidFieldValue(%q) = %t", tt.value, got)
			}
		})
	}
}

func TestLookup_NoAlloc(t *testing.T) {
	fields := testFields()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := Lookup(fields, "x-a", -1); !ok {
			t.Fatal("not found")
		}
		if Count(fields, "x-a") != 3 || !HasToken(fields[0].Value, "h") {
			t.Fatal("wrong")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

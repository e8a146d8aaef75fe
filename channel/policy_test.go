package channel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p")
	os.WriteFile(path, []byte("# rules\ncaller +1425*   # sales\n\ndialed +18005550199\n"), 0o644)
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		caller, dialed string
		want           bool
	}{
		{"+14255550123", "+1999", true},
		{"+1426", "+18005550199", true},
		{"+1426", "+180055501990", false},
		{"+1426", "+1800", false},
	} {
		if got := p.Match(c.caller, c.dialed); got != c.want {
			t.Errorf("Match(%s, %s) = %v", c.caller, c.dialed, got)
		}
	}
	var none *Policy
	if none.Match("+1", "+1") {
		t.Fatal("nil policy matched")
	}
	os.WriteFile(path, []byte("caller +1\nbogus line here\n"), 0o644)
	if _, err := LoadPolicy(path); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("bad line: %v", err)
	}
}

package credfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "f")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	got, err := Read(write("# comment\n\nalice:pw:with:colons\n bob :x\nalice:second\n"))
	if err != nil || len(got) != 3 || got[0] != (Entry{"alice", "pw:with:colons"}) || got[1] != (Entry{"bob", "x"}) || got[2].Password != "second" {
		t.Fatalf("%+v %v", got, err)
	}
	for text, want := range map[string]string{"ok:1\nnopassword\n": ":2: want name:password", ":pw\n": ":1: want", "# only\n": "no name:password line"} {
		if _, err := Read(write(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}

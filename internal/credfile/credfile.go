package credfile

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Entry is one line of a credentials file.
type Entry struct {
	Name, Password string
}

// Read reads "name:password" lines in order; blank lines and lines
// starting with # are skipped. A line without both parts is an error that
// names it; so is a file without any entry.
func Read(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pw, ok := strings.Cut(line, ":")
		if name = strings.TrimSpace(name); !ok || name == "" || pw == "" {
			return nil, fmt.Errorf("%s:%d: want name:password", path, n)
		}
		out = append(out, Entry{name, pw})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no name:password line", path)
	}
	return out, nil
}

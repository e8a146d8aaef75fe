package botauth

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// LoadCredentials reads "appId:password" lines (blank lines and lines
// starting with # skipped) into app id -> passwords. An app may appear on
// several lines, one per password, while a password is rotated.
func LoadCredentials(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bot credentials: %w", err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, pw, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(id) == "" || pw == "" {
			return nil, fmt.Errorf("bot credentials %s:%d: want appId:password", path, n)
		}
		out[strings.TrimSpace(id)] = append(out[strings.TrimSpace(id)], pw)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bot credentials %s: %w", path, err)
	}
	return out, nil
}

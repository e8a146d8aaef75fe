package botauth

import (
	"fmt"

	"github.com/botline/botline/internal/credfile"
)

// LoadCredentials reads "appId:password" lines (blank lines and lines
// starting with # skipped) into app id -> passwords. An app may appear on
// several lines, one per password, while a password is rotated.
func LoadCredentials(path string) (map[string][]string, error) {
	entries, err := credfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("bot credentials: %w", err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		out[e.Name] = append(out[e.Name], e.Password)
	}
	return out, nil
}

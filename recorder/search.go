package recorder

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Query selects recordings by their metadata. Zero fields match anything.
type Query struct {
	From, To     time.Time // recording started in [From, To)
	Since, Until time.Time // recording ended in [Since, Until)
	Caller       string    // calling number; a trailing * matches a prefix
	Dialed       string    // dialed number; a trailing * matches a prefix
}

// ParseQuery reads a Query from URL parameters (times in RFC 3339).
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To, "since": &q.Since, "until": &q.Until} {
		if s := v.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, fmt.Errorf("%s: want an RFC 3339 time such as 2026-01-01T10:00:00Z", name)
			}
			*dst = t
		}
	}
	q.Caller, q.Dialed = v.Get("caller"), v.Get("dialed")
	return q, nil
}

func matchNumber(pattern, n string) bool {
	if pattern == "" {
		return true
	}
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(n, p)
	}
	return pattern == n
}

func inRange(s string, from, to time.Time) bool {
	if from.IsZero() && to.IsZero() {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return false
	}
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// Search returns the metadata of the recordings in st that match q, oldest
// first.
func Search(ctx context.Context, st Store, q Query) ([]Metadata, error) {
	ids, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	out := []Metadata{}
	for _, id := range ids {
		md, _, err := st.Metadata(ctx, id)
		if err != nil {
			continue
		}
		if matchNumber(q.Caller, md.CallerNumber) && matchNumber(q.Dialed, md.DialedNumber) &&
			inRange(md.ChunkStartTime, q.From, q.To) && inRange(md.ChunkEndTime, q.Since, q.Until) {
			out = append(out, md)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ChunkStartTime < out[j].ChunkStartTime })
	return out, nil
}

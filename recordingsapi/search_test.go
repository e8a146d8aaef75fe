package recordingsapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/botline/botline/recorder"
)

func TestSearch(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	rec := func(caller, dialed string) recorder.Info {
		r := recorder.New(recorder.Config{Dir: dir, CallerNumber: caller, DialedNumber: dialed, Now: clock})
		info, _ := r.Do(recorder.Start)
		now = now.Add(time.Minute)
		r.Do(recorder.Stop)
		now = now.Add(time.Hour)
		return info
	}
	a := rec("+14255550123", "+18005550199") // 10:00-10:01
	b := rec("+14255550999", "+18005550100") // 11:01-11:02
	c := rec("+33123456789", "+18005550199") // 12:02-12:03
	ids := func(ms []recorder.Metadata) (s []string) {
		for _, m := range ms {
			s = append(s, m.RecordingID)
		}
		return s
	}
	for name, tc := range map[string]struct {
		q    string
		want []string
	}{
		"all":           {"", []string{a.RecordingID, b.RecordingID, c.RecordingID}},
		"caller exact":  {"caller=%2B14255550123", []string{a.RecordingID}},
		"caller prefix": {"caller=%2B1425*", []string{a.RecordingID, b.RecordingID}},
		"dialed":        {"dialed=%2B18005550199", []string{a.RecordingID, c.RecordingID}},
		"started range": {"from=2026-03-01T11:00:00Z&to=2026-03-01T12:00:00Z", []string{b.RecordingID}},
		"ended since":   {"since=2026-03-01T11:30:00Z", []string{c.RecordingID}},
		"ended until":   {"until=2026-03-01T10:30:00Z", []string{a.RecordingID}},
		"combined":      {"dialed=%2B18005550199&from=2026-03-01T12:00:00Z", []string{c.RecordingID}},
		"none":          {"caller=%2B999", nil},
	} {
		code, _, body := get(t, serve(t, dir, "")+"/recordings?"+tc.q, nil)
		var res struct{ Recordings []recorder.Metadata }
		if code != 200 || json.Unmarshal(body, &res) != nil {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		if got := ids(res.Recordings); len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) || (len(got) > 1 && got[len(got)-1] != tc.want[len(tc.want)-1]) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
	if code, _, _ := get(t, serve(t, dir, "")+"/recordings?from=yesterday", nil); code != 400 {
		t.Fatalf("bad time: %d", code)
	}
	if code, _, _ := get(t, serve(t, dir, "tok")+"/recordings", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}

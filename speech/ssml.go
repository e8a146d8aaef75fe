package speech

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxBreak caps one SSML <break>: a bot cannot hold a caller in silence
// for longer with a single element.
const MaxBreak = 5 * time.Second

// Segment is one piece of a prompt: text to speak in a voice at a rate, or
// a pause.
type Segment struct {
	Text  string
	Voice string  // engine voice name; "" = the engine's default
	Rate  float64 // speaking rate, 1 = normal
	Break time.Duration
}

// ErrBadSSML is returned for SSML that is not well-formed.
var ErrBadSSML = errors.New("malformed SSML")

// Parse reads a prompt: plain text, or SSML when it starts with <speak>.
// It honours <voice name>, <break time|strength> (capped at MaxBreak),
// <prosody rate>, <sub alias>; other elements speak their text. Adjacent
// text in the same voice and rate is one segment.
func Parse(prompt string) ([]Segment, error) {
	p := strings.TrimSpace(prompt)
	if !strings.HasPrefix(p, "<speak") {
		if p == "" {
			return nil, nil
		}
		return []Segment{{Text: p, Rate: 1}}, nil
	}
	type style struct {
		voice string
		rate  float64
		sub   bool // inside <sub>: its text is replaced by the alias
	}
	stack := []style{{rate: 1}}
	var segs []Segment
	addText := func(t string) {
		t = strings.Join(strings.Fields(t), " ")
		if t == "" {
			return
		}
		st := stack[len(stack)-1]
		if n := len(segs); n > 0 && segs[n-1].Break == 0 && segs[n-1].Voice == st.voice && segs[n-1].Rate == st.rate {
			segs[n-1].Text += " " + t
			return
		}
		segs = append(segs, Segment{Text: t, Voice: st.voice, Rate: st.rate})
	}
	d := xml.NewDecoder(strings.NewReader(p))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSSML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			st := stack[len(stack)-1]
			switch t.Name.Local {
			case "voice":
				if v := attr(t, "name"); v != "" {
					st.voice = v
				}
			case "prosody":
				if r, ok := parseRate(attr(t, "rate")); ok {
					st.rate = clampRate(st.rate * r) // nested: the product, bounded
				}
			case "break":
				dur := breakTime(attr(t, "time"), attr(t, "strength"))
				if n := len(segs); n > 0 && segs[n-1].Break > 0 {
					segs[n-1].Break = min(MaxBreak, segs[n-1].Break+dur)
				} else if dur > 0 {
					segs = append(segs, Segment{Break: dur})
				}
			case "sub":
				addText(attr(t, "alias"))
				st.sub = true
			}
			stack = append(stack, st)
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if !stack[len(stack)-1].sub {
				addText(string(t))
			}
		}
	}
	return segs, nil
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// breakTime reads a <break>'s time ("500ms", "2s") or strength, capped.
func breakTime(t, strength string) time.Duration {
	var d time.Duration
	switch {
	case strings.HasSuffix(t, "ms"):
		if v, err := strconv.ParseFloat(strings.TrimSuffix(t, "ms"), 64); err == nil {
			d = time.Duration(v * float64(time.Millisecond))
		}
	case strings.HasSuffix(t, "s"):
		if v, err := strconv.ParseFloat(strings.TrimSuffix(t, "s"), 64); err == nil {
			d = time.Duration(v * float64(time.Second))
		}
	default:
		switch strength {
		case "none":
			d = 0
		case "x-weak":
			d = 100 * time.Millisecond
		case "weak":
			d = 250 * time.Millisecond
		case "", "medium":
			d = 500 * time.Millisecond
		case "strong":
			d = 750 * time.Millisecond
		case "x-strong":
			d = time.Second
		}
	}
	return max(0, min(d, MaxBreak))
}

// parseRate reads a <prosody rate>: a keyword, a percentage ("150%",
// "+20%", "-10%") or a number; the result is bounded to 0.5..2.
func parseRate(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	var r float64
	switch s {
	case "":
		return 0, false
	case "x-slow":
		r = 0.5
	case "slow":
		r = 0.75
	case "medium", "default":
		r = 1
	case "fast":
		r = 1.25
	case "x-fast":
		r = 1.75
	default:
		if pct, ok := strings.CutSuffix(s, "%"); ok {
			v, err := strconv.ParseFloat(pct, 64)
			if err != nil {
				return 0, false
			}
			if strings.HasPrefix(pct, "+") || strings.HasPrefix(pct, "-") {
				r = 1 + v/100
			} else {
				r = v / 100
			}
		} else {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, false
			}
			r = v
		}
	}
	return clampRate(r), true
}

// clampRate bounds a speaking rate to 0.5..2.
func clampRate(r float64) float64 { return max(0.5, min(r, 2)) }

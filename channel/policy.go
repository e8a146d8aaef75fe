package channel

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/botline/botline/internal/audio"
)

// Policy lists the calls recorded from answer to hang-up without any bot
// command (compliance recording). The file has one rule per line,
// "caller <pattern>" or "dialed <pattern>", where a pattern is a number
// matched exactly or, with a trailing *, as a prefix; # starts a comment.
type Policy struct {
	rules []policyRule
}

type policyRule struct {
	field   policyField
	pattern string
}

// policyField is the number a rule matches.
type policyField string

// Policy fields, as the file names them.
const (
	policyCaller policyField = "caller" // the From header's number
	policyDialed policyField = "dialed" // the Request-URI's number: where the trunk routed the call
)

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("record policy: %w", err)
	}
	defer f.Close()
	p := &Policy{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if f := policyField(fields[0]); len(fields) != 2 || (f != policyCaller && f != policyDialed) {
			return nil, fmt.Errorf("record policy %s:%d: want \"caller <number>\" or \"dialed <number>\" (a trailing * matches a prefix)", path, n)
		}
		p.rules = append(p.rules, policyRule{policyField(fields[0]), fields[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("record policy: %w", err)
	}
	return p, nil
}

// Match reports whether a call from caller to dialed must be recorded.
func (p *Policy) Match(caller, dialed string) bool {
	if p == nil {
		return false
	}
	for _, r := range p.rules {
		n := caller
		if r.field == policyDialed {
			n = dialed
		}
		if prefix, ok := strings.CutSuffix(r.pattern, "*"); ok && strings.HasPrefix(n, prefix) || r.pattern == n {
			return true
		}
	}
	return false
}

// CodePolicyEnforced refuses a stop of a policy recording.
const CodePolicyEnforced = "RecordingPolicyEnforced"

const msgPolicyEnforced = "Recording is enforced by policy and cannot be stopped"

// NoticeTone is the default recording notice: two 1400 Hz beeps of 150 ms,
// 100 ms apart, at 8 kHz.
func NoticeTone() []int16 {
	beep := audio.Tone(1400, 150*time.Millisecond, 8000, 8000)
	gap := make([]int16, 8000*100/1000)
	return slices.Concat(beep, gap, beep)
}

package recorder

import "testing"

// TestTransitionTable checks every cell of the state table in docs/PROTOCOL.md (4.1),
// including the exact error messages bots match on.
func TestTransitionTable(t *testing.T) {
	type cell struct {
		next State
		err  error
	}
	table := map[State][4]cell{
		Idle:      {{Recording, nil}, {Idle, ErrNotStarted}, {Idle, ErrNotStarted}, {Idle, ErrNotStarted}},
		Recording: {{Recording, ErrAlreadyInProgress}, {Paused, nil}, {Recording, ErrNotPaused}, {Idle, nil}},
		Paused:    {{Paused, ErrAlreadyInProgress}, {Paused, ErrAlreadyPaused}, {Recording, nil}, {Idle, nil}},
	}
	for s, row := range table {
		for c, want := range row {
			next, err := Transition(s, Command(c))
			if next != want.next || err != want.err {
				t.Errorf("%v + %v = (%v, %v), want (%v, %v)", s, Command(c), next, err, want.next, want.err)
			}
		}
	}
	if ErrAlreadyInProgress.Message != "Recording is already in progress" || ErrNotStarted.Message != "Recording has not started" {
		t.Fatalf("documented messages changed: %q, %q", ErrAlreadyInProgress.Message, ErrNotStarted.Message)
	}
}

// TestRecorderFollowsTable drives a real Recorder (real files) through every
// cell and checks it answers like Transition.
func TestRecorderFollowsTable(t *testing.T) {
	setup := map[State][]Command{Idle: nil, Recording: {Start}, Paused: {Start, Pause}}
	for s, prefix := range setup {
		for c := Start; c <= Stop; c++ {
			r := New(Config{Dir: t.TempDir(), CallID: "call"})
			for _, p := range prefix {
				if _, err := r.Do(p); err != nil {
					t.Fatal(err)
				}
			}
			wantNext, wantErr := Transition(s, c)
			_, err := r.Do(c)
			if err != wantErr {
				t.Errorf("%v + %v: err %v, want %v", s, c, err, wantErr)
			}
			if got := r.State(); got != wantNext {
				t.Errorf("%v + %v: state %v, want %v", s, c, got, wantNext)
			}
			r.Close(SessionEndCallEnded)
		}
	}
}

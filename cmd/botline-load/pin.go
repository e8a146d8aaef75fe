package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinning places the gateway (or the floor program) on CPU 0 and the
// generator, this process, on the other CPUs, so each is measured on
// cores of its own. With one CPU there is nothing to pin.
type pinning struct{ on bool }

// newPinning pins this process to CPUs 1..N-1 when asked and possible.
func newPinning(want bool) (pinning, error) {
	n := runtime.NumCPU()
	if !want || n < 2 {
		return pinning{}, nil
	}
	var set unix.CPUSet
	for cpu := 1; cpu < n; cpu++ {
		set.Set(cpu)
	}
	// every thread of the process: sched_setaffinity is per thread, and
	// new threads inherit their creator's set
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return pinning{}, fmt.Errorf("pin the generator: %w", err)
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return pinning{}, fmt.Errorf("pin the generator: %w", err)
		}
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return pinning{}, fmt.Errorf("pinning needs taskset (Debian's util-linux): %w", err)
	}
	// As many Ps as CPUs left to it: more threads than CPUs would take
	// turns on them, and a sender descheduled for a time slice sends late.
	runtime.GOMAXPROCS(n - 1)
	return pinning{on: true}, nil
}

// command is exec.Command for the measured program: under `taskset -c 0`
// when pinning.
func (p pinning) command(name string, args ...string) *exec.Cmd {
	if !p.on {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", "0", name}, args...)...)
}

// describe says where things ran, for the table's footer.
func (p pinning) describe() string {
	if !p.on {
		return "gateway and generator unpinned on the same machine"
	}
	return fmt.Sprintf("gateway (and floor) pinned to CPU 0 with taskset, generator to CPUs 1-%d", runtime.NumCPU()-1)
}

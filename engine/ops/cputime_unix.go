//go:build unix

package ops

import (
	"math"
	"syscall"
	"time"
)

// CPUSeconds is the user and system CPU time this process has used: on a
// busy shared host, work per CPU second is steadier than work per wall
// second, so the benchmarks report both.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

//go:build windows

package ops

import (
	"math"
	"time"

	"golang.org/x/sys/windows"
)

// CPUSeconds is the user and system CPU time this process has used: on a
// busy shared host, work per CPU second is steadier than work per wall
// second, so the benchmarks report both.
func CPUSeconds() float64 {
	var created, exited, kernel, user windows.Filetime
	if windows.GetProcessTimes(windows.CurrentProcess(), &created, &exited, &kernel, &user) != nil {
		return math.NaN()
	}
	// A Filetime counts 100 ns intervals.
	ticks := func(f windows.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration((ticks(kernel) + ticks(user)) * 100).Seconds()
}

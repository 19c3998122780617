//go:build !windows

package trainer

// memSource names where the available memory was read.
const memSource = "MemAvailable in /proc/meminfo"

// systemMemAvailable is for systems without /proc/meminfo; here the file
// is read instead.
func systemMemAvailable() (n int64, ok bool, err error) { return 0, false, nil }

// systemProcStatus is for systems without /proc/self/status.
func systemProcStatus(key string) (int64, bool) { return 0, false }

//go:build !linux && !darwin && !windows

package hub

// diskFree cannot measure free space on this system: the download proceeds
// and a full disk is reported when a write fails.
func diskFree(string) (int64, bool) { return 0, false }

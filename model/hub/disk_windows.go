//go:build windows

package hub

import "golang.org/x/sys/windows"

// diskFree returns the bytes available to the calling user on the volume
// holding dir (GetDiskFreeSpaceEx, which honours disk quotas).
func diskFree(dir string) (int64, bool) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, false
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, false
	}
	return int64(avail), true
}

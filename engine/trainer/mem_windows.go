//go:build windows

package trainer

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// memSource names where the available memory was read.
const memSource = "available physical memory from GlobalMemoryStatusEx"

var (
	kernel32                 = windows.NewLazySystemDLL("kernel32.dll")
	procGlobalMemoryStatusEx = kernel32.NewProc("GlobalMemoryStatusEx")
	procGetProcessMemoryInfo = kernel32.NewProc("K32GetProcessMemoryInfo")
)

// memoryStatusEx is MEMORYSTATUSEX.
type memoryStatusEx struct {
	Length               uint32
	MemoryLoad           uint32
	TotalPhys            uint64
	AvailPhys            uint64
	TotalPageFile        uint64
	AvailPageFile        uint64
	TotalVirtual         uint64
	AvailVirtual         uint64
	AvailExtendedVirtual uint64
}

// processMemoryCounters is PROCESS_MEMORY_COUNTERS.
type processMemoryCounters struct {
	Cb                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
}

// systemMemAvailable is the physical memory available now
// (MEMORYSTATUSEX.ullAvailPhys), Windows' counterpart of MemAvailable.
func systemMemAvailable() (int64, bool, error) {
	st := memoryStatusEx{Length: uint32(unsafe.Sizeof(memoryStatusEx{}))}
	if r, _, err := procGlobalMemoryStatusEx.Call(uintptr(unsafe.Pointer(&st))); r == 0 {
		return 0, true, fmt.Errorf("GlobalMemoryStatusEx: %w", err)
	}
	return int64(st.AvailPhys), true, nil
}

// systemProcStatus answers the /proc/self/status keys the trainer reads
// from the process's working set: VmHWM is its peak, VmRSS its size now.
func systemProcStatus(key string) (int64, bool) {
	c := processMemoryCounters{Cb: uint32(unsafe.Sizeof(processMemoryCounters{}))}
	r, _, _ := procGetProcessMemoryInfo.Call(uintptr(windows.CurrentProcess()), uintptr(unsafe.Pointer(&c)), uintptr(c.Cb))
	if r == 0 {
		return 0, true
	}
	switch key {
	case "VmHWM":
		return int64(c.PeakWorkingSetSize), true
	case "VmRSS":
		return int64(c.WorkingSetSize), true
	}
	return 0, true
}

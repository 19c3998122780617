// A stand-in for Windows' bcryptprimitives.dll, for testing under Wine
// only: Go's runtime (1.24 and later) takes its random bytes from
// ProcessPrng in that DLL, which every Windows 10 and 11 has but Wine 8
// (Debian 12) does not. scripts/wine-test.sh builds it and puts it into the
// test's Wine prefix (system32); it is never shipped. ProcessPrng is
// BCryptGenRandom with the system's preferred generator.
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}

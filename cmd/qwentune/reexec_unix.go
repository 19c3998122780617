//go:build unix

package main

import "syscall"

// reexec replaces the process with exe run with argv and env.
func reexec(exe string, argv, env []string) error { return syscall.Exec(exe, argv, env) }

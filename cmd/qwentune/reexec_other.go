//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// reexec runs exe with argv and env as a child (there is no exec(2) here),
// passes its output through, and exits with its status.
func reexec(exe string, argv, env []string) error {
	cmd := exec.Command(exe, argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

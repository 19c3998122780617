// Command desktop opens the QwenTune desktop app; an optional argument is
// the config.yml to open.
package main

import (
	"fmt"
	"os"
	"strings"

	fyneapp "fyne.io/fyne/v2/app"

	"qwentune/app"
)

func main() {
	defer noDisplay()
	app.Start(fyneapp.NewWithID("io.qwentune.app"), os.Args[1:]).ShowAndRun()
}

// noDisplay turns the GLFW panic Fyne raises when no window can be opened
// (no X server or Wayland compositor, or DISPLAY naming one that is gone)
// into a message that says what is wrong and what else works; any other
// panic goes on as it was.
func noDisplay() {
	r := recover()
	if r == nil {
		return
	}
	msg := fmt.Sprint(r)
	if !strings.Contains(msg, "GLFW") && !strings.Contains(msg, "PlatformError") {
		panic(r)
	}
	where := os.Getenv("DISPLAY")
	if where == "" {
		where = "(DISPLAY is not set)"
	}
	fmt.Fprintf(os.Stderr, "qwentune-desktop: cannot open a window on display %s: %s\n"+
		"Run it in a desktop session, or use the headless command line twin, qwentune, which does the same work.\n", where, msg)
	os.Exit(1)
}

// Command desktop opens the QwenTune desktop app; an optional argument is
// the config.yml to open.
package main

import (
	"os"

	fyneapp "fyne.io/fyne/v2/app"

	"qwentune/app"
)

func main() {
	app.Start(fyneapp.NewWithID("io.qwentune.app"), os.Args[1:]).ShowAndRun()
}

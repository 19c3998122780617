// Command desktop opens the QwenTune desktop app.
package main

import (
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/widget"
)

func main() {
	a := app.NewWithID("io.qwentune.app")
	w := a.NewWindow("QwenTune")
	w.SetContent(widget.NewLabel("QwenTune"))
	w.ShowAndRun()
}

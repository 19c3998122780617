package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"qwentune/engine"
	"qwentune/engine/nn"
	"qwentune/model/tokenizer"
)

// Chat modes.
const (
	ChatBase  = "Base"
	ChatTuned = "Fine-tuned"
	ChatBoth  = "Both side by side"
)

// chatScreen talks to the base model, the fine-tune, or both side by side,
// streaming the answers.
type chatScreen struct {
	u *UI

	mode   *widget.RadioGroup
	system *widget.Entry
	input  *widget.Entry
	sendB  *widget.Button
	stopB  *widget.Button
	clearB *widget.Button
	copyB  *widget.Button
	status *widget.Label
	// think is the think-first switch, shown for chat templates that read
	// enable_thinking (Qwen3's).
	think   *widget.Check
	sampler map[string]*widget.Entry
	columns *fyne.Container

	base, tuned *chatColumn
	cancelFn    context.CancelFunc
}

// chatColumn is one transcript: its own history, since base and fine-tune
// answer differently.
type chatColumn struct {
	title   string
	history []tokenizer.Message
	box     *fyne.Container
	scroll  *container.Scroll
}

func newChatColumn(title string) *chatColumn {
	c := &chatColumn{title: title, box: container.NewVBox()}
	c.scroll = container.NewVScroll(c.box)
	return c
}

func (c *chatColumn) view() fyne.CanvasObject {
	head := widget.NewLabelWithStyle(c.title, fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	return container.NewBorder(head, nil, nil, nil, c.scroll)
}

// addThinking appends a hidden bubble for a reply's thinking, shown apart
// from the answer once the reply is complete.
func (c *chatColumn) addThinking() *widget.Label {
	l := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	l.Wrapping = fyne.TextWrapWord
	l.Selectable = true
	l.Importance = widget.LowImportance
	l.Hide()
	c.box.Add(l)
	return l
}

// add appends a message bubble and returns its label.
func (c *chatColumn) add(role, text string) *widget.Label {
	who := widget.NewLabelWithStyle(role, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	if role == "you" {
		who.Importance = widget.HighImportance
	} else {
		who.Importance = widget.SuccessImportance
	}
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	l.Selectable = true
	c.box.Add(container.NewVBox(who, l))
	c.scroll.ScrollToBottom()
	return l
}

func (c *chatColumn) clear() {
	c.history = nil
	c.box.RemoveAll()
}

// transcript is the column as plain text.
func (c *chatColumn) transcript() string {
	var b strings.Builder
	for _, m := range c.history {
		fmt.Fprintf(&b, "%s: %s\n\n", m.Role, m.Content)
	}
	return b.String()
}

// Sampling control keys, in display order.
var samplingKeys = []struct{ key, label string }{
	{"chat.temperature", "temperature"},
	{"chat.top_p", "top-p"},
	{"chat.top_k", "top-k"},
	{"chat.max_new_tokens", "max tokens"},
	{"chat.repetition_penalty", "repetition penalty"},
}

func newChatScreen(u *UI) *chatScreen {
	s := &chatScreen{u: u, base: newChatColumn("Base model"), tuned: newChatColumn("Fine-tuned"), sampler: map[string]*widget.Entry{}}
	s.mode = widget.NewRadioGroup([]string{ChatBase, ChatTuned, ChatBoth}, func(string) { s.layout() })
	s.mode.Horizontal = true
	s.mode.SetSelected(ChatTuned)
	s.system = widget.NewEntry()
	s.system.SetPlaceHolder("System prompt (empty: the chat template's default)")
	s.system.OnChanged = func(v string) { s.u.st.setKey("chat.system_prompt", v, s) }
	s.input = widget.NewMultiLineEntry()
	s.input.SetPlaceHolder("Type a message; Send (or Shift+Enter) asks the model")
	s.input.SetMinRowsVisible(2)
	s.input.Wrapping = fyne.TextWrapWord
	s.sendB = widget.NewButton("Send", func() { s.Send(s.input.Text) })
	s.sendB.Importance = widget.HighImportance
	s.stopB = widget.NewButton("Stop", s.stop)
	s.clearB = widget.NewButton("Clear", s.clear)
	s.copyB = widget.NewButton("Copy", s.copyTranscript)
	s.think = widget.NewCheck("Think first", nil)
	s.think.SetChecked(true)
	s.think.Hide()
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	for _, k := range samplingKeys {
		e := widget.NewEntry()
		key := k.key
		e.Validator = func(v string) error {
			c := s.u.st.cfg
			return cleanSetError(c.Set(key + "=" + v))
		}
		e.OnChanged = func(v string) { s.u.st.setKey(key, v, s) }
		s.sampler[key] = e
	}
	s.columns = container.NewGridWithColumns(1)
	u.st.observe(s.changed)
	return s
}

// changed follows the state: the chat settings, a new model (whose
// transcripts no longer apply), the buttons and the adapter status.
func (s *chatScreen) changed(c change) {
	if c.config && c.from != s {
		s.load()
	}
	if c.session {
		s.base.clear()
		s.tuned.clear()
		if sess := s.u.st.sess; sess != nil && sess.Tokenizer.SupportsThinking() {
			s.think.Show()
		} else {
			s.think.Hide()
		}
	}
	s.refresh()
}

func (s *chatScreen) content() fyne.CanvasObject {
	form := widget.NewForm()
	for _, k := range samplingKeys {
		form.Append(k.label, s.sampler[k.key])
	}
	side := container.NewVBox(widget.NewCard("Sampling", "temperature 0 is greedy", form))
	top := container.NewVBox(container.NewBorder(nil, nil, widget.NewLabel("Model:"), s.think, s.mode), s.system, s.status)
	send := container.NewVBox(s.sendB, s.stopB)
	bottom := container.NewBorder(nil, nil, nil, container.NewHBox(send, container.NewVBox(s.clearB, s.copyB)), s.input)
	s.input.OnSubmitted = func(v string) { s.Send(v) }
	s.layout()
	main := container.NewBorder(top, bottom, nil, nil, s.columns)
	split := container.NewHSplit(main, container.NewVScroll(side))
	split.Offset = 0.75
	return split
}

// layout shows one or two transcripts by mode.
func (s *chatScreen) layout() {
	if s.columns == nil {
		return
	}
	var objs []fyne.CanvasObject
	switch s.mode.Selected {
	case ChatBase:
		objs = []fyne.CanvasObject{s.base.view()}
	case ChatTuned:
		objs = []fyne.CanvasObject{s.tuned.view()}
	default:
		objs = []fyne.CanvasObject{s.base.view(), s.tuned.view()}
	}
	s.columns.Layout = container.NewGridWithColumns(len(objs)).Layout
	s.columns.Objects = objs
	s.columns.Refresh()
}

// load shows the config's chat settings.
func (s *chatScreen) load() {
	vals, err := configValues(s.u.st.cfg)
	if err != nil {
		return
	}
	for key, e := range s.sampler {
		if e.Text != vals[key] {
			e.SetText(vals[key])
		}
	}
	if s.system.Text != s.u.st.cfg.Chat.SystemPrompt {
		s.system.SetText(s.u.st.cfg.Chat.SystemPrompt)
	}
}

func (s *chatScreen) refresh() {
	busy := s.cancelFn != nil
	setEnabled(s.sendB, s.u.st.sess != nil && s.u.st.idle())
	setEnabled(s.stopB, busy)
	setEnabled(s.clearB, !busy)
	switch {
	case s.u.st.sess == nil:
		s.status.SetText("Load a model on the Model & config tab to chat.")
	case busy:
	default:
		if dir := s.u.st.adapterDir(); engine.HasAdapter(dir) {
			s.status.SetText("Fine-tuned = base model + the adapter in " + dir + ".")
		} else {
			s.status.SetText("No adapter in " + s.u.st.adapterWhere() + " yet: train first to chat with the fine-tune; the base model works now.")
		}
	}
}

// Send asks the model(s) of the current mode to answer text, streaming the
// answers; in side-by-side mode the base model answers first, then the
// fine-tune (one session runs one job at a time).
func (s *chatScreen) Send(text string) {
	text = strings.TrimSpace(text)
	sess := s.u.st.sess
	if text == "" || sess == nil {
		return
	}
	smp := engine.ChatSampling(s.u.st.cfg.Chat)
	if err := s.u.st.cfg.Validate(); err != nil {
		s.u.showError(err, "Fix the sampling settings shown in red.")
		return
	}
	var cols []*chatColumn
	var adapters []*nn.Adapter
	mode := s.mode.Selected
	if mode != ChatTuned {
		cols, adapters = append(cols, s.base), append(adapters, nil)
	}
	if mode != ChatBase {
		a, _, err := s.u.st.fineTune()
		if err != nil {
			s.u.showError(err, "Train a model first (Train tab), set model.adapter to an adapter folder, or chat with the base model.")
			return
		}
		cols, adapters = append(cols, s.tuned), append(adapters, a)
	}
	if !s.u.startJob("chat") {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelFn = cancel
	s.input.SetText("")
	system := s.u.st.cfg.Chat.SystemPrompt
	histories := make([][]tokenizer.Message, len(cols))
	labels := make([]*widget.Label, len(cols))
	thoughts := make([]*widget.Label, len(cols))
	var think *bool
	if s.think.Visible() {
		on := s.think.Checked
		think = &on
	}
	for i, c := range cols {
		c.history = append(c.history, tokenizer.Message{Role: "user", Content: text})
		histories[i] = append([]tokenizer.Message(nil), c.history...)
		c.add("you", text)
		thoughts[i] = c.addThinking()
		labels[i] = c.add("model", "…")
	}
	s.refresh()
	go func() {
		var failure error
		for i, c := range cols {
			var streamed strings.Builder
			t := throttle{interval: 50 * time.Millisecond}
			col, label, thought, finished := c, labels[i], thoughts[i], false
			comp, err := sess.ChatThinking(ctx, adapters[i], system, histories[i], think, smp, func(piece string) {
				runOnUI(func() {
					streamed.WriteString(piece)
					t.do(func() {
						if !finished {
							label.SetText(streamed.String())
							col.scroll.ScrollToBottom()
						}
					})
				})
			})
			runOnUI(func() {
				finished = true
				// The thinking is shown apart and kept apart in the
				// history: the template decides whether it goes back in.
				reply := engine.AssistantMessage(comp.Text)
				answer := reply.Content
				if reply.ReasoningContent != "" {
					thought.SetText("Thinking: " + reply.ReasoningContent)
					thought.Show()
				}
				if err != nil {
					answer = "(no answer: " + err.Error() + ")"
				} else if comp.Stopped == "cancelled" {
					answer += " [stopped]"
				} else if comp.Stopped == "length" {
					answer += " [max tokens reached]"
				}
				label.SetText(answer)
				col.history = append(col.history, reply)
				col.scroll.ScrollToBottom()
			})
			if err != nil {
				failure = err
				break
			}
			if ctx.Err() != nil {
				break
			}
		}
		runOnUI(func() {
			cancel()
			s.cancelFn = nil
			s.u.st.endJob()
			if failure != nil {
				s.u.showError(failure, "Shorten the conversation (Clear) or lower max tokens; the prompt and the answer must fit the model's context.")
			}
		})
	}()
}

// stop cancels the answer being generated.
func (s *chatScreen) stop() {
	if s.cancelFn != nil {
		s.cancelFn()
	}
}

func (s *chatScreen) clear() {
	s.base.clear()
	s.tuned.clear()
}

// copyTranscript puts the visible conversation(s) on the clipboard.
func (s *chatScreen) copyTranscript() {
	var text string
	switch s.mode.Selected {
	case ChatBase:
		text = s.base.transcript()
	case ChatTuned:
		text = s.tuned.transcript()
	default:
		text = "== base ==\n" + s.base.transcript() + "== fine-tuned ==\n" + s.tuned.transcript()
	}
	s.u.app.Clipboard().SetContent(text)
	s.status.SetText("Copied " + strconv.Itoa(len(text)) + " characters to the clipboard.")
}

package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Word pools for mixedCorpus, by script. U+0085 and U+FEFF are left out on purpose: JavaScript's \s
// and Unicode White_Space (what Hugging Face and we use) disagree on them; pretokenize_test covers them.
var corpusPools = [][]string{
	strings.Fields("the of and to in is was that for it with as his on be at by I this had not are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people Mr how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three"),
	strings.Fields("Hello World The A It In When However Therefore Meanwhile Python JavaScript Go Rust HTTP JSON API URL CPU GPU LoRA Qwen OpenAI GitHub iPhone McDonald's O'Reilly don't can't won't it's I'm you're we've they'll she'd ISN'T WASN'T"),
	strings.Fields("der die das und ist nicht Straße Größe Übung Mädchen schön über für Käse Brötchen naïve café résumé façade garçon élève être Noël Ægir Øresund smørrebrød Ñandú España añejo São Paulo coração Kraków Łódź żółw"),
	strings.Fields("Привет мир это тест русского текста Москва Санкт-Петербург Ελληνικά γλώσσα Αθήνα καλημέρα Україна Київ"),
	strings.Fields("你好 世界 我们 中国 北京 上海 学习 机器 语言 模型 训练 数据 的 是 了 在 人工智能 深度学习 日本語 東京 こんにちは ありがとう カタカナ ひらがな 한국어 서울 안녕하세요 감사합니다"),
	strings.Fields("مرحبا العالم السلام عليكم كتاب مدرسة नमस्ते दुनिया भारत हिन्दी भाषा कंप्यूटर தமிழ் ภาษาไทย שלום עולם"),
	{"😀", "😂", "🙂", "👍", "👍🏽", "🎉", "❤️", "🔥", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇯🇵", "✨", "🚀", "☕", "⚡", "✅", "❌", "→", "©", "™", "€", "£", "¥", "°C", "±", "≤", "≥", "∑", "√", "∞", "π"},
	{"func", "return", "if", "else", "for", "while", "def", "class", "import", "from", "const", "let", "var", "int", "string", "nil", "None", "true", "false", "self", "this", "fmt.Println", "console.log", "std::vector", "i++", "x->y", "a::b", "=>", "!=", "==", "&&", "||", "<=", ">=", "+=", "{", "}", "(", ")", "[", "]", ";", ":", "//", "/*", "*/", "#", "@", "$", "%", "^", "&", "*", "~", "`", "\\", "|"},
}

var corpusSpaces = []string{" ", " ", " ", " ", " ", " ", " ", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n", "\n  ", "\t\t", "\u00a0", "\u3000", "\u2009", "\u200b", "    "}

var corpusPunct = []string{".", ",", "!", "?", ";", ":", "...", "!!", "?!", "\"", "'", "(", ")", "-", "—", "–", "«", "»", "“", "”", "’", "、", "。", "，", "！", "？", "،", "।"}

// mixedCorpus generates about size bytes of varied text in lines: words from several scripts with a
// Zipf-like frequency, invented words, numbers, punctuation, white-space runs, code, JSON, URLs,
// emoji, decomposed accents and special tokens. The same seed gives the same text.
func mixedCorpus(seed uint64, size int) []string {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	zipf := func(n int) int { // rank k with weight about 1/(k+1)
		return min(n-1, int(float64(n)*r.Float64()*r.Float64()*r.Float64()))
	}
	var lines []string
	total := 0
	for total < size {
		var b strings.Builder
		target := 50 + r.IntN(1500)
		for b.Len() < target {
			switch k := r.IntN(100); {
			case k < 55:
				pool := corpusPools[zipf(len(corpusPools))]
				b.WriteString(pool[zipf(len(pool))])
			case k < 62:
				n := 1 + r.IntN(14)
				for i := 0; i < n; i++ {
					c := byte('a' + r.IntN(26))
					if r.IntN(8) == 0 {
						c -= 32
					}
					b.WriteByte(c)
				}
			case k < 68:
				switch r.IntN(5) {
				case 0:
					fmt.Fprintf(&b, "%d", r.IntN(100000))
				case 1:
					fmt.Fprintf(&b, "%.3f", r.Float64()*1000)
				case 2:
					fmt.Fprintf(&b, "%04d-%02d-%02d", 1900+r.IntN(200), 1+r.IntN(12), 1+r.IntN(28))
				case 3:
					fmt.Fprintf(&b, "%d %03d %03d", r.IntN(1000), r.IntN(1000), r.IntN(1000))
				default:
					fmt.Fprintf(&b, "0x%X", r.Uint32())
				}
			case k < 78:
				b.WriteString(corpusPunct[r.IntN(len(corpusPunct))])
			case k < 80:
				fmt.Fprintf(&b, `{"id": %d, "name": "item_%d", "tags": ["a", "b"], "ok": %v}`, r.IntN(1000), r.IntN(100), r.IntN(2) == 0)
			case k < 82:
				fmt.Fprintf(&b, "https://example.org/%s/page_%d?q=%s&n=%d#top", corpusPools[0][r.IntN(40)], r.IntN(100), corpusPools[0][r.IntN(40)], r.IntN(10))
			case k < 84:
				fmt.Fprintf(&b, "\nfunc f%d(x int) int {\n\tif x > %d {\n\t\treturn x * 2\n\t}\n\treturn x\n}\n", r.IntN(100), r.IntN(10))
			case k < 86:
				w := []string{"e\u0301", "a\u0300", "o\u0308", "n\u0303", "c\u0327", "u\u030a", "q\u0307", "x\u0323\u0302"}
				b.WriteString(w[r.IntN(len(w))])
			case k < 87:
				sp := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "<|fim_prefix|>", "<|im_start", "|>", "<|"}
				b.WriteString(sp[r.IntN(len(sp))])
			case k < 88:
				b.WriteString([]string{"I'm", "you're", "IT'S", "we'VE", "'ll", "'d", "'S"}[r.IntN(7)])
			default:
				b.WriteString(corpusSpaces[r.IntN(len(corpusSpaces))])
				continue
			}
			if r.IntN(4) != 0 {
				b.WriteString(corpusSpaces[zipf(len(corpusSpaces))])
			}
		}
		lines = append(lines, b.String())
		total += b.Len()
	}
	return lines
}

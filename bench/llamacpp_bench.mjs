// llama.cpp reference for `qwentune bench infer`, through the npm package
// node-llama-cpp (which ships llama.cpp's prebuilt CPU backends).
//
// Install the peer outside the repo once:
//   mkdir -p /tmp/llamapeer && cd /tmp/llamapeer && npm init -y && npm install node-llama-cpp@3.21.1
// then:
//   node bench/llamacpp_bench.mjs --gguf model.gguf [--prompt-len 64] [--gen 32] [--threads 2] [--peer /tmp/llamapeer] [--json]
//
// It evaluates a --prompt-len random prompt (prefill: logits for the last
// position only) and then decodes --gen tokens greedily, the workload of
// `qwentune bench infer`, and prints tokens/s, weight bytes read per second
// and peak RSS (VmHWM).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {pathToFileURL} from "node:url";
import {parseArgs} from "node:util";

const {values: a} = parseArgs({options: {
	gguf: {type: "string"},
	"prompt-len": {type: "string", default: "64"},
	gen: {type: "string", default: "32"},
	threads: {type: "string", default: String(os.availableParallelism())},
	peer: {type: "string", default: process.env.LLAMA_PEER_DIR || "/tmp/llamapeer"},
	json: {type: "boolean", default: false},
}});
if (!a.gguf) {
	console.error("usage: node bench/llamacpp_bench.mjs --gguf FILE [--prompt-len 64] [--gen 32] [--threads N] [--peer DIR] [--json]");
	process.exit(2);
}
const entry = path.join(a.peer, "node_modules", "node-llama-cpp", "dist", "index.js");
if (!fs.existsSync(entry)) {
	console.error(`${entry}: not found; install the peer: mkdir -p ${a.peer} && cd ${a.peer} && npm init -y && npm install node-llama-cpp@3.21.1`);
	process.exit(1);
}
const {getLlama} = await import(pathToFileURL(entry).href);
const promptLen = Number(a["prompt-len"]), gen = Number(a.gen), threads = Number(a.threads);

function peakRSS() {
	const m = fs.readFileSync("/proc/self/status", "utf8").match(/VmHWM:\s+(\d+)/);
	return m ? Number(m[1]) * 1024 : 0;
}

const llama = await getLlama({gpu: false, build: "never", maxThreads: threads});
const model = await llama.loadModel({modelPath: a.gguf, gpuLayers: 0});
const context = await model.createContext({contextSize: promptLen + gen + 16, batchSize: Math.max(512, promptLen), threads: {ideal: threads, min: threads}});
const seq = context.getSequence();

// A deterministic random prompt of ordinary (non-special) token ids.
let s = 12345;
const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const nTokens = model.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length ?? 151936;
const vocab = Math.min(nTokens, 151643); // Qwen2's special tokens start at 151643
const prompt = Array.from({length: promptLen}, () => Math.floor(rnd() * vocab));

const t0 = performance.now();
await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
const it = seq.evaluate(prompt.slice(-1), {temperature: 0});
let r = await it.next();
const prefill = (performance.now() - t0) / 1000;
let generated = 0;
const t1 = performance.now();
while (generated < gen && !r.done) {
	r = await it.next();
	if (!r.done) generated++;
}
const decode = (performance.now() - t1) / 1000;
await it.return();

// Weight bytes: the GGUF's tensor data (the file minus its small header).
const weightBytes = fs.statSync(a.gguf).size;
const res = {
	impl: "llama.cpp (node-llama-cpp)",
	threads,
	cpu_backend: (llama.systemInfo || "").split("|").slice(0, 12).join("|").trim(),
	prefill_tokens_per_s: promptLen / prefill,
	decode_tokens_per_s: generated / decode,
	decode_tokens: generated,
	decode_bytes_per_s: weightBytes * generated / decode,
	peak_rss_bytes: peakRSS(),
};
await context.dispose();
await model.dispose();
if (a.json) {
	console.log(JSON.stringify(res));
} else {
	for (const k of Object.keys(res).sort()) console.log(k.padEnd(24), res[k]);
}

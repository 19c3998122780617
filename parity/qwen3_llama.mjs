// Greedy decoding with llama.cpp (node-llama-cpp@3.21.1) for parity/qwen3_test.go:
//   node parity/qwen3_llama.mjs PEER_DIR MODEL.gguf '[prompt ids]' N
// prints {"tokens": [...]} — the N tokens llama.cpp picks at temperature 0 after the prompt.
import path from "node:path";
import {pathToFileURL} from "node:url";

const [peer, gguf, idsJSON, nStr] = process.argv.slice(2);
const entry = path.join(peer, "node_modules", "node-llama-cpp", "dist", "index.js");
const {getLlama} = await import(pathToFileURL(entry).href);
const prompt = JSON.parse(idsJSON), n = Number(nStr);
const llama = await getLlama({gpu: false, build: "never"});
const model = await llama.loadModel({modelPath: gguf, gpuLayers: 0});
const context = await model.createContext({contextSize: prompt.length + n + 16});
const seq = context.getSequence();
const tokens = [];
const it = seq.evaluate(prompt, {temperature: 0});
while (tokens.length < n) {
	const r = await it.next();
	if (r.done) break;
	tokens.push(r.value);
}
await it.return();
await context.dispose();
await model.dispose();
process.stdout.write(JSON.stringify({tokens}));

// smoke.mjs - exits 0 when node-llama-cpp's prebuilt CPU binary loads here
// (used by scripts/setup-ref.sh after installing).
import { getReferenceLlama } from "./ref.mjs";

const llama = await getReferenceLlama();
process.stdout.write(`node-llama-cpp loaded llama.cpp ${llama.llamaCppRelease?.release ?? ""} (${llama.gpu || "cpu"})\n`);

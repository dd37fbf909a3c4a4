// Writes each fuzz target's starting corpus into fuzz/corpus/<target>/ (not
// committed): the Markdown target gets every input of the shared hostile
// corpus (tests/corpus/markdown-hostile.json, which the Rust and browser
// tests read too); the others a few valid and hostile examples.
//
// Run: node fuzz/seed-corpus.mjs   (docs/fuzzing.md)

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FUZZ = dirname(fileURLToPath(import.meta.url));
const corpus = JSON.parse(readFileSync(join(FUZZ, '../tests/corpus/markdown-hostile.json'), 'utf8'));

const seeds = {
  markdown: [
    ...corpus.inputs,
    // The generated entries, shorter: libFuzzer's default -max_len is 4096.
    ...corpus.generated.map((g) => (g.head ?? '') + g.unit.repeat(Math.min(g.times, 1000)) + g.tail),
  ],
  mask: [
    '我的手机号是13812345678，谢谢',
    'call +86 138-1234-5678 or wang@example.cn',
    'id 11010519491231002X card 4111 1111 1111 1111 tel 010-12345678',
    '{"message":"said:\\n13812345678","field":"\\"\\\\nli@example.com\\""}',
    'order SO13812345678 3.14 2024-06-15 +447946095812',
  ],
  ws_decode: [
    '{"type":"message.send","client_msg_id":"c-1","body":"你好"}',
    '{"type":"message.send","conversation_id":"0193a8e2-5c1f-7d3a-9b2e-4f6a8c0d1e2f","client_msg_id":"c-2","body":"x","private":true}',
    '{"type":"sync","conversation_id":"0193a8e2-5c1f-7d3a-9b2e-4f6a8c0d1e2f","after_seq":1}',
    '{"type":"typing","conversation_id":"0193a8e2-5c1f-7d3a-9b2e-4f6a8c0d1e2f","on":true}',
    '{"type":"read","conversation_id":"0193a8e2-5c1f-7d3a-9b2e-4f6a8c0d1e2f","seq":3}',
    '{"type":"ping"}',
    '{"type":"auth","token":"abc"}',
    '{"type":"message.send","client_msg_id":"c-1","body":"a\\u0000b"}',
  ],
  import_line: [
    '{"external_id":"hours","title":"营业时间","body":"每天 9:00–21:00 在线。","questions":["几点上班"]}\n{"title":"t","body":"b","tags":["a"],"locale":"en"}\n\n{"title":"nul","body":"a\\u0000b"}\n{"title":',
  ],
};

for (const [target, inputs] of Object.entries(seeds)) {
  const dir = join(FUZZ, 'corpus', target);
  mkdirSync(dir, { recursive: true });
  inputs.forEach((s, i) => writeFileSync(join(dir, `seed-${String(i).padStart(3, '0')}`), s));
  console.log(`${target}: ${inputs.length} seeds in ${dir}`);
}

#!/usr/bin/env node
// gen.mjs - a deterministic corpus of varied texts for differential tests
// (tokenizer and embedding against llama.cpp).
//
//   node tests/corpus/gen.mjs [--seed N] [--count N] [-o FILE]
// writes one JSON string per line (default: 2400 texts, seed 1, to stdout).
// As a module: import { generateCorpus } from "./gen.mjs"; generateCorpus({seed, count})
// returns an array of strings. The same seed and count always give the same
// corpus (a small self-contained PRNG; no Math.random, no dates).
//
// Contents, in rotating categories so every block of texts mixes them: prose
// in Latin scripts with accents, Cyrillic, Greek, Arabic, Hebrew, Devanagari,
// Thai, Chinese, Japanese, Hangul; emoji (plain, skin tones, ZWJ sequences,
// flags, keycaps, variation selectors); source code in several languages;
// odd whitespace (tabs, CR LF, NBSP, ideographic and other Unicode spaces,
// runs of spaces, leading/trailing space, whitespace-only); long words and
// repeated characters; numbers; punctuation runs; URLs, e-mails and paths;
// combining marks; special-token look-alikes; and mixtures of all of these.
// Lone surrogates are never produced (every text is valid Unicode, so its
// UTF-8 is well defined for both sides).

import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// mulberry32: tiny, fast, good enough for picking test inputs.
function makeRng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  const pick = (arr) => arr[Math.floor(next() * arr.length)];
  const chance = (p) => next() < p;
  return { next, int, pick, chance };
}

const W = (s) => s.split(" ");

const WORDS = {
  en: W("the quick brown fox jumps over lazy dog embedding model vector token language reading river morning window garden quietly because although however people system number between through during without another example question answer table chair music history science water light night city country friend family simple complex running walked thought"),
  fr: W("été déjà où naïve façon garçon élève hôpital forêt château crème brûlée cœur œuvre ça très bientôt fenêtre lumière rivière première"),
  de: W("Straße Größe schön über Mädchen Äpfel Übung fließen Fußgängerübergänge Donaudampfschifffahrtsgesellschaft weiß Bäckerei früh grün"),
  es: W("mañana niño año corazón canción pingüino acción árbol está aquí también jalapeño señor ¿qué ¡hola"),
  pl: W("zażółć gęślą jaźń łódź źródło żółw świat książka pięć"),
  vi: W("Tiếng Việt người đường phố nước Hà Nội cảm ơn xin chào những"),
  misc: W("Ångström İstanbul ıi Ørsted ﬁnance ﬂow Æsir Þórr smörgåsbord São Paulo Łukasz Dvořák Škoda naïveté résumé"),
  ru: W("привет мир как дела хорошо спасибо пожалуйста язык модель вектор Москва быстро медленно ёжик съешь ещё этих мягких французских булок"),
  uk: W("їжак ґанок Київ європейський пісня дякую"),
  el: W("Καλημέρα κόσμε ελληνικά γλώσσα Αθήνα ψυχή ΣΊΣΥΦΟΣ ς σ λόγος μήλο"),
  ar: W("مرحبا بالعالم اللغة العربية كتاب مدرسة السلام عليكم شكرا جزيلا الذكاء الاصطناعي ١٢٣ ٤٥٦"),
  he: W("שלום עולם עברית ספר בית ספר תודה רבה מחשב אהבה"),
  hi: W("नमस्ते दुनिया हिन्दी भाषा किताब विद्यालय धन्यवाद कृत्रिम बुद्धि क्षत्रिय ज्ञान ०१२३"),
  // Scripts without spaces between words: joined without separators.
  th: W("สวัสดี ครับ ภาษาไทย โลก หนังสือ โรงเรียน ขอบคุณ มาก ปัญญาประดิษฐ์ ๑๒๓"),
  zh: W("你好 世界 中文 语言 模型 向量 北京 天气 很好 我们 学习 機器 學習 繁體字"),
  ja: W("こんにちは 世界 日本語 カタカナ ひらがな 東京 ありがとう ございます ｶﾀｶﾅ ラーメン 漢字"),
  ko: W("안녕하세요 세계 한국어 언어 모델 서울 감사합니다 사랑 ᄀᄁᄂ"),
};
const NOSPACE = new Set(["th", "zh", "ja"]);

const EMOJI = [
  "😀", "😂", "🥲", "🤷", "👍", "🔥", "✨", "🎉", "❤️", "⭐", "☕", "🚀", "🌍", "🐍", "🦀",
  "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "🤷🏽‍♀️", "🧑🏿‍💻", "👋🏾",
  "👨‍👩‍👧‍👦", "👩‍❤️‍👨", "🏳️‍🌈", "🏴‍☠️", "👁️‍🗨️", "🧑‍🤝‍🧑", "👩🏻‍🤝‍👨🏿",
  "🇺🇸", "🇯🇵", "🇩🇪", "🇧🇷", "🇺🇦", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
  "1️⃣", "#️⃣", "*️⃣", "©️", "™️", "↔️", "☺︎",
];

const SPACES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2009", "\u200b", "\u202f", "\u0085", "\u2028", "\v", "\f", "     ", "\t\t", "\n\n\n", " \u00a0 "];

const PUNCT = ["!", "?", ".", ",", ";", ":", "-", "—", "–", "…", "(", ")", "[", "]", "{", "}", "\"", "'", "«", "»", "„", "“", "”", "‘", "’", "¿", "¡", "/", "\\", "|", "@", "#", "$", "%", "^", "&", "*", "_", "+", "=", "~", "`", "<", ">", "。", "、", "「", "」", "・", "؟", "،", "।", "•", "§", "¶", "†"];

const SPECIAL_LOOKALIKES = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>", "<mask>", "<|fim_prefix|>"];

const IDENTS = W("value count result buffer index total items config handler parse_input getUserName MAX_SIZE tmp_x i j k node next prev data len cache userId http_client __init__ self this");

function identifier(r) {
  const a = r.pick(IDENTS);
  return r.chance(0.3) ? a + r.pick(["_", ""]) + r.pick(IDENTS).replace(/^./, (c) => c.toUpperCase()) : a;
}

function number(r) {
  switch (r.int(0, 11)) {
    case 0: return String(r.int(0, 9));
    case 1: return String(r.int(10, 99999));
    case 2: return String(r.int(0, 2 ** 31 - 1)) + String(r.int(0, 999999));
    case 3: return (r.next() * 1000).toFixed(r.int(1, 6));
    case 4: return `${r.int(1, 9)}.${r.int(0, 99)}e${r.pick(["-", "+", ""])}${r.int(1, 300)}`;
    case 5: return r.int(1, 999) + "," + String(r.int(0, 999)).padStart(3, "0") + "," + String(r.int(0, 999)).padStart(3, "0");
    case 6: return `${r.int(1900, 2099)}-${String(r.int(1, 12)).padStart(2, "0")}-${String(r.int(1, 28)).padStart(2, "0")}`;
    case 7: return `0x${r.int(0, 0xffffffff).toString(16)}`;
    case 8: return `+${r.int(1, 99)} (${r.int(100, 999)}) ${r.int(100, 999)}-${r.int(1000, 9999)}`;
    case 9: return `${r.int(0, 100)}%`;
    case 10: return `$${r.int(0, 9999)}.${String(r.int(0, 99)).padStart(2, "0")}`;
    default: return "1" + "0".repeat(r.int(5, 40));
  }
}

function words(r, lang, n) {
  const list = WORDS[lang];
  const out = [];
  for (let i = 0; i < n; i++) out.push(r.pick(list));
  return out.join(NOSPACE.has(lang) ? "" : " ");
}

function sentence(r, lang) {
  let s = words(r, lang, r.int(3, 14));
  if (!NOSPACE.has(lang) && lang !== "ar" && lang !== "he" && lang !== "hi" && lang !== "th") {
    s = s.charAt(0).toUpperCase() + s.slice(1);
  }
  const end = { zh: "。", ja: "。", ar: "؟", hi: "।", el: ";", th: "" }[lang] ?? r.pick([".", ".", "!", "?", "…", ""]);
  if (r.chance(0.2)) s = s.replace(" ", ", ");
  return s + end;
}

function prose(r) {
  const lang = r.pick(Object.keys(WORDS));
  const n = r.int(1, 6);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(sentence(r, lang));
  return parts.join(NOSPACE.has(lang) ? "" : r.pick([" ", " ", "  ", "\n"]));
}

function emojiText(r) {
  const parts = [];
  const n = r.int(1, 12);
  for (let i = 0; i < n; i++) {
    if (r.chance(0.5)) parts.push(r.pick(EMOJI));
    else parts.push(words(r, r.pick(["en", "fr", "ja", "ru"]), r.int(1, 3)));
    if (r.chance(0.6)) parts.push(r.chance(0.8) ? " " : "");
  }
  if (r.chance(0.2)) parts.push(r.pick(EMOJI).repeat(r.int(2, 20)));
  return parts.join("");
}

const CODE = [
  (r) => `int ${identifier(r)}(int ${identifier(r)}, const char *s) {\n    for (int i = 0; i < ${number(r)}; i++) {\n        if (s[i] == '\\n') return -1;\n    }\n    return ${r.int(0, 9)};\n}\n`,
  (r) => `def ${identifier(r)}(${identifier(r)}, *args, **kwargs):\n    """${sentence(r, "en")}"""\n    if not args:\n        return None\n    return [x ** 2 for x in args if x % ${r.int(2, 9)} == 0]\n`,
  (r) => `const ${identifier(r)} = async (${identifier(r)}) => {\n\tconst res = await fetch(\`/api/v1/\${id}?q=${r.int(0, 99)}\`);\n\treturn res.ok ? res.json() : null; // ${sentence(r, "en")}\n};`,
  (r) => `fn ${identifier(r)}<'a, T: Clone>(xs: &'a [T]) -> Option<&'a T> {\n    xs.iter().find(|x| x.len() > ${r.int(0, 99)})\n}`,
  (r) => `func (s *Server) ${identifier(r)}(w http.ResponseWriter, r *http.Request) {\n\tif err := s.db.Ping(); err != nil {\n\t\thttp.Error(w, err.Error(), 500)\n\t}\n}`,
  (r) => `SELECT ${identifier(r)}, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total > ${number(r)} GROUP BY 1 ORDER BY n DESC LIMIT ${r.int(1, 100)};`,
  (r) => `<div class="${identifier(r)}" data-id="${r.int(0, 999)}">\n  <p>${sentence(r, r.pick(["en", "fr", "ja"]))}</p>\n  <a href="https://example.com/?a=1&amp;b=2">link</a>\n</div>`,
  (r) => `#!/bin/sh\nset -eu\nfor f in *.txt; do\n  grep -c '${identifier(r)}' "$f" || true\ndone 2>/dev/null | awk '{s+=$1} END {print s}'`,
  (r) => JSON.stringify({ [identifier(r)]: r.int(0, 999), name: words(r, r.pick(["en", "zh", "ru"]), 2), tags: [identifier(r), null, true, 1.5e-3] }, null, r.pick([0, 2, "\t"])),
  (r) => `public static void main(String[] args) {\n    System.out.println("${words(r, "en", 3)}" + args.length);\n}`,
  (r) => `    x += 1;\r\n    y = x >> 2 | 0xFF; /* ${sentence(r, "de")} */\r\n`,
  (r) => `$ git commit -m "fix: ${sentence(r, "en")}" && ./configure --prefix=/usr/local CFLAGS='-O2 -g'`,
];

function code(r) {
  let s = r.pick(CODE)(r);
  if (r.chance(0.3)) s = s + "\n" + r.pick(CODE)(r);
  return s;
}

function whitespace(r) {
  switch (r.int(0, 7)) {
    case 0: return r.pick(SPACES).repeat(r.int(1, 8));
    case 1: return " ".repeat(r.int(1, 40)) + prose(r) + " ".repeat(r.int(0, 40));
    case 2: return prose(r).replace(/ /g, () => r.pick(SPACES));
    case 3: return words(r, "en", r.int(2, 10)).split(" ").join("\t");
    case 4: return [prose(r), prose(r), prose(r)].join("\r\n") + "\r\n";
    case 5: return "\n".repeat(r.int(1, 5)) + prose(r) + "\n".repeat(r.int(1, 5));
    case 6: return words(r, "en", 5).split(" ").join(" ".repeat(r.int(2, 17)));
    default: return r.pick(SPACES) + words(r, r.pick(["fr", "ru", "zh", "ar"]), r.int(1, 5)) + r.pick(SPACES);
  }
}

function longWord(r) {
  const letters = "abcdefghijklmnopqrstuvwxyzéßøñабвгдежзαβγδ";
  switch (r.int(0, 5)) {
    case 0: {
      let s = "";
      const n = r.int(30, 400);
      for (let i = 0; i < n; i++) s += letters[r.int(0, 25)];
      return s;
    }
    case 1: return r.pick(["a", "z", "é", "ж", "字", "😀", "-", "=", "0", "ab", " a"]).repeat(r.int(20, 600));
    case 2: return "Pneumonoultramicroscopicsilicovolcanoconiosis ".repeat(r.int(1, 4)).trim() + " " + "x".repeat(r.int(100, 300));
    case 3: {
      let s = "";
      const n = r.int(20, 200);
      for (let i = 0; i < n; i++) s += letters[r.int(0, letters.length - 1)];
      return s;
    }
    case 4: return Array.from({ length: r.int(8, 60) }, () => r.int(0, 15).toString(16)).join("").repeat(r.int(1, 4));
    default: return words(r, "de", r.int(3, 8)).replace(/ /g, "");
  }
}

function numbers(r) {
  const n = r.int(1, 10);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(r.chance(0.7) ? number(r) : r.pick(WORDS.en));
  return parts.join(r.pick([" ", ", ", "; ", "\t", " + ", "*", ""]));
}

function punctuation(r) {
  switch (r.int(0, 4)) {
    case 0: return Array.from({ length: r.int(1, 40) }, () => r.pick(PUNCT)).join("");
    case 1: return r.pick(PUNCT).repeat(r.int(2, 80));
    case 2: return sentence(r, "en").replace(/ /g, () => r.pick(PUNCT) + r.pick(["", " "]));
    case 3: return `${r.pick(["...", "?!?!", "!!!", "---", "***", "==>", "<=>", "::", "//"])}${words(r, r.pick(["en", "es", "el"]), 3)}${r.pick(["...", "?!", ")))", "]]]", "}}", "''", "\"\"\""])}`;
    default: return "(" + "(".repeat(r.int(0, 10)) + identifier(r) + ")".repeat(r.int(1, 11));
  }
}

function urls(r) {
  const host = r.pick(["example.com", "www.example.org", "sub.domain.co.uk", "localhost:8080", "127.0.0.1", "xn--bcher-kva.example", "bücher.example"]);
  switch (r.int(0, 4)) {
    case 0: return `https://${host}/${identifier(r)}/${r.int(0, 9999)}?q=${encodeURIComponent(words(r, r.pick(["en", "ja", "ru"]), 2))}&page=${r.int(1, 9)}#sec-${r.int(1, 9)}`;
    case 1: return `${r.pick(["Contact", "Mail", "Write to"])} ${identifier(r)}.${identifier(r)}@${host} or see http://${host}/path_(with)_parens.`;
    case 2: return r.pick(["C:\\Users\\", "/usr/local/lib/", "~/.config/", "\\\\server\\share\\", "./src/"]) + `${identifier(r)}/${identifier(r)}.${r.pick(["txt", "c", "py", "json", "tar.gz"])}`;
    case 3: return `ftp://user:p%40ss@${host}:21/file.bin ${r.pick(["mailto:a@b.c", "tel:+15551234", "data:text/plain;base64,SGVsbG8="])}`;
    default: return `[${words(r, "en", 2)}](https://${host}/${identifier(r)}) <${"https://" + host}>`;
  }
}

function combining(r) {
  // Decomposed accents, stacked marks, Hangul jamo, Devanagari conjuncts, RTL marks.
  return r.pick([
    "e\u0301te\u0301 cafe\u0301 nai\u0308ve",
    "Z\u0351\u036b\u0343a\u0310\u0362l\u0358g\u0314o\u0313",
    "\u1100\u1161\u11a8 \u1112\u1161\u11ab",
    "क्ष त्र ज्ञ श्र द्ध",
    "\u200fשלום\u200e hello \u202bعربي\u202c",
    "A\u030a \u212b \u00c5",
    "ﬀ ﬁ ﬂ ﬃ ﬄ ² ³ ½ ① Ⅻ ｆｕｌｌｗｉｄｔｈ",
    "\u0000a\u0001b\u007fc\u001b[0m",
    "i\u0307 I\u0307 \u0130 \u0131",
    "\ufeffBOM at start",
  ]) + (r.chance(0.5) ? " " + sentence(r, r.pick(["fr", "hi", "ko"])) : "");
}

function specials(r) {
  const a = r.pick(SPECIAL_LOOKALIKES);
  return r.pick([`${a}`, `${a} ${sentence(r, "en")}`, `${words(r, "en", 3)}${a}${words(r, "en", 2)}`, `${a}${r.pick(SPECIAL_LOOKALIKES)}`]);
}

function mixed(r) {
  const gens = [prose, emojiText, code, whitespace, longWord, numbers, punctuation, urls, combining];
  const n = r.int(2, 6);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(r.pick(gens)(r));
  return parts.join(r.pick(["", " ", "\n", "\t", " | "]));
}

function long(r) {
  const n = r.int(10, 40);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(r.chance(0.7) ? prose(r) : r.pick([code, emojiText, numbers, urls])(r));
  return parts.join(r.pick(["\n\n", " ", "\n"]));
}

// Relative weights; each text's category comes from the PRNG.
const CATEGORIES = [
  [prose, 26],
  [emojiText, 8],
  [code, 12],
  [whitespace, 9],
  [longWord, 6],
  [numbers, 7],
  [punctuation, 6],
  [urls, 5],
  [combining, 4],
  [specials, 2],
  [mixed, 12],
  [long, 3],
];

// A few fixed texts at the start: edge cases every run must include.
const FIXED = ["", " ", "  ", "\n", "\t", "\r\n", "a", "A", "é", "字", "😀", "👨‍👩‍👧‍👦", "Hello world", " Hello world", "Hello world ", "hello  world", "1", "12345678901234567890", "!!!", "...", "\u00a0", "\u3000"];

export function generateCorpus({ seed = 1, count = 2400 } = {}) {
  const r = makeRng(seed);
  const total = CATEGORIES.reduce((s, [, w]) => s + w, 0);
  const out = FIXED.slice(0, count);
  while (out.length < count) {
    let x = r.next() * total;
    let gen = CATEGORIES[0][0];
    for (const [g, w] of CATEGORIES) {
      if (x < w) { gen = g; break; }
      x -= w;
    }
    out.push(gen(r));
  }
  return out;
}

/** The corpus as JSON lines text. */
export function corpusJsonl(opts) {
  return generateCorpus(opts).map((t) => JSON.stringify(t)).join("\n") + "\n";
}

function main(argv) {
  let seed = 1, count = 2400, outFile = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--seed") seed = Number(argv[++i]);
    else if (argv[i] === "--count") count = Number(argv[++i]);
    else if (argv[i] === "-o") outFile = argv[++i];
    else {
      process.stderr.write("usage: node gen.mjs [--seed N] [--count N] [-o FILE]\n");
      process.exit(2);
    }
  }
  if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 0) {
    process.stderr.write("gen.mjs: --seed and --count take integers\n");
    process.exit(2);
  }
  const text = corpusJsonl({ seed, count });
  if (outFile) writeFileSync(outFile, text);
  else process.stdout.write(text);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}

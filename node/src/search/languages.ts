// languages.ts - one description per language the chunker parses: file
// extensions, the tree-sitter grammar (a .wasm from the tree-sitter-wasms
// package), the node types that are definitions (each becomes a chunk named
// by its symbol), and which of those are containers (classes, impls,
// namespaces: a container too long for one chunk is split at its members).

export interface LanguageSpec {
  id: string;
  /** file name of the grammar in tree-sitter-wasms/out/ */
  grammar: string;
  extensions: readonly string[];
  /** definitions that hold code: functions, methods */
  functions: readonly string[];
  /** definitions that hold definitions: classes, impls, modules */
  containers: readonly string[];
  /** nodes that only wrap a definition (export, decorators, templates): the definition inside names the chunk */
  wrappers: readonly string[];
  /** blocks whose children stand as if in their place: C's preprocessor conditionals (an include guard holds a whole header) */
  transparent?: readonly string[];
  /** the text the parser is given, where it is not the file's own: same lines, same length of each (chunk texts come from the file) */
  parserText?: (source: string) => string;
}

const PREPROC_BLOCKS = ['preproc_ifdef', 'preproc_if', 'preproc_else', 'preproc_elif', 'preproc_elifdef'];

const JS_FUNCTIONS = ['function_declaration', 'generator_function_declaration', 'method_definition', 'function_signature'];
const JS_CONTAINERS = [
  'class_declaration',
  'abstract_class_declaration',
  'interface_declaration',
  'enum_declaration',
  'module',
  'internal_module',
  'class',
];
const JS_WRAPPERS = ['export_statement'];

export const LANGUAGES: readonly LanguageSpec[] = [
  {
    id: 'typescript',
    grammar: 'tree-sitter-typescript.wasm',
    extensions: ['.ts', '.mts', '.cts'],
    functions: [...JS_FUNCTIONS, 'type_alias_declaration'],
    containers: JS_CONTAINERS,
    wrappers: JS_WRAPPERS,
  },
  {
    id: 'tsx',
    grammar: 'tree-sitter-tsx.wasm',
    extensions: ['.tsx'],
    functions: [...JS_FUNCTIONS, 'type_alias_declaration'],
    containers: JS_CONTAINERS,
    wrappers: JS_WRAPPERS,
  },
  {
    id: 'javascript',
    grammar: 'tree-sitter-javascript.wasm',
    extensions: ['.js', '.mjs', '.cjs', '.jsx'],
    functions: JS_FUNCTIONS,
    containers: JS_CONTAINERS,
    wrappers: JS_WRAPPERS,
  },
  {
    id: 'python',
    grammar: 'tree-sitter-python.wasm',
    extensions: ['.py', '.pyi'],
    functions: ['function_definition'],
    containers: ['class_definition'],
    wrappers: ['decorated_definition'],
  },
  {
    id: 'go',
    grammar: 'tree-sitter-go.wasm',
    extensions: ['.go'],
    functions: ['function_declaration', 'method_declaration'],
    containers: ['type_declaration'],
    wrappers: [],
  },
  {
    id: 'rust',
    grammar: 'tree-sitter-rust.wasm',
    extensions: ['.rs'],
    functions: ['function_item', 'function_signature_item', 'macro_definition'],
    containers: ['impl_item', 'trait_item', 'mod_item', 'struct_item', 'enum_item'],
    wrappers: [],
  },
  {
    id: 'java',
    grammar: 'tree-sitter-java.wasm',
    extensions: ['.java'],
    functions: ['method_declaration', 'constructor_declaration'],
    containers: ['class_declaration', 'interface_declaration', 'enum_declaration', 'record_declaration'],
    wrappers: [],
  },
  {
    id: 'c',
    grammar: 'tree-sitter-c.wasm',
    extensions: ['.c', '.h'],
    functions: ['function_definition'],
    containers: ['struct_specifier', 'union_specifier', 'enum_specifier'],
    wrappers: ['type_definition', 'declaration'],
    transparent: PREPROC_BLOCKS,
    // the `extern "C" {` ... `}` a C header wraps itself in for C++ compilers would otherwise
    // swallow everything between (the brace opens in one #ifdef and closes in another)
    parserText: (source) => withoutCppBlocks(source),
  },
  {
    id: 'cpp',
    grammar: 'tree-sitter-cpp.wasm',
    extensions: ['.cc', '.cpp', '.cxx', '.hpp', '.hh', '.hxx', '.inl'],
    functions: ['function_definition'],
    containers: ['class_specifier', 'struct_specifier', 'namespace_definition', 'enum_specifier'],
    wrappers: ['template_declaration', 'type_definition', 'declaration'],
    transparent: PREPROC_BLOCKS,
  },
  {
    id: 'csharp',
    grammar: 'tree-sitter-c_sharp.wasm',
    extensions: ['.cs'],
    functions: ['method_declaration', 'constructor_declaration', 'property_declaration'],
    containers: [
      'class_declaration',
      'interface_declaration',
      'struct_declaration',
      'record_declaration',
      'enum_declaration',
      'namespace_declaration',
    ],
    wrappers: [],
  },
  {
    id: 'ruby',
    grammar: 'tree-sitter-ruby.wasm',
    extensions: ['.rb'],
    functions: ['method', 'singleton_method'],
    containers: ['class', 'module'],
    wrappers: [],
  },
  {
    id: 'php',
    grammar: 'tree-sitter-php.wasm',
    extensions: ['.php'],
    functions: ['function_definition', 'method_declaration'],
    containers: ['class_declaration', 'interface_declaration', 'trait_declaration', 'enum_declaration'],
    wrappers: [],
  },
];

const BY_EXT = new Map<string, LanguageSpec>();
for (const l of LANGUAGES) for (const e of l.extensions) BY_EXT.set(e, l);
const byId = (id: string) => LANGUAGES.find((l) => l.id === id) as LanguageSpec;

/**
 * Extensions whose files' text chooses between two languages: a `.h` is C
 * unless its code reads as C++ (looksLikeCpp), since C and C++ projects both
 * name their headers so. Only the file itself decides (not its neighbours):
 * the same header gets the same language wherever it is and whoever chunks it.
 */
const BY_TEXT = new Map<string, { plain: LanguageSpec; marked: LanguageSpec; test: (source: string) => boolean }>([
  ['.h', { plain: byId('c'), marked: byId('cpp'), test: (s) => looksLikeCpp(s) }],
]);

function extensionOf(file: string): string | null {
  const dot = file.lastIndexOf('.');
  return dot < 0 ? null : file.slice(dot).toLowerCase();
}

/** Whether a file's text, not only its name, decides its language (a `.h`). */
export function languageNeedsText(file: string): boolean {
  const ext = extensionOf(file);
  return ext !== null && BY_TEXT.has(ext);
}

/** The language of a file: by its extension, and for a `.h` by its text too (without the text: C). */
export function languageOf(file: string, source?: string): LanguageSpec | null {
  const ext = extensionOf(file);
  if (ext === null) return null;
  const byText = BY_TEXT.get(ext);
  if (byText && source !== undefined && byText.test(source)) return byText.marked;
  return BY_EXT.get(ext) ?? null;
}

/** Every language id a file with this extension (with its dot) can be given: 'text' where no grammar has it. */
export function languagesOfExtension(ext: string): string[] {
  const e = ext.toLowerCase();
  const byText = BY_TEXT.get(e);
  if (byText) return [byText.plain.id, byText.marked.id];
  return [BY_EXT.get(e)?.id ?? 'text'];
}

/** `#if` conditions a C compiler finds true, false, or (null) cannot tell from __cplusplus alone. */
function cplusplusTest(directive: string, rest: string): boolean | null {
  const r = rest.trim();
  if (directive === 'ifdef' && r === '__cplusplus') return false;
  if (directive === 'ifndef' && r === '__cplusplus') return true;
  if (directive === 'if' && /^(?:defined\s*\(?\s*__cplusplus\s*\)?|__cplusplus\b.*)$/.test(r)) return false;
  if (directive === 'if' && /^!\s*defined\s*\(?\s*__cplusplus\s*\)?$/.test(r)) return true;
  return null;
}

/**
 * The source as a C compiler's preprocessor keeps it, as far as __cplusplus
 * decides: the lines of a branch only a C++ compiler takes are blanked
 * (spaces, so that every line keeps its length and row). Other conditionals
 * are left for the grammar.
 */
export function withoutCppBlocks(source: string): string {
  const lines = source.split('\n');
  /** per open #if: whether its current branch is C++ only (null: not a __cplusplus test) */
  const open: (boolean | null)[] = [];
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const pp = /^\s*#\s*(\w+)(.*)$/.exec(line);
    if (pp) {
      const [, directive, rest] = pp as unknown as [string, string, string];
      if (directive.startsWith('if')) {
        const t = cplusplusTest(directive, rest.replace(/\/\*.*?\*\/|\/\/.*$/g, ''));
        open.push(t === null ? null : !t);
      } else if (directive === 'else' && open.length && open[open.length - 1] !== null) open.push(!open.pop());
      else if (directive === 'elif' && open.length && open[open.length - 1] !== null) {
        open.pop();
        open.push(null);
      } else if (directive === 'endif') open.pop();
      continue;
    }
    if (open.includes(true)) {
      lines[i] = line.replace(/[^\r]/g, ' ');
      changed = true;
    }
  }
  return changed ? lines.join('\n') : source;
}

/** C++ only: a namespace, a template, a class with a body or bases, `::`, an access label, `using namespace`. */
const CPP_MARKERS = [
  /\bnamespace(?:\s+[\w:]+)?\s*\{/,
  /\btemplate\s*</,
  /\bclass\s+\w+(?:\s+final)?\s*[:{]/,
  /(?:\w|^|\s)::~?\w/m,
  /^\s*(?:public|protected|private)\s*:/m,
  /\busing\s+namespace\b/,
];

/**
 * Whether a header's code is C++: one of CPP_MARKERS outside comments,
 * string and character literals, `[[...]]` attributes (C23 has `gnu::`
 * ones), preprocessor lines, and blocks conditional on `__cplusplus` (the
 * `extern "C"` wrappers of C headers are C++ only to a C++ compiler).
 */
export function looksLikeCpp(source: string): boolean {
  const code = source
    .replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/\[\[[^\]]*\]\]/g, ' ')
    .replace(/\\\r?\n/g, ' ');
  const kept: string[] = [];
  /** for each open #if: whether it tests __cplusplus */
  const open: boolean[] = [];
  for (const line of code.split('\n')) {
    const pp = /^\s*#\s*(\w+)(.*)$/.exec(line);
    if (pp) {
      const [, directive, rest] = pp as unknown as [string, string, string];
      if (directive.startsWith('if')) open.push(rest.includes('__cplusplus'));
      else if (directive === 'endif') open.pop();
      continue;
    }
    if (!open.includes(true)) kept.push(line);
  }
  const text = kept.join('\n');
  return CPP_MARKERS.some((m) => m.test(text));
}

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

export function languageOf(file: string): LanguageSpec | null {
  const dot = file.lastIndexOf('.');
  return dot < 0 ? null : (BY_EXT.get(file.slice(dot).toLowerCase()) ?? null);
}

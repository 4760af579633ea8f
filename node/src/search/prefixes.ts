// prefixes.ts - what each model family expects before a query and before a
// document (its model card's retrieval format). Matched on the model's
// general.name and file name; the first matching entry wins; none: no prefix.
// Options or GGEMBED_QUERY_PREFIX / GGEMBED_DOCUMENT_PREFIX override it.

export interface Prefixes {
  query: string;
  document: string;
  /** which entry matched, or 'none' / 'override' */
  source: string;
}

const CODE_QUERY = 'Represent this query for searching relevant code: ';

const TABLE: { name: string; match: RegExp; query: string; document: string }[] = [
  { name: 'nomic-embed-code', match: /nomic[-_ ]embed[-_ ]code/i, query: CODE_QUERY, document: '' },
  { name: 'CodeRankEmbed', match: /coderankembed/i, query: CODE_QUERY, document: '' },
  { name: 'nomic-embed-text', match: /nomic[-_ ]embed[-_ ]text/i, query: 'search_query: ', document: 'search_document: ' },
  {
    name: 'Qwen3-Embedding',
    match: /qwen3[-_ ]embedding/i,
    query: 'Instruct: Given a code search query, retrieve relevant code snippets that answer the query\nQuery:',
    document: '',
  },
  { name: 'e5', match: /(^|[^a-z])e5[-_ ]/i, query: 'query: ', document: 'passage: ' },
  {
    name: 'bge-en-v1.5',
    match: /bge-(small|base|large)-en-v1\.5/i,
    query: 'Represent this sentence for searching relevant passages: ',
    document: '',
  },
];

export function prefixesFor(modelNames: (string | null | undefined)[], override: { query?: string; document?: string } = {}): Prefixes {
  const names = modelNames.filter((n): n is string => !!n);
  const hit = TABLE.find((t) => names.some((n) => t.match.test(n)));
  const base = hit ? { query: hit.query, document: hit.document, source: hit.name } : { query: '', document: '', source: 'none' };
  if (override.query === undefined && override.document === undefined) return base;
  return { query: override.query ?? base.query, document: override.document ?? base.document, source: 'override' };
}

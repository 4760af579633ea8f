// Per-model query and document prefixes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prefixesFor } from '../src/search/prefixes.js';

test('query and document prefixes by model, none for others, overridable', () => {
  assert.equal(prefixesFor(['nomic-embed-code.Q4_K_M.gguf']).query, 'Represent this query for searching relevant code: ');
  assert.equal(prefixesFor([null, 'CodeRankEmbed-Q8_0.gguf']).document, '');
  assert.deepEqual(prefixesFor(['Nomic Embed Text v1.5', 'x.gguf']), {
    query: 'search_query: ',
    document: 'search_document: ',
    source: 'nomic-embed-text',
  });
  assert.match(prefixesFor(['Qwen3-Embedding-0.6B']).query, /^Instruct: .*\nQuery:$/);
  assert.equal(prefixesFor(['multilingual-e5-small']).document, 'passage: ');
  assert.equal(prefixesFor(['bge-small-en-v1.5-q8_0.gguf']).source, 'bge-en-v1.5');
  assert.deepEqual(prefixesFor(['all-MiniLM-L6-v2']), { query: '', document: '', source: 'none' });
  assert.equal(prefixesFor(['rebge5-thing']).source, 'none');
  assert.deepEqual(prefixesFor(['nomic-embed-text'], { query: 'q: ' }), {
    query: 'q: ',
    document: 'search_document: ',
    source: 'override',
  });
});

#!/usr/bin/env node
// ggembed-mcp.ts - the `ggembed-mcp` bin: checks its peer dependency (the
// MCP SDK), then runs the MCP server of mcp.ts.
import { runBin } from '../cli-options.js';
import { setProcessFlag } from '../v8-flags.js';
import { requirePeers, SDK } from './peers.js';

// Indexing allocates steadily (chunk texts, frames, journal lines) and V8
// answers by doubling the young generation up to 3 x 16 MB, which stays
// committed: the larger part of the server's peak RSS above its start while
// indexing a repository (issue 11: under 100 MB). With no growth the
// scavenger runs more often on the small initial semi-space instead (a few %
// of Node's CPU while indexing). V8 reads this flag each time it would grow;
// starting the chunking thread resets it, which is why it goes through
// setProcessFlag (v8-flags.ts).
setProcessFlag('--semi-space-growth-factor=1');

requirePeers('ggembed-mcp', [SDK]);
const { main } = await import('../mcp.js');
runBin('ggembed-mcp', main);

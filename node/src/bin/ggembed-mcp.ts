#!/usr/bin/env node
// ggembed-mcp.ts - the `ggembed-mcp` bin: checks its peer dependency (the
// MCP SDK), then runs the MCP server of mcp.ts.
import { runBin } from '../cli-options.js';
import { setMcpServerFlags } from '../v8-flags.js';
import { requirePeers, SDK } from './peers.js';

// the young and old generations bounded while indexing (v8-flags.ts says why)
setMcpServerFlags();

requirePeers('ggembed-mcp', [SDK]);
const { main } = await import('../mcp.js');
runBin('ggembed-mcp', main);

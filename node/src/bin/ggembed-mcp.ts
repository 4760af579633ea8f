#!/usr/bin/env node
// ggembed-mcp.ts - the `ggembed-mcp` bin: checks its peer dependency (the
// MCP SDK), then runs the MCP server of mcp.ts.
import { runBin } from '../cli-options.js';
import { requirePeers, SDK } from './peers.js';

requirePeers('ggembed-mcp', [SDK]);
const { main } = await import('../mcp.js');
runBin('ggembed-mcp', main);

#!/usr/bin/env node
// ggembed-mcp.ts - the `ggembed-mcp` bin: checks its peer dependencies, then
// runs the MCP server (mcp.ts starts it when loaded).
import { SDK, ZOD, requirePeers } from './peers.js';

requirePeers('ggembed-mcp', [SDK, ZOD]);
await import('../mcp.js');

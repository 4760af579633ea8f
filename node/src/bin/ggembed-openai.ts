#!/usr/bin/env node
// ggembed-openai.ts - the `ggembed-openai` bin: checks its peer dependency,
// then runs the HTTP endpoint (openai.ts starts it when loaded).
import { ZOD, requirePeers } from './peers.js';

requirePeers('ggembed-openai', [ZOD]);
await import('../openai.js');

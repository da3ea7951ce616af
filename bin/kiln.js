#!/usr/bin/env node
// The `kiln` command (package.json "bin"): kiln ships TypeScript run with tsx, so load tsx, then the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../cli/kiln.ts');

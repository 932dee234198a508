// Import cycles between files of src/, type-only imports included (import-x/no-cycle follows runtime
// imports only). A cycle of types still ties two files into one unit that cannot be understood or
// moved apart; docs/ARCHITECTURE.md promises none. Run by `npm run lint`; exits 1 and names each cycle.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.join(import.meta.dirname, '..', 'src');

/** Every .ts file under `dir`. */
function tsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const files = new Set(tsFiles(root));
/** Static imports and re-exports, type-only or not, of relative modules (`from './x.js'`). */
const IMPORT = /^\s*(?:import|export)\b[^;'"]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gm;
const edges = new Map(
  [...files].map((file) => [
    file,
    [...readFileSync(file, 'utf8').matchAll(IMPORT)]
      .map((match) => path.resolve(path.dirname(file), match[1].replace(/\.js$/, '.ts')))
      .filter((target) => files.has(target)),
  ]),
);

const state = new Map();
const stack = [];
const cycles = [];
function visit(file) {
  state.set(file, 'open');
  stack.push(file);
  for (const target of edges.get(file)) {
    if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target]);
    else if (!state.has(target)) visit(target);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of files) if (!state.has(file)) visit(file);

if (cycles.length > 0) {
  for (const cycle of cycles) console.error(`import cycle: ${cycle.map((file) => path.relative(root, file)).join(' -> ')}`);
  console.error('move what both files need into a third file below them (docs/ARCHITECTURE.md "Layers")');
  process.exit(1);
}

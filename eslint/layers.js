// The layers of src/, top to bottom (docs/ARCHITECTURE.md "Layers"). A file may import from its own
// layer and the layers below it, never from a layer above or from a peer on the same row. The lint step
// turns this table into import-x/no-restricted-paths zones, so the architecture's claim is checked.

/** Each row is one layer: folders or files under src/. Peers on one row may not import each other. */
export const LAYERS = [
  ['cli'],
  ['commands'],
  ['engine'],
  ['sqlite', 'files'],
  ['store'],
  ['config'],
  ['format'],
  ['crypto'],
  ['log', 'memory'],
  // The ObjectStore seam (the interface and its typed errors) lives in src/store/ but sits below the
  // format layer, which reads and writes the replica marker through it; the backends and wrappers sit above.
  ['store/object-store.ts', 'store/store-errors.ts'],
  // The one exit-code table: commands return its codes, the CLI exits with them, the supervisor uses the shell's two.
  ['exit-codes.ts'],
  ['errors.ts', 'version.ts'],
];

const SEAM = ['object-store.ts', 'store-errors.ts'];

/** One import-x/no-restricted-paths zone per layer and each path above it (or beside it). */
export const layerZones = LAYERS.flatMap((row, index) =>
  row.flatMap((target) =>
    [...LAYERS.slice(0, index).flat(), ...row.filter((peer) => peer !== target)].map((from) => ({
      target: `./src/${target}`,
      from: `./src/${from}`,
      // Layers below src/store/ may still use the seam's two files.
      ...(from === 'store' ? { except: SEAM.map((file) => `./${file}`) } : {}),
      message: `src/${target} sits below src/${from}: dependencies point down only (docs/ARCHITECTURE.md, eslint/layers.js).`,
    })),
  ),
);

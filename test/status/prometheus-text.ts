/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition: samples plus the HELP and TYPE of every family. */
export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  helps: Map<string, string>;
  /** The value of the one sample with this name and exactly these labels; throws when absent. */
  value(name: string, labels?: Record<string, string>): number;
  /** Whether a sample with this name and labels exists. */
  has(name: string, labels?: Record<string, string>): boolean;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;

/**
 * A strict little parser of the text format 0.0.4: fails on any line it does not understand, on a
 * sample whose family has no TYPE line before it, and on a family declared twice.
 */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, what, name, rest] = meta as unknown as [string, string, string, string];
      const map = what === 'HELP' ? helps : types;
      if (map.has(name)) throw new Error(`${what} of ${name} given twice`);
      if (what === 'TYPE' && !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type: ${line}`);
      map.set(name, rest);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = match as unknown as [string, string, string | undefined, string];
    if (!types.has(name)) throw new Error(`sample before its TYPE line: ${line}`);
    const labels: Record<string, string> = {};
    if (labelText) {
      LABEL.lastIndex = 0;
      let consumed = 0;
      for (let m = LABEL.exec(labelText); m; m = LABEL.exec(labelText)) {
        labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        consumed = LABEL.lastIndex;
      }
      if (consumed !== labelText.length) throw new Error(`bad labels: ${line}`);
    }
    samples.push({ name, labels, value: Number(valueText) });
  }
  const find = (name: string, labels: Record<string, string> = {}): Sample[] =>
    samples.filter(
      (s) =>
        s.name === name &&
        Object.keys(s.labels).length === Object.keys(labels).length &&
        Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  return {
    samples,
    types,
    helps,
    has: (name, labels) => find(name, labels).length > 0,
    value: (name, labels) => {
      const found = find(name, labels);
      if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels ?? {})}`);
      return found[0]!.value;
    },
  };
}

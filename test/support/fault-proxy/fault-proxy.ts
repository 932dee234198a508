import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ruleApplies, type ActiveRule, type Fault, type FaultRule } from './fault-rules.js';
import { hasWriteCondition, rejectByQuirk, type ProviderQuirks } from './provider-quirks.js';
import { endToEndHeaders, relayResponse, type BodyFault } from './relay-response.js';
import { resignRequest, type SigningKeys } from './resign-request.js';
import { sendS3Error } from './s3-error-response.js';
import { classifyRequest, type ClassifiedRequest, type S3Operation } from './s3-operation.js';
import { createSeededRandom } from './seeded-random.js';

/** How to start a fault proxy. */
export interface FaultProxyOptions {
  /** The real S3 endpoint, e.g. `http://127.0.0.1:7480`. */
  target: string;
  /** Seed of the PRNG that decides which requests get a fault; log it with a failure to replay the run. */
  seed?: number;
  rules?: FaultRule[];
  quirks?: ProviderQuirks;
  /** Needed only for quirks that change signed headers (`noConditionalWrites`): the proxy re-signs with them. */
  keys?: SigningKeys;
}

/** One fault or quirk the proxy applied, in request order. */
export interface InjectedFault {
  seq: number;
  method: string;
  operation: S3Operation;
  key: string;
  what: string;
}

/** What the proxy saw and did. */
export interface FaultProxyStats {
  requests: number;
  byOperation: Partial<Record<S3Operation, number>>;
  /** Injections by description (`error 503 SlowDown`, `reset mid-body`, `quirk requireDeleteMd5`, ...). */
  injected: Record<string, number>;
  /** Write conditions removed by `noConditionalWrites`. */
  conditionsStripped: number;
  /** The most UploadPart requests that were in flight at once. */
  maxConcurrentParts: number;
  log: InjectedFault[];
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: give this to the client instead of the real endpoint. */
  readonly endpoint: string;
  readonly seed: number;
  /** Replaces the rules; time windows (`activeForMs`) start now. */
  setRules(rules: FaultRule[]): void;
  setQuirks(quirks: ProviderQuirks): void;
  stats(): FaultProxyStats;
  /** Refuses connections for `ms` (open connections are reset); resolves once it is down. */
  takeDown(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts an HTTP proxy on 127.0.0.1 (random port) that forwards to `target` and injects the configured faults and quirks. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const seed = options.seed ?? 1;
  const random = createSeededRandom(seed);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let rules = activate(options.rules ?? []);
  let quirks: ProviderQuirks = options.quirks ?? {};
  let partsInFlight = 0;
  let downTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stats: FaultProxyStats = { requests: 0, byOperation: {}, injected: {}, conditionsStripped: 0, maxConcurrentParts: 0, log: [] };

  const record = (seq: number, request: ClassifiedRequest, what: string): void => {
    stats.injected[what] = (stats.injected[what] ?? 0) + 1;
    stats.log.push({ seq, method: request.method, operation: request.operation, key: request.key, what });
  };

  const pickFault = (request: ClassifiedRequest): Fault | undefined => {
    const now = Date.now();
    for (const active of rules) {
      if (!ruleApplies(active, request, now)) continue;
      // Always draw, so the sequence of draws depends only on the sequence of requests.
      if (random() >= (active.rule.share ?? 1)) continue;
      active.fired++;
      return active.rule.fault;
    }
    return undefined;
  };

  const takeDown = async (ms: number): Promise<void> => {
    if (downTimer !== undefined || stopped) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.resetAndDestroy();
    await closed;
    downTimer = setTimeout(() => {
      downTimer = undefined;
      if (!stopped) server.listen(port, '127.0.0.1');
    }, ms);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const seq = ++stats.requests;
    const request = classifyRequest(req.method ?? 'GET', req.url ?? '/');
    stats.byOperation[request.operation] = (stats.byOperation[request.operation] ?? 0) + 1;
    const resource = `/${request.bucket}/${request.key}`;
    const rejection = rejectByQuirk(quirks, request, req.headers);
    if (rejection !== undefined) {
      record(seq, request, `quirk ${rejection.quirk}`);
      return afterBody(req, () => sendS3Error(res, rejection.status, rejection.code, rejection.message, resource));
    }
    if (request.operation === 'upload-part') {
      if (quirks.maxConcurrentParts !== undefined && partsInFlight >= quirks.maxConcurrentParts) {
        record(seq, request, 'quirk maxConcurrentParts');
        return afterBody(req, () => sendS3Error(res, 503, 'SlowDown', 'Please reduce your request rate.', resource));
      }
      partsInFlight++;
      stats.maxConcurrentParts = Math.max(stats.maxConcurrentParts, partsInFlight);
      res.once('close', () => partsInFlight--);
    }
    const fault = pickFault(request);
    if (fault !== undefined) record(seq, request, describeFault(fault));
    if (fault?.kind === 'error' && fault.afterForward !== true) {
      return afterBody(req, () => sendS3Error(res, fault.status, fault.code, fault.message ?? fault.code, resource));
    }
    if ((fault?.kind === 'reset' || fault?.kind === 'hang') && fault.when === 'before-response') {
      if (fault.kind === 'reset') req.socket.resetAndDestroy();
      else req.resume(); // read the body, answer nothing
      return;
    }
    if (fault?.kind === 'down') {
      req.socket.resetAndDestroy();
      return takeDown(fault.ms);
    }
    if (fault?.kind === 'latency') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => (timers.delete(timer), resolve()), fault.ms);
        timers.add(timer);
      });
      if (stopped) return void req.socket.destroy();
    }
    forward(req, res, request, fault);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, request: ClassifiedRequest, fault: Fault | undefined): void => {
    const headers = endToEndHeaders(req.headers, ['connection', 'keep-alive', 'proxy-connection', 'expect', 'upgrade']);
    if (quirks.noConditionalWrites === true && hasWriteCondition(req.headers, request)) {
      delete headers['if-none-match'];
      delete headers['if-match'];
      const authorization =
        options.keys === undefined ? undefined : resignRequest(request.method, req.url ?? '/', headers as typeof req.headers, options.keys);
      if (authorization === undefined) {
        return sendS3Error(
          res,
          500,
          'ProxyMisconfigured',
          'noConditionalWrites needs the proxy to know the signing keys',
          `/${request.bucket}/${request.key}`,
        );
      }
      headers.authorization = authorization;
      stats.conditionsStripped++;
    }
    const upstream = httpRequest({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent });
    upstream.on('error', () => (res.headersSent ? res.destroy() : req.socket.destroy()));
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('response', (answer) => {
      if (fault?.kind === 'error') {
        // The server did the work; the client only learns that "something failed".
        answer.resume();
        answer.on('end', () =>
          sendS3Error(res, fault.status, fault.code, fault.message ?? fault.code, `/${request.bucket}/${request.key}`),
        );
        return;
      }
      const bodyFault = fault?.kind === 'reset' || fault?.kind === 'hang' || fault?.kind === 'truncate' ? (fault as BodyFault) : undefined;
      relayResponse(answer, res, { unquotedEtags: quirks.unquotedEtags === true, bodyFault });
    });
    req.pipe(upstream);
  };

  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => void handle(req, res).catch(() => req.socket.destroy()));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    seed,
    setRules: (next) => void (rules = activate(next)),
    setQuirks: (next) => void (quirks = next),
    stats: () => structuredClone(stats),
    takeDown,
    async stop() {
      stopped = true;
      clearTimeout(downTimer);
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function activate(rules: FaultRule[]): ActiveRule[] {
  const since = Date.now();
  return rules.map((rule) => ({ rule, since, fired: 0 }));
}

/** Runs `then` once the request body has been read (or the client went away). */
function afterBody(req: IncomingMessage, then: () => void): void {
  req.once('end', then);
  req.resume();
}

/** A short name of a fault, used in stats and the log. */
export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'error':
      return `error ${fault.status} ${fault.code}${fault.afterForward === true ? ' after forward' : ''}`;
    case 'reset':
    case 'hang':
      return `${fault.kind} ${fault.when}`;
    case 'latency':
      return `latency ${fault.ms} ms`;
    case 'truncate':
      return 'truncate body';
    case 'down':
      return `down ${fault.ms} ms`;
  }
}

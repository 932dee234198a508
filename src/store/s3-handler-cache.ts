import type { S3Client } from '@aws-sdk/client-s3';
import type { CommandIO, MetadataBearer } from '@smithy/types';

/** A command whose middleware chain does not depend on its input (true of every S3 operation, unless middleware was added to the command itself). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command class has its own input type
type Resolvable<O extends MetadataBearer> = CommandIO<any, O>;
type CommandClass = new (input: object) => Resolvable<MetadataBearer>;
type ResolvedHandler = ReturnType<Resolvable<MetadataBearer>['resolveMiddleware']>;

/**
 * Sends S3 commands through middleware chains resolved once per command class and abort signal.
 * `client.send()` rebuilds and sorts the whole chain (~40 middlewares) for every request: at
 * thousands of small objects that is a fifth of the CPU time of an upload and much of the garbage
 * the heap grows with. The SDK's own `cacheMiddleware` cannot carry an abort signal; this cache keys
 * by it instead (the queues of a sync share one signal). A chain is resolved on a template command
 * with an empty input, so a cached chain never holds the first request's body.
 */
export class S3HandlerCache {
  private readonly bySignal = new WeakMap<AbortSignal, Map<CommandClass, ResolvedHandler>>();
  private readonly unsignalled = new Map<CommandClass, ResolvedHandler>();

  constructor(private readonly client: S3Client) {}

  /** Sends `command` like `client.send(command, { abortSignal })`. */
  async send<O extends MetadataBearer>(command: Resolvable<O>, abortSignal?: AbortSignal): Promise<O> {
    const handler = this.handlerFor(command.constructor as CommandClass, abortSignal) as unknown as (args: {
      input: object;
    }) => Promise<{ output: O }>;
    return (await handler({ input: command.input })).output;
  }

  private handlerFor(type: CommandClass, abortSignal: AbortSignal | undefined): ResolvedHandler {
    let handlers = abortSignal === undefined ? this.unsignalled : this.bySignal.get(abortSignal);
    if (handlers === undefined) {
      handlers = new Map();
      this.bySignal.set(abortSignal!, handlers);
    }
    let handler = handlers.get(type);
    if (handler === undefined) {
      handler = new type({}).resolveMiddleware(
        this.client.middlewareStack,
        this.client.config,
        abortSignal === undefined ? undefined : { abortSignal },
      );
      handlers.set(type, handler);
    }
    return handler;
  }
}

import type { IncomingHttpHeaders } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { AccessError } from '../core/errors.js';
import { StreamMask, type SecretNeedles } from '../core/secret-scrubber.js';

/** A response body of known length up to this size is held and written with the head in one piece. */
export const SMALL_BODY = 256 * 1024;
/** The most of a refused (challenge) response read to keep its connection for the next request; a longer one closes it. */
const DISCARD_LIMIT = 64 * 1024;

/** How a relay ended: the response reached the client, or Access asked for a new credential (nothing was sent). */
export type RelayOutcome = 'done' | 'renew';

/** Whether a response is Access refusing the credential (then the request is renewed and sent again, the response unsent). */
export type Challenged = (status: number, headers: IncomingHttpHeaders) => Promise<boolean>;

export interface RelayOptions {
  res: ServerResponse;
  /** The client's request was HEAD: the origin sends no body. */
  head: boolean;
  needles: SecretNeedles;
  /** The origin's response headers as the local client gets them. */
  rewrite(headers: IncomingHttpHeaders): Record<string, string | string[]>;
  /**
   * Is this redirect, 401 or 403 Access asking for a (new) credential? Asked
   * before a byte of the response reaches the client (the origin is paused
   * meanwhile). Omitted: every response goes to the client as it is.
   */
  challenged?: Challenged;
}

const encoded = (headers: IncomingHttpHeaders): boolean => {
  const encoding = headers['content-encoding'];
  return encoding !== undefined && String(encoding).trim().toLowerCase() !== 'identity' && String(encoding).trim() !== '';
};

const mayBeChallenge = (status: number): boolean => (status >= 300 && status < 400) || status === 401 || status === 403;

type Mode = 'head' | 'check' | 'whole' | 'stream' | 'empty' | 'discard' | 'gone';

/**
 * One request's response relayed from the origin to the local client, as an
 * undici dispatch handler: no response stream, promise or abort signal of its
 * own per request. A small body of known length is held and written with the
 * head in one piece (masked in place); a larger or unknown one streams through
 * a StreamMask with the client's backpressure pausing the origin. Our secrets
 * are masked in every body the client gets.
 */
export class Relay implements Dispatcher.DispatchHandler {
  readonly done: Promise<RelayOutcome>;
  private settle!: (outcome: RelayOutcome) => void;
  private fail!: (error: Error) => void;
  private settled = false;
  private controller?: Dispatcher.DispatchController;
  private cancelled?: Error;
  private mode: Mode = 'head';
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  /** The body so far: a small one, or what came while a challenge was being checked. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** The origin finished while a challenge was being checked. */
  private ended = false;
  private masker?: StreamMask;
  private waitingForDrain = false;
  private readonly write = (part: Buffer): void => {
    if (!this.options.res.write(part) && !this.waitingForDrain) {
      this.waitingForDrain = true;
      this.controller?.pause();
      this.options.res.once('drain', this.drained);
    }
  };
  private readonly drained = (): void => {
    this.waitingForDrain = false;
    this.controller?.resume();
  };

  constructor(private readonly options: RelayOptions) {
    this.done = new Promise<RelayOutcome>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
  }

  /** The local client went away: stop reading from the origin. */
  cancel(reason: Error): void {
    this.cancelled = reason;
    this.mode = 'gone';
    this.controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cancelled) controller.abort(this.cancelled);
  }

  /** The origin answered (a head arrived): a failure after this cannot be retried. */
  get answered(): boolean {
    return this.status !== 0;
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.mode === 'gone' || status < 200) return;
    this.status = status;
    const challenged = this.options.challenged;
    if (!challenged || !mayBeChallenge(status)) return this.begin(headers);
    this.mode = 'check';
    controller.pause();
    challenged(status, headers).then(
      (yes) => {
        if (this.mode !== 'check') return;
        if (yes) {
          // Read (and drop) the refused response so its connection serves the next request.
          this.mode = 'discard';
          this.heldBytes = 0;
          this.held = [];
          if (this.ended) return this.finish('renew');
        } else {
          this.begin(headers);
          const held = this.held;
          this.held = [];
          this.heldBytes = 0;
          for (const chunk of held) this.onResponseData(controller, chunk);
          if (this.ended) return this.onResponseEnd();
        }
        // Unless the client's side is full already (it resumes the origin when drained).
        if (!this.waitingForDrain) controller.resume();
      },
      (error: unknown) => {
        this.mode = 'gone';
        controller.abort(error as Error);
      },
    );
  }

  /** The head is known not to be a challenge: decide how the body goes to the client. */
  private begin(originHeaders: IncomingHttpHeaders): void {
    const { res, head } = this.options;
    this.headers = this.options.rewrite(originHeaders);
    if (head || this.status === 204 || this.status === 304) {
      this.mode = 'empty';
    } else if (!this.options.needles.empty && encoded(originHeaders)) {
      // Asked for identity and sent compressed anyway: our secrets could hide in it unmasked, so nothing is relayed.
      const error = new AccessError(
        'unsupported_server',
        `The origin answered with a compressed body (content-encoding: ${String(originHeaders['content-encoding']).slice(0, 40)}) although the proxy asked for none; it could not be checked for the credential, so it was not relayed.`,
        'Ask the application to honour Accept-Encoding: identity for this path, or fetch it with access_fetch.',
      );
      this.mode = 'gone';
      this.settled = true;
      this.controller?.abort(error);
      this.fail(error);
    } else if (Number(originHeaders['content-length']) <= SMALL_BODY) {
      this.mode = 'whole';
    } else {
      this.mode = 'stream';
      res.writeHead(this.status, this.headers);
      if (!this.options.needles.empty) this.masker = new StreamMask(this.options.needles);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    switch (this.mode) {
      case 'stream':
        if (this.masker) this.masker.push(chunk, this.write);
        else this.write(chunk);
        return;
      case 'whole':
      case 'check':
        this.held.push(chunk);
        this.heldBytes += chunk.length;
        return;
      case 'discard':
        this.heldBytes += chunk.length;
        if (this.heldBytes > DISCARD_LIMIT) {
          this.mode = 'gone';
          controller.abort(new Error('refused response too long to read'));
          this.finish('renew');
        }
        return;
      default:
        return;
    }
  }

  onResponseEnd(): void {
    const { res } = this.options;
    switch (this.mode) {
      case 'check':
        this.ended = true;
        return;
      case 'whole': {
        const body = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
        this.held = [];
        this.options.needles.mask(body);
        res.writeHead(this.status, this.headers).end(body);
        return this.finish('done');
      }
      case 'stream': {
        const tail = this.masker?.end();
        if (tail?.length) res.end(tail);
        else res.end();
        return this.finish('done');
      }
      case 'empty':
        res.writeHead(this.status, this.headers).end();
        return this.finish('done');
      case 'discard':
        return this.finish('renew');
      default:
        return this.finish('done');
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.settled) return;
    this.mode = 'gone';
    this.settled = true;
    this.fail(error);
  }

  private finish(outcome: RelayOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(outcome);
  }
}

type Id = string | number;

/** The ids of the requests in a JSON-RPC POST body (one message or a batch); none when it is not one. */
function requestIds(body: unknown): Id[] {
  if (typeof body !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(body);
    return (Array.isArray(parsed) ? parsed : [parsed]).flatMap((m: { id?: unknown; method?: unknown } | null) =>
      m && typeof m.method === 'string' && (typeof m.id === 'string' || typeof m.id === 'number') ? [m.id] : [],
    );
  } catch {
    return [];
  }
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const ID_FIELD = [0x69, 0x64, 0x3a]; // "id:"

/**
 * Whether an event stream, fed chunk by chunk as bytes, carries an event id
 * (a line `id: <value>` with a value): the sign that the SDK's client can
 * resume it. Fields start lines, and a field may be split across chunks; the
 * data of an event (JSON) holds no raw line breaks, so an `id:` inside it
 * never starts a line.
 */
export class EventIdScanner {
  /** -1: not at a line's start; 0..2: that much of "id:" seen; 3: "id:" seen, waiting for its value; 4: its optional space skipped. */
  private state = 0;
  private started = false;
  found = false;

  feed(chunk: Uint8Array): void {
    let i = 0;
    if (!this.started && chunk.length > 0) {
      this.started = true;
      // A byte order mark before the first field is dropped, as the SDK's decoder drops it.
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
    }
    while (!this.found && i < chunk.length) {
      if (this.state < 0) {
        // Skip to the next line: the rest of this one cannot start a field.
        const lf = chunk.indexOf(LF, i);
        const cr = chunk.indexOf(CR, i);
        const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
        if (end < 0) return;
        i = end;
      }
      const byte = chunk[i++]!;
      if (byte === LF || byte === CR) this.state = 0;
      else if (this.state < 3) this.state = byte === ID_FIELD[this.state] ? this.state + 1 : -1;
      else if (this.state === 3 && byte === SPACE) this.state = 4;
      else this.found = true;
    }
  }
}

/**
 * A Streamable HTTP POST answered with an event stream carries the answers to
 * its requests. When that stream ends (or breaks) before an answer came, as
 * when the remote restarts mid-call, the SDK's client says nothing unless the
 * remote made the stream resumable, and the client would wait until its
 * timeout. This passes the body on unchanged, as the SDK reads it, and once
 * it has ended calls `ended` with the ids of the POST's requests: the caller
 * tells from its own record of the answers delivered which were never
 * answered. A resumable stream (its events carry ids) is left to the SDK,
 * which resumes it with Last-Event-ID; so is one the SDK itself cancelled.
 */
export function watchAnswerStream(init: RequestInit | undefined, response: Response, ended: (ids: Id[]) => void): Response {
  if (init?.method !== 'POST' || !response.ok || !response.body || !/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '')) return response;
  const ids = requestIds(init.body);
  if (ids.length === 0) return response;
  const reader = response.body.getReader();
  const scanner = new EventIdScanner();
  const finish = () => {
    if (!scanner.found) ended(ids);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        // A broken stream is an ended one.
        controller.error(error);
        finish();
        return;
      }
      if (next.done) {
        controller.close();
        finish();
        return;
      }
      scanner.feed(next.value);
      controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

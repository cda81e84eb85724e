import { EventSourceParserStream } from 'eventsource-parser/stream';

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

/** The id of a JSON-RPC response in an event's data (undefined for a notification, a request or anything else). */
function answerId(data: string): Id | undefined {
  try {
    const message = JSON.parse(data) as { id?: unknown; method?: unknown } | null;
    return message && message.method === undefined && (typeof message.id === 'string' || typeof message.id === 'number') ? message.id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A Streamable HTTP POST answered with an event stream carries the answers to
 * its requests. When that stream ends (or breaks) before an answer came, as
 * when the remote restarts mid-call, the SDK's client says nothing unless the
 * remote made the stream resumable, and the client would wait until its
 * timeout. This passes the response on unchanged and calls `cut` with the ids
 * that the ended stream never answered.
 */
export function watchAnswerStream(init: RequestInit | undefined, response: Response, cut: (ids: Id[]) => void): Response {
  if (init?.method !== 'POST' || !response.ok || !response.body || !/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '')) return response;
  const ids = requestIds(init.body);
  if (ids.length === 0) return response;
  const [forClient, forWatch] = response.body.tee();
  const answered = new Set<Id>();
  // A stream whose events carry ids can be resumed: the SDK reconnects with Last-Event-ID and the answer still comes.
  let resumable = false;
  const watch = async () => {
    try {
      const reader = forWatch.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        if (next.value.id) resumable = true;
        const id = (next.value.event ?? 'message') === 'message' ? answerId(next.value.data) : undefined;
        if (id !== undefined) answered.add(id);
      }
    } catch {
      /* a broken stream is an ended one */
    }
    if (resumable) return;
    const unanswered = ids.filter((id) => !answered.has(id));
    if (unanswered.length > 0) cut(unanswered);
  };
  void watch();
  return new Response(forClient, { status: response.status, statusText: response.statusText, headers: response.headers });
}

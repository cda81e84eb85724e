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

/**
 * A Streamable HTTP POST answered with an event stream carries the answers to
 * its requests. When that stream ends (or breaks) before an answer came, as
 * when the remote restarts mid-call, the SDK's client says nothing unless the
 * remote made the stream resumable, and the client would wait until its
 * timeout. This passes the body on unchanged, as the SDK reads it, and once
 * it has ended (or broke) calls `ended` with the ids of the POST's requests:
 * the caller tells from its own record of the answers delivered which were
 * never answered, and which the SDK resumes itself (see McpBridge). One the
 * SDK cancelled is its own doing, and not reported.
 */
export function watchAnswerStream(init: RequestInit | undefined, response: Response, ended: (ids: Id[]) => void): Response {
  if (init?.method !== 'POST' || !response.ok || !response.body || !/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '')) return response;
  const ids = requestIds(init.body);
  if (ids.length === 0) return response;
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        // A broken stream is an ended one.
        controller.error(error);
        ended(ids);
        return;
      }
      if (next.done) {
        controller.close();
        ended(ids);
        return;
      }
      controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * The events of a session's answer streams, kept so that a client that lost
 * a stream can resume it with Last-Event-ID (what makes the SDK's Streamable
 * HTTP server resumable). An event id is `<stream>#<n>`, so the stream it
 * belongs to is read off the id itself.
 */
export function memoryEventStore(): EventStore {
  const events: Array<{ id: string; streamId: string; message: JSONRPCMessage }> = [];
  let next = 0;
  const streamOf = (eventId: string): string | undefined => events.find((e) => e.id === eventId)?.streamId;
  return {
    storeEvent: async (streamId, message) => {
      const id = `${streamId}#${++next}`;
      events.push({ id, streamId, message });
      return id;
    },
    getStreamIdForEventId: async (eventId) => streamOf(eventId),
    replayEventsAfter: async (lastEventId, { send }) => {
      const streamId = streamOf(lastEventId);
      if (streamId === undefined) return '';
      const from = events.findIndex((e) => e.id === lastEventId) + 1;
      // The priming event of a stream is an empty message: nothing to replay.
      for (const event of events.slice(from)) if (event.streamId === streamId && Object.keys(event.message).length > 0) await send(event.id, event.message);
      return streamId;
    },
  };
}

import type { ServerResponse } from 'node:http';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import type { Fault } from './faults';
import { renderEvent } from './response';
import type { Subscriber } from './store';

/** Starts a `text/event-stream` answer; the request-id headers set earlier are kept. */
export function openEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
}

/**
 * A subscriber writing `event: <type>\ndata: <json>\n\n` frames (no `[DONE]`, as the Responses API).
 * With a `stream_cut` fault the connection closes after `afterEvents` frames without a terminal event.
 */
export function sseSubscriber(
  res: ServerResponse,
  include: ReadonlySet<string>,
  cut: Fault | undefined,
  onCut: () => void,
): Subscriber {
  let sent = 0;
  let closed = false;
  const close = (abort: boolean) => {
    if (closed) return;
    closed = true;
    if (abort) res.destroy();
    else res.end();
  };
  return {
    send(event: ResponseStreamEvent) {
      if (closed || res.writableEnded || res.destroyed) return;
      const frame = `event: ${event.type}\ndata: ${JSON.stringify(renderEvent(event, include))}\n\n`;
      sent++;
      if (!cut || sent < (cut.afterEvents ?? 3)) {
        res.write(frame);
        return;
      }
      onCut();
      if (cut.abort === true) {
        // Drop the socket only once the last frame has been flushed, so exactly `afterEvents` frames arrive.
        closed = true;
        res.write(frame, () => res.destroy());
        return;
      }
      res.write(frame);
      close(false);
    },
    end() {
      close(false);
    },
  };
}

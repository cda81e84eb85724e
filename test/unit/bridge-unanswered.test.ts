import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { UnansweredRequests } from '../../src/bridge/unanswered.js';

/** Issue 14: which requests the bridge sends again when an HTTP+SSE session's event stream ended. */

const session = (name: string) => ({ name }) as unknown as Transport;
const request = (id: number, method: string, params?: Record<string, unknown>): JSONRPCRequest => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });

describe('unanswered requests of the MCP bridge (issue 14)', () => {
  it('repeats reads and the calls of tools the remote marks read-only or idempotent, once; other calls never', () => {
    const unanswered = new UnansweredRequests();
    const list = request(1, 'tools/list');
    unanswered.add(list);
    unanswered.answered({
      jsonrpc: '2.0',
      id: 1,
      result: { tools: [{ name: 'read', annotations: { readOnlyHint: true } }, { name: 'put', annotations: { idempotentHint: true } }, { name: 'send' }, { name: 'drop', annotations: { readOnlyHint: false, destructiveHint: true } }] },
    });
    assert.equal(unanswered.notRepeatable(request(2, 'resources/read', { uri: 'x' })), undefined);
    assert.equal(unanswered.notRepeatable(request(3, 'tools/call', { name: 'read' })), undefined);
    assert.equal(unanswered.notRepeatable(request(4, 'tools/call', { name: 'put' })), undefined);
    assert.match(unanswered.notRepeatable(request(5, 'tools/call', { name: 'send' }))!.why, /may or may not have taken effect/);
    assert.match(unanswered.notRepeatable(request(6, 'tools/call', { name: 'drop' }))!.why, /may or may not have taken effect/);
    assert.match(unanswered.notRepeatable(request(7, 'tools/call', { name: 'unknown' }))!.why, /does not mark the tool as safe/);
    assert.match(unanswered.notRepeatable(request(8, 'initialize'))!.next, /Restart the MCP client/);

    // A later tool list that drops the hint takes it back.
    unanswered.add(request(9, 'tools/list'));
    unanswered.answered({ jsonrpc: '2.0', id: 9, result: { tools: [{ name: 'read' }] } });
    assert.ok(unanswered.notRepeatable(request(10, 'tools/call', { name: 'read' })));

    const call = request(11, 'tools/call', { name: 'put' });
    const [lost, fresh] = [session('lost'), session('fresh')];
    unanswered.add(call);
    unanswered.accepted(call.id, lost);
    assert.deepEqual(unanswered.acceptedBy(lost), [call]);
    unanswered.resent(call.id, fresh);
    assert.deepEqual(unanswered.acceptedBy(lost), []);
    assert.deepEqual(unanswered.acceptedBy(fresh), [call]);
    assert.match(unanswered.notRepeatable(call)!.why, /sent again once already/);
    unanswered.answered({ jsonrpc: '2.0', id: 11, result: { content: [] } });
    assert.deepEqual(unanswered.acceptedBy(fresh), [], 'answered: nothing waits');
  });

  it('a cancelled or answered request is not waiting any more', () => {
    const unanswered = new UnansweredRequests();
    const lost = session('lost');
    unanswered.add(request(1, 'tools/call', { name: 'a' }));
    unanswered.accepted(1, lost);
    unanswered.add(request(2, 'ping'));
    unanswered.accepted(2, lost);
    unanswered.settle(1);
    unanswered.answered({ jsonrpc: '2.0', id: 2, error: { code: -1, message: 'no' } });
    assert.deepEqual(unanswered.acceptedBy(lost), []);
  });

  it('names the requests a cut answer stream leaves waiting: not those answered, cancelled or already sent again elsewhere', () => {
    const unanswered = new UnansweredRequests();
    const [cut, fresh] = [session('cut'), session('fresh')];
    for (const id of [1, 2, 3, 4]) {
      unanswered.add(request(id, 'tools/list'));
      unanswered.accepted(id, cut);
    }
    unanswered.answered({ jsonrpc: '2.0', id: 1, result: { tools: [] } });
    unanswered.settle(2);
    unanswered.resent(3, fresh);
    assert.deepEqual(unanswered.waitingOn([1, 2, 3, 4, 5], cut).map((r) => r.id), [4]);
  });

  it('a second answer to a settled request is not to be passed on (answered already, or answered by the bridge with an error)', () => {
    const unanswered = new UnansweredRequests();
    unanswered.add(request(20, 'tools/call', { name: 'send' }));
    assert.equal(unanswered.answered({ jsonrpc: '2.0', id: 20, result: { content: [] } }), true);
    assert.equal(unanswered.answered({ jsonrpc: '2.0', id: 20, result: { content: [] } }), false);
    unanswered.add(request(21, 'tools/call', { name: 'send' }));
    unanswered.settle(21);
    assert.equal(unanswered.answered({ jsonrpc: '2.0', id: 21, result: { content: [] } }), false);
    // Notifications and requests from the remote always pass.
    assert.equal(unanswered.answered({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } }), true);
  });
});

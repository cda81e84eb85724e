import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { untilAborted } from '../../src/core/until-aborted.js';

describe('untilAborted', () => {
  it("gives the work's value or error when the signal stays quiet", async () => {
    assert.equal(await untilAborted(Promise.resolve(7), new AbortController().signal), 7);
    await assert.rejects(untilAborted(Promise.reject(new Error('boom')), new AbortController().signal), /boom/);
    assert.equal(await untilAborted(Promise.resolve('no signal'), undefined), 'no signal');
  });

  it('throws the reason as soon as the signal aborts, the work still running; at once when already aborted', async () => {
    const controller = new AbortController();
    let finish!: (value: number) => void;
    const work = new Promise<number>((resolve) => (finish = resolve));
    const waiting = untilAborted(work, controller.signal);
    controller.abort(new Error('stopped'));
    await assert.rejects(waiting, /stopped/);
    finish(1);
    assert.equal(await work, 1);
    await assert.rejects(untilAborted(new Promise(() => {}), AbortSignal.abort(new Error('before'))), /before/);
  });

  it('a work that fails after the signal had already aborted is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const note = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', note);
    try {
      let fail!: (error: Error) => void;
      const work = new Promise<never>((_, reject) => (fail = reject));
      await assert.rejects(untilAborted(work, AbortSignal.abort(new Error('before'))), /before/);
      fail(new Error('late'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', note);
    }
  });

  it('leaves no listener on the signal once the work is done', async () => {
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => (added++, add(...args))) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => (removed++, remove(...args))) as typeof remove;
    for (let i = 0; i < 5; i++) await untilAborted(Promise.resolve(i), signal);
    assert.equal(added, 5);
    assert.equal(removed, 5);
  });
});

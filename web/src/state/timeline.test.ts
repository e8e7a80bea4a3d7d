import { describe, expect, it } from 'vitest';
import {
  addPending,
  applyDelete,
  applyEdit,
  applyReaction,
  lastConfirmedId,
  makePending,
  mergeMessages,
  receiptsByMessage,
  setPendingStatus,
  type ChatMessage,
} from './timeline';
import { me, mid, msg } from '../test/fakes';

const ids = (list: ChatMessage[]) => list.map((m) => m.id);
const sender = { id: me.id, username: me.username, display_name: me.display_name };

describe('message ordering and dedup', () => {
  it('sorts out-of-order arrivals by id', () => {
    const list = mergeMessages([], [msg(5), msg(2), msg(9)]);
    expect(ids(mergeMessages(list, [msg(7), msg(1)]))).toEqual([mid(1), mid(2), mid(5), mid(7), mid(9)]);
  });

  it('keeps one copy per id when replayed and live messages overlap', () => {
    const history = mergeMessages([], [msg(1), msg(2), msg(3)]);
    const live = mergeMessages(history, [msg(5), msg(4)]); // live frames, out of order
    const replay = mergeMessages(live, [msg(3), msg(4), msg(5), msg(6)]); // `since` replay after reconnect
    const later = mergeMessages(replay, [msg(6), msg(7)]);
    expect(ids(later)).toEqual([1, 2, 3, 4, 5, 6, 7].map(mid));
  });

  it('replaces the optimistic message with the server ack carrying the same client_msg_id', () => {
    const history = mergeMessages([], [msg(1), msg(2)]);
    const pending = makePending({ roomId: 'room-1', sender, content: 'hello', clientMsgId: 'c-1' });
    let list = addPending(history, pending);
    expect(ids(list)).toEqual([mid(1), mid(2), 'local:c-1']);
    expect(list[2].local?.status).toBe('sending');

    // Someone else's message arrives before the ack: the pending one stays last.
    list = mergeMessages(list, [msg(3)]);
    expect(ids(list)).toEqual([mid(1), mid(2), mid(3), 'local:c-1']);

    const ack = msg(4, { sender, content: 'hello', client_msg_id: 'c-1' });
    list = mergeMessages(list, [ack]);
    expect(ids(list)).toEqual([mid(1), mid(2), mid(3), mid(4)]);
    expect(list.some((m) => m.local)).toBe(false);

    // The same message echoed as message_new after the ack changes nothing.
    expect(ids(mergeMessages(list, [ack]))).toEqual(ids(list));
  });

  it('a message_new that beats the ack also replaces the optimistic copy', () => {
    const pending = makePending({ roomId: 'room-1', sender, content: 'x', clientMsgId: 'c-9' });
    const list = mergeMessages(addPending([], pending), [msg(10, { sender, content: 'x', client_msg_id: 'c-9' })]);
    expect(ids(list)).toEqual([mid(10)]);
  });

  it('keeps several pending messages in the order they were written, after confirmed ones', () => {
    let list = mergeMessages([], [msg(1)]);
    list = addPending(list, makePending({ roomId: 'room-1', sender, content: 'a', clientMsgId: 'a', now: new Date('2026-01-01T00:01:00Z') }));
    list = addPending(list, makePending({ roomId: 'room-1', sender, content: 'b', clientMsgId: 'b', now: new Date('2026-01-01T00:01:01Z') }));
    list = setPendingStatus(list, 'a', 'failed', 'nope');
    list = mergeMessages(list, [msg(2)]);
    expect(ids(list)).toEqual([mid(1), mid(2), 'local:a', 'local:b']);
    expect(list[2].local).toMatchObject({ status: 'failed', error: 'nope' });
    expect(lastConfirmedId(list)).toBe(mid(2));
  });

  it('edits and deletions apply in place; a deletion is never undone by a stale copy', () => {
    let list = mergeMessages([], [msg(1), msg(2)]);
    list = applyEdit(list, msg(2, { content: 'edited', edited_at: '2026-01-01T00:05:00.000Z' }));
    expect(list[1].content).toBe('edited');
    list = applyDelete(list, mid(1));
    expect(list[0]).toMatchObject({ deleted: true, content: '' });
    list = mergeMessages(list, [msg(1)]); // an old replayed copy
    expect(list[0].deleted).toBe(true);
    // An older copy does not undo an edit either.
    list = mergeMessages(list, [msg(2)]);
    expect(list[1].content).toBe('edited');
  });

  it('counts reactions, mine and others', () => {
    let list = mergeMessages([], [msg(1)]);
    list = applyReaction(list, mid(1), '👍', true, false);
    list = applyReaction(list, mid(1), '👍', true, true);
    expect(list[0].reactions).toEqual([{ emoji: '👍', count: 2, me: true }]);
    list = applyReaction(list, mid(1), '👍', true, true); // duplicate event
    expect(list[0].reactions[0].count).toBe(2);
    list = applyReaction(list, mid(1), '👍', false, false);
    list = applyReaction(list, mid(1), '👍', false, true);
    expect(list[0].reactions).toEqual([]);
  });

  it('places read receipts at the newest listed message each reader has reached', () => {
    const list = mergeMessages([], [msg(1), msg(3), msg(5)]);
    const readers = new Map([
      ['u1', mid(3)],
      ['u2', mid(4)], // read up to a message not listed: shown at the one before
      ['u3', mid(9)],
      ['me', mid(5)],
    ]);
    const receipts = receiptsByMessage(list, readers, 'me');
    expect(receipts.get(mid(3))).toEqual(['u1', 'u2']);
    expect(receipts.get(mid(5))).toEqual(['u3']);
    expect(receipts.has(mid(1))).toBe(false);
  });
});
